"""Profile ``callcenter-server`` under one of the benchmark loads with py-spy.

    python -m bench.profile pipelined|one-at-a-time|many [--connections N] [--seconds S]

Starts the server (pinned like the benchmarks), samples it with ``py-spy record`` while
the load generator drives it, and prints the functions with the most samples: by self
time (the leaf frame) and by total time (anywhere on the stack). The raw collapsed
stacks are kept in bench/results/profile-<load>.txt (for flamegraph tools).
"""

import argparse
import collections
import os
import subprocess

from bench import many_clients, throughput
from bench.common import GENERATOR_CPU, RESULTS, SERVER_CPU, free_port, running, spawn, stop, tool


def summarize(path, top=25):
    self_counts = collections.Counter()
    total_counts = collections.Counter()
    samples = 0
    with open(path) as stacks:
        for line in stacks:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            count = int(count)
            frames = stack.split(";")
            samples += count
            self_counts[frames[-1]] += count
            for frame in set(frames):
                total_counts[frame] += count
    print("%d samples" % samples)
    for title, counter in (("self", self_counts), ("total", total_counts)):
        print("\n-- by %s time --" % title)
        for frame, count in counter.most_common(top):
            print("%5.1f%%  %s" % (100.0 * count / samples, frame))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("load", choices=("pipelined", "one-at-a-time", "many"))
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    os.makedirs(RESULTS, exist_ok=True)
    out = os.path.join(RESULTS, "profile-%s.txt" % args.load)
    port = free_port()
    if args.load == "many":
        argv = many_clients.server_argv(port)
        nofile = many_clients.NOFILE
    else:
        argv = throughput.server_argv("callcenter", port)
        nofile = args.connections + 100
    with open(os.devnull, "wb") as null, running(argv, port=port, cpu=SERVER_CPU, nofile=nofile, stdout=null) as server:
        spy = spawn(
            [
                tool("py-spy"),
                "record",
                "--pid",
                str(server.pid),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                out,
                "--nonblocking",
                "--duration",
                str(int(args.seconds + 15)),
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            if args.load == "many":
                load = many_clients.fanout_argv(port, server.pid, args.seconds)
            else:
                window = 16 if args.load == "pipelined" else 1
                load = throughput.loadgen_argv(port, server.pid, args.connections, window, args.seconds)
            generator = spawn(load, cpu=GENERATOR_CPU, nofile=nofile, stdout=subprocess.PIPE)
            try:
                result, _ = generator.communicate(timeout=args.seconds + 200)
            finally:
                stop(generator)
            print(result.decode().strip()[:600])
            spy.wait(args.seconds + 60)  # py-spy writes its file when its --duration is over
        finally:
            stop(spy)
    summarize(out)


if __name__ == "__main__":
    main()

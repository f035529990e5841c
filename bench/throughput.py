"""Section 2, server throughput and latency: ``callcenter-server`` beside the bare Twisted
echo server (the framework's ceiling), under the same load from ``bench.loadgen``.

For each connection count and mode (pipelined, one at a time) both servers are started
fresh, pinned to the server core, and the generator (pinned to the other core) drives
them in turns, A B A B ..., so that the machine's noise falls on both alike. Each point
is the median of the runs, with its spread.
"""

import json
import os
import subprocess
import sys
import time

from bench.common import (
    GENERATOR_CPU,
    RESULTS,
    SERVER_CPU,
    free_port,
    log,
    open_fds,
    running,
    spawn,
    stop,
    summary,
    wait_idle,
)
from callcenter.core import operator_names

CONNECTIONS = (1, 10, 100, 1000)
MODES = (("pipelined", 16), ("one-at-a-time", 1))
OPERATORS = 50
RING_TIMEOUT = 10.0
SERVERS = ("callcenter", "echo")


def server_argv(kind, port):
    if kind == "echo":
        return [sys.executable, "-m", "bench.echo_server", str(port)]
    return [
        os.path.join(os.path.dirname(sys.executable), "callcenter-server"),
        "--listen",
        "tcp:%d:interface=127.0.0.1" % port,
        "--operators",
        str(OPERATORS),
        "--ring-timeout",
        str(RING_TIMEOUT),
    ]


def loadgen_argv(port, server_pid, connections, window, duration, warmup=0.5, prefix="c"):
    """The load generator's command line (``bench.loadgen``) for one point."""
    return [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--port",
        str(port),
        "--connections",
        str(connections),
        "--window",
        str(window),
        "--duration",
        str(duration),
        "--warmup",
        str(warmup),
        "--operators",
        ",".join(operator_names(OPERATORS)),
        "--prefix",
        prefix,
        "--server-pid",
        str(server_pid),
    ]


def drive(port, server_pid, connections, window, duration, warmup, prefix, limit):
    argv = loadgen_argv(port, server_pid, connections, window, duration, warmup, prefix)
    generator = spawn(argv, cpu=GENERATOR_CPU, nofile=connections + 100, stdout=subprocess.PIPE)
    try:
        out, _ = generator.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        raise RuntimeError("the load generator ran past %.0f s" % limit) from None
    finally:
        stop(generator)
    if generator.returncode != 0:
        raise RuntimeError("the load generator failed (exit %s)" % generator.returncode)
    return json.loads(out.decode().strip().splitlines()[-1])


def run(quick=False):
    repeats, duration, warmup = (3, 0.6, 0.25) if quick else (5, 2.0, 0.5)
    os.makedirs(RESULTS, exist_ok=True)
    points = []
    for mode, window in MODES:
        for connections in CONNECTIONS:
            runs = {kind: [] for kind in SERVERS}
            ports = {kind: free_port() for kind in SERVERS}
            logfile = open(os.path.join(RESULTS, "callcenter-server.log"), "ab")
            try:
                with running(
                    server_argv("callcenter", ports["callcenter"]),
                    port=ports["callcenter"],
                    cpu=SERVER_CPU,
                    nofile=connections + 100,
                    stdout=logfile,
                ) as product, running(
                    server_argv("echo", ports["echo"]), port=ports["echo"], cpu=SERVER_CPU, nofile=connections + 100
                ) as echo:
                    pids = {"callcenter": product.pid, "echo": echo.pid}
                    time.sleep(0.2)
                    idle = {kind: open_fds(pid) for kind, pid in pids.items()}
                    for repeat in range(repeats):
                        order = SERVERS if repeat % 2 == 0 else SERVERS[::-1]
                        for kind in order:
                            wait_idle(pids[kind], idle[kind])
                            result = drive(
                                ports[kind],
                                pids[kind],
                                connections,
                                window,
                                duration,
                                warmup,
                                "r%d" % repeat,
                                limit=duration + warmup + 60,
                            )
                            runs[kind].append(result)
            finally:
                logfile.close()
            point = {"mode": mode, "window": window, "connections": connections}
            for kind in SERVERS:
                point[kind] = {
                    key: summary([r[key] for r in runs[kind]])
                    for key in ("replies_per_second", "p50_ms", "p99_ms", "max_ms", "generator_cpu", "server_cpu")
                }
                point[kind]["errors"] = sum(r["errors"] for r in runs[kind])
                point[kind]["replies"] = sum(r["replies"] for r in runs[kind])
                point[kind]["runs"] = runs[kind]
            cc, echo_ = point["callcenter"], point["echo"]
            point["throughput_ratio"] = cc["replies_per_second"]["median"] / echo_["replies_per_second"]["median"]
            point["p99_ratio"] = cc["p99_ms"]["median"] / echo_["p99_ms"]["median"]
            log(
                "throughput: %-13s %4d conn: callcenter %7.0f/s p99 %6.2f ms | echo %7.0f/s p99 %6.2f ms | "
                "x%.2f thr, x%.2f p99 | cpu gen %.0f%% srv %.0f%%"
                % (
                    mode,
                    connections,
                    cc["replies_per_second"]["median"],
                    cc["p99_ms"]["median"],
                    echo_["replies_per_second"]["median"],
                    echo_["p99_ms"]["median"],
                    point["throughput_ratio"],
                    point["p99_ratio"],
                    100 * echo_["generator_cpu"]["median"],
                    100 * echo_["server_cpu"]["median"],
                )
            )
            points.append(point)
    return {
        "repeats": repeats,
        "duration": duration,
        "warmup": warmup,
        "operators": OPERATORS,
        "ring_timeout": RING_TIMEOUT,
        "points": points,
    }

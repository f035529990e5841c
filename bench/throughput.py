"""Section 2, server throughput and latency: ``callcenter-server`` beside the bare Twisted
echo server (the framework's ceiling), under the same load from ``bench.loadgen``.

For each connection count and mode (pipelined, one at a time) both servers are started
fresh, pinned to the server core, and the generator (pinned to the other core) drives
them in turns, A B A B ..., so that the machine's noise falls on both alike. Each point
is the median of the runs, with its spread.
"""

import contextlib
import functools
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
from callcenter.core.center import operator_names

CONNECTIONS = (1, 10, 100, 1000)
MODES = (("pipelined", 16), ("one-at-a-time", 1))
OPERATORS = 50
RING_TIMEOUT = 10.0
SERVERS = ("callcenter", "echo")


def server_argv(kind, port, *extra):
    """The command line of the echo server or of ``callcenter-server`` (with ``extra`` options)."""
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
        *extra,
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


def settings(quick):
    """(repeats, seconds measured, seconds of warm-up) of each point."""
    return (3, 0.6, 0.25) if quick else (5, 2.0, 0.5)


def measure_point(argvs, window, connections, quick, logs=None):
    """Start one server of each kind (``argvs``: kind -> argv builder taking a port) fresh,
    pinned to the server core, and drive them in turns, A B A B ...; the runs of each kind.
    ``logs``: kind -> file for that server's output."""
    repeats, duration, warmup = settings(quick)
    kinds = list(argvs)
    runs = {kind: [] for kind in kinds}
    ports = {kind: free_port() for kind in kinds}
    logs = logs or {}
    with contextlib.ExitStack() as stack:
        pids = {}
        for kind in kinds:
            process = stack.enter_context(
                running(
                    argvs[kind](ports[kind]),
                    port=ports[kind],
                    cpu=SERVER_CPU,
                    nofile=connections + 100,
                    stdout=logs.get(kind, subprocess.DEVNULL),
                )
            )
            pids[kind] = process.pid
        time.sleep(0.2)
        idle = {kind: open_fds(pid) for kind, pid in pids.items()}
        for repeat in range(repeats):
            order = kinds if repeat % 2 == 0 else kinds[::-1]
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
    return runs


def point_summary(runs):
    """The medians and spreads of one kind's runs at one point."""
    summed = {
        key: summary([r[key] for r in runs])
        for key in ("replies_per_second", "p50_ms", "p99_ms", "max_ms", "generator_cpu", "server_cpu")
    }
    summed["errors"] = sum(r["errors"] for r in runs)
    summed["replies"] = sum(r["replies"] for r in runs)
    summed["runs"] = runs
    return summed


def run(quick=False):
    repeats, duration, warmup = settings(quick)
    os.makedirs(RESULTS, exist_ok=True)
    points = []
    argvs = {kind: functools.partial(server_argv, kind) for kind in SERVERS}
    for mode, window in MODES:
        for connections in CONNECTIONS:
            with open(os.path.join(RESULTS, "callcenter-server.log"), "ab") as logfile:
                runs = measure_point(argvs, window, connections, quick, {"callcenter": logfile})
            point = {"mode": mode, "window": window, "connections": connections}
            for kind in SERVERS:
                point[kind] = point_summary(runs[kind])
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

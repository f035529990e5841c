"""Section 3, many clients: 10,000 connections held open on ``callcenter-server`` with
ring timeouts on, while a few of them drive commands (see ``bench.fanout``)."""

import json
import os
import statistics
import subprocess
import sys

from bench.common import GENERATOR_CPU, RESULTS, SERVER_CPU, free_port, log, running, spawn, stop, summary, tool

CONNECTIONS = 10000
RING_TIMEOUT = 0.5  # an event every half second
NOFILE = CONNECTIONS + 500


def server_argv(port):
    """The server of this section: 10 operators, a ring timeout every half second."""
    return [
        tool("callcenter-server"),
        "--listen",
        "tcp:%d:interface=127.0.0.1" % port,
        "--operators",
        "10",
        "--ring-timeout",
        str(RING_TIMEOUT),
        # Above the 10,000 held open (the default limit), so start-up probes never tip it over.
        "--max-connections",
        str(CONNECTIONS + 100),
    ]


def fanout_argv(port, server_pid, duration, connections=CONNECTIONS):
    """The fan-out generator's command line (``bench.fanout``)."""
    return [
        sys.executable,
        "-m",
        "bench.fanout",
        "--port",
        str(port),
        "--server-pid",
        str(server_pid),
        "--connections",
        str(connections),
        "--ring-timeout",
        str(RING_TIMEOUT),
        "--duration",
        str(duration),
    ]


def run(quick=False):
    repeats, duration = (1, 3.0) if quick else (3, 8.0)
    runs = []
    os.makedirs(RESULTS, exist_ok=True)
    for _ in range(repeats):
        port = free_port()
        argv = server_argv(port)
        with open(os.path.join(RESULTS, "callcenter-server-many.log"), "ab") as logfile, running(
            argv, port=port, cpu=SERVER_CPU, nofile=NOFILE, stdout=logfile
        ) as server:
            generator = spawn(
                fanout_argv(port, server.pid, duration),
                cpu=GENERATOR_CPU,
                nofile=NOFILE,
                stdout=subprocess.PIPE,
            )
            try:
                out, _ = generator.communicate(timeout=duration + 180)
            finally:
                stop(generator)
            if generator.returncode != 0:
                raise RuntimeError("bench.fanout failed (exit %s)" % generator.returncode)
        result = json.loads(out.decode().strip().splitlines()[-1])
        to_all = [event["to_all_ms"] for event in result["events"]]
        result["event_to_all_median_ms"] = statistics.median(to_all) if to_all else None
        result["event_to_all_max_ms"] = max(to_all) if to_all else None
        log(
            "many clients: %d connections, %.0f bytes each; %d events to all in median %.1f ms (max %.1f); "
            "active p99 %.1f ms (max %.1f), %d requests"
            % (
                result["connections"],
                result["bytes_per_idle_connection"],
                len(to_all),
                result["event_to_all_median_ms"] or -1,
                result["event_to_all_max_ms"] or -1,
                result["active_p99_ms"],
                result["active_max_ms"],
                result["active_requests"],
            )
        )
        runs.append(result)
    return {
        "connections": CONNECTIONS,
        "ring_timeout": RING_TIMEOUT,
        "duration": duration,
        "bytes_per_idle_connection": summary([r["bytes_per_idle_connection"] for r in runs]),
        "event_to_all_ms": summary([r["event_to_all_median_ms"] for r in runs]),
        "event_to_all_max_ms": summary([r["event_to_all_max_ms"] for r in runs]),
        "active_p99_ms": summary([r["active_p99_ms"] for r in runs]),
        "active_requests": summary([r["active_requests"] for r in runs]),
        "runs": runs,
    }

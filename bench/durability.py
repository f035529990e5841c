"""Section 6, durability (``--state-dir``): what the journal costs and how long a restore takes.

1. ``callcenter-server`` in memory beside the same server with ``--state-dir``, under the load
   of section 2 (``bench.throughput``: the same points, modes and generator), in turns.
   Reported: replies/s and p99 of both, and for the durable one the fdatasyncs per second and
   the records per fdatasync (group commit), from the counts it logs when it stops.
2. Restore: a state directory with 10^5 and 10^6 queued calls (50 operators ringing), kept
   two ways: all in the journal (as a SIGKILL leaves it) and all in the snapshot (as a clean
   stop leaves it). Reported: the restore time the server logs, and the time from the
   process start to the reply to a ``status`` request.

The state directories live under bench/results/, or under $CALLCENTER_BENCH_STATE_PARENT when
set, and that filesystem is named in the results: fdatasync costs what the disk under it costs
(next to nothing on tmpfs).
"""

import functools
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

from bench import throughput
from bench.common import RESULTS, SERVER_CPU, free_port, log, spawn, stop, summary
from callcenter.core.center import operator_names

POINTS = [("pipelined", 16, connections) for connections in throughput.CONNECTIONS] + [
    ("one-at-a-time", 1, connections) for connections in throughput.CONNECTIONS
]
QUEUED = (10**5, 10**6)
COMMITS = re.compile(rb"journal on disk \((\d+) records in (\d+) writes since the start\)")
RESTORED = re.compile(rb"restored \d+ calls: .* in (\d+) ms")


def filesystem(path):
    """The type of the filesystem ``path`` is on (ext4, tmpfs, overlay, ...)."""
    out = subprocess.run(["df", "--output=fstype", path], stdout=subprocess.PIPE, universal_newlines=True).stdout
    return out.split()[-1]


def durable_argv(state_dir, port):
    return throughput.server_argv("callcenter", port, "--state-dir", state_dir)


def throughput_points(quick, scratch):
    repeats, duration, warmup = throughput.settings(quick)
    points = []
    for mode, window, connections in POINTS:
        state_dir = tempfile.mkdtemp(prefix="state-", dir=scratch)
        log_path = os.path.join(scratch, "durable-%s-%d.log" % (mode, connections))
        argvs = {
            "memory": functools.partial(throughput.server_argv, "callcenter"),
            "durable": functools.partial(durable_argv, state_dir),
        }
        with open(log_path, "wb") as durable_log:
            runs = throughput.measure_point(argvs, window, connections, quick, {"durable": durable_log})
        with open(log_path, "rb") as durable_log:
            counts = COMMITS.findall(durable_log.read())
        records, writes = (int(n) for n in counts[-1]) if counts else (0, 0)
        loaded = repeats * (duration + warmup)  # seconds under load, warm-up included
        point = {"mode": mode, "window": window, "connections": connections}
        point["memory"] = throughput.point_summary(runs["memory"])
        point["durable"] = throughput.point_summary(runs["durable"])
        point["fsyncs_per_second"] = writes / loaded
        point["records_per_fsync"] = records / writes if writes else None
        memory, durable = point["memory"], point["durable"]
        point["throughput_ratio"] = durable["replies_per_second"]["median"] / memory["replies_per_second"]["median"]
        log(
            "durability: %-13s %4d conn: memory %7.0f/s p99 %6.2f ms | durable %7.0f/s p99 %6.2f ms | x%.2f | "
            "%.0f fdatasync/s, %.1f records each"
            % (
                mode,
                connections,
                memory["replies_per_second"]["median"],
                memory["p99_ms"]["median"],
                durable["replies_per_second"]["median"],
                durable["p99_ms"]["median"],
                point["throughput_ratio"],
                point["fsyncs_per_second"],
                point["records_per_fsync"] or 0,
            )
        )
        points.append(point)
        shutil.rmtree(state_dir, ignore_errors=True)
    return points


def open_state(directory, journal_limit=1 << 40):
    """A DurableCallCenter on ``directory`` in this process, restored (its sync inline)."""
    from twisted.internet.task import Clock

    from callcenter.store.durable import DurableCallCenter

    state = DurableCallCenter(
        directory,
        operator_names(throughput.OPERATORS),
        Clock().callLater,
        time.time,
        throughput.RING_TIMEOUT,
        journal_limit=journal_limit,
    )
    state.restore()
    return state


def make_state(directory, queued):
    """A state directory with ``queued`` calls waiting (and 50 ringing), all in its journal."""
    state = open_state(directory)
    for number in range(queued + throughput.OPERATORS):
        state.execute("call", "q%d" % number)
        if number % 10000 == 0:
            state.flush()
    state.flush()
    return state


def time_restore(directory):
    """Start a server on ``directory``; (the restore time it logs, seconds to a status reply)."""
    port = free_port()
    argv = throughput.server_argv("callcenter", port, "--state-dir", directory)
    started = time.monotonic()
    server = spawn(argv, cpu=SERVER_CPU, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        answered = None
        while answered is None and time.monotonic() - started < 300:
            if server.poll() is not None:
                raise RuntimeError("the server exited with %s while restoring" % server.returncode)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
                    sock.sendall(b'{"command": "status"}\n')
                    reply = b""
                    while not reply.endswith(b"\n"):
                        chunk = sock.recv(1 << 20)
                        if not chunk:
                            break
                        reply += chunk
                answered = time.monotonic() - started
            except OSError:
                time.sleep(0.01)
    finally:
        stop(server)
        output = server.stdout.read()
        server.stdout.close()
    found = RESTORED.search(output)
    return (int(found.group(1)) / 1000 if found else None), answered


def restore_points(quick, scratch):
    repeats = 1 if quick else 3
    points = []
    for queued in QUEUED[:1] if quick else QUEUED:
        journal_only = os.path.join(scratch, "journal-%d" % queued)
        snapshot_only = os.path.join(scratch, "snapshot-%d" % queued)
        began = time.monotonic()
        state = make_state(journal_only, queued)
        state.close()
        shutil.copytree(journal_only, snapshot_only)
        compacted = make_compacted(snapshot_only)
        log("durability: built the states of %d queued calls in %.1f s" % (queued, time.monotonic() - began))
        for kind, source in (("journal", journal_only), ("snapshot", compacted)):
            logged, answered = [], []
            for _ in range(repeats):
                copy = os.path.join(scratch, "run")
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(source, copy)
                restore_s, status_s = time_restore(copy)
                logged.append(restore_s)
                answered.append(status_s)
            point = {
                "queued": queued,
                "kind": kind,
                "restore_s": summary(logged),
                "start_to_status_s": summary(answered),
            }
            log(
                "durability: restore of %d queued calls from the %s: %.2f s logged, %.2f s from start to status"
                % (queued, kind, point["restore_s"]["median"], point["start_to_status_s"]["median"])
            )
            points.append(point)
    return points


def make_compacted(directory):
    """``directory`` restored once in-process and stopped cleanly: all in the snapshot."""
    state = open_state(directory)
    state.compact()
    state.close()
    return directory


def run(quick=False):
    os.makedirs(RESULTS, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="durability-", dir=os.environ.get("CALLCENTER_BENCH_STATE_PARENT") or RESULTS)
    try:
        results = {
            "filesystem": filesystem(scratch),
            "throughput": throughput_points(quick, scratch),
            "restore": restore_points(quick, scratch),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log("durability: state directories on %s" % results["filesystem"])
    return results

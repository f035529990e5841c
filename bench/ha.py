"""Section ``ha``, the replicated store (``--etcd``) on a three-member etcd on loopback.

1. Throughput and p99 reply latency of the leader with etcd beside the same server with
   ``--state-dir``, under the load of section 2 (``bench.throughput``: the same generator),
   in turns, at 1 and 100 connections, pipelined and one at a time (the leader alone: a
   standby only reads etcd's watch, off the leader's path).
2. Takeover: a leader and a standby (the default lease, 3 s); the leader killed with
   SIGKILL; the time from the kill to the first reply to a change from the new leader.
3. Chaos: a client places calls one after another on whichever server leads (each with an id
   of its own, never hung up) while faults follow one another: the leader killed (and
   started again, as a standby), the leader stopped with SIGSTOP past its lease (then
   SIGCONT), an etcd member killed (and started again). Reported: the calls acknowledged
   that the final leader does not have (the goal is 0) and the longest time without a reply.

etcd, its members on this same machine, fsyncs to the disk under bench/results/ (or
$CALLCENTER_BENCH_STATE_PARENT): its commit latency is that disk's.
"""

import contextlib
import functools
import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import time

from bench import throughput
from bench.common import RESULTS, free_port, log, spawn, stop, summary, wait_listening
from bench.durability import filesystem
from bench.etcd_cluster import EtcdCluster

POINTS = [("pipelined", 16, 1), ("pipelined", 16, 100), ("one-at-a-time", 1, 1), ("one-at-a-time", 1, 100)]
TAKEOVER_LIMIT = 60.0  # seconds a takeover may take before the run counts as failed


def etcd_argv(endpoints, prefix, name, port, *extra):
    return throughput.server_argv(
        "callcenter", port, "--etcd", endpoints, "--etcd-prefix", prefix, "--etcd-name", name, *extra
    )


def state_dir_argv(state_dir, port):
    return throughput.server_argv("callcenter", port, "--state-dir", state_dir)


def throughput_points(quick, scratch, cluster):
    points = []
    for number, (mode, window, connections) in enumerate(POINTS):
        prefix = "/bench-%d-%d/" % (os.getpid(), number)
        state_dir = tempfile.mkdtemp(prefix="state-", dir=scratch)
        argvs = {
            "etcd": functools.partial(etcd_argv, cluster.endpoints, prefix, "leader"),
            "state-dir": functools.partial(state_dir_argv, state_dir),
        }
        runs = throughput.measure_point(argvs, window, connections, quick)
        point = {"mode": mode, "window": window, "connections": connections}
        for kind in argvs:
            point[kind] = throughput.point_summary(runs[kind])
        etcd_rate = point["etcd"]["replies_per_second"]["median"]
        dir_rate = point["state-dir"]["replies_per_second"]["median"]
        point["throughput_ratio"] = etcd_rate / dir_rate if dir_rate else 0.0
        log(
            "ha: %s %d conn: etcd %.0f/s p99 %.2f ms, --state-dir %.0f/s p99 %.2f ms"
            % (
                mode,
                connections,
                etcd_rate,
                point["etcd"]["p99_ms"]["median"],
                dir_rate,
                point["state-dir"]["p99_ms"]["median"],
            )
        )
        points.append(point)
    return points


def wait_for_role(process, role, limit=30.0):
    """Until the server ``process`` (its port from its argv) answers ``role`` with ``role``."""
    port = int(process.args[process.args.index("--listen") + 1].split(":")[1])
    wait_listening(port, process)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if ask_role(port) == role:
            return port
        time.sleep(0.02)
    raise RuntimeError("the server on port %d did not become %s" % (port, role))


def ask(port, request, timeout=2.0):
    """One request's reply (a dict), or None when the server does not answer it."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
            connection.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = connection.recv(65536)
                if not chunk:
                    return None
                data += chunk
        return json.loads(data)
    except (OSError, ValueError):
        return None


def ask_role(port):
    reply = ask(port, {"command": "role"})
    return reply and reply.get("response")


def takeover_times(quick, scratch, cluster):
    """Seconds from the leader's SIGKILL to the first reply to a change from the new leader."""
    times = []
    for number in range(2 if quick else 5):
        prefix = "/takeover-%d-%d/" % (os.getpid(), number)
        ports = [free_port(), free_port()]
        first = spawn(etcd_argv(cluster.endpoints, prefix, "first", ports[0]))
        second = None
        try:
            wait_for_role(first, "leader")
            second = spawn(etcd_argv(cluster.endpoints, prefix, "second", ports[1]))
            wait_for_role(second, "standby: the leader is first")
            for call in range(100):
                ask(ports[0], {"command": "call", "id": "c%d" % call})
            first.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            while time.monotonic() - killed < TAKEOVER_LIMIT:
                reply = ask(ports[1], {"command": "call", "id": "after"}, timeout=1.0)
                if reply and "response" in reply:
                    times.append(time.monotonic() - killed)
                    break
                time.sleep(0.01)
            else:
                times.append(None)
        finally:
            stop(first)
            stop(second)
    return times


class Chaos(object):
    """Calls placed one at a time on whichever server leads, while faults are made."""

    def __init__(self, cluster, prefix, ports, rng):
        self.cluster = cluster
        self.prefix = prefix
        self.ports = ports
        self.rng = rng
        self.servers = {}
        self.acknowledged = []
        self.unanswered = 0
        self.longest_gap = 0.0
        self.last_reply = time.monotonic()
        self.number = 0
        self.faults = []

    def start(self, index):
        name = "s%d" % index
        self.servers[index] = spawn(
            etcd_argv(self.cluster.endpoints, self.prefix, name, self.ports[index], "--etcd-lease", "2")
        )
        wait_listening(self.ports[index], self.servers[index], limit=30)

    def leader(self):
        for index, port in self.ports.items():
            process = self.servers.get(index)
            if process is not None and process.poll() is None and ask_role(port) == "leader":
                return index
        return None

    def place_calls(self, seconds):
        """Calls for ``seconds``, each sent to the server that says it leads."""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            index = self.leader()
            if index is None:
                time.sleep(0.02)
                continue
            self.number += 1
            call_id = "x%d" % self.number
            reply = ask(self.ports[index], {"command": "call", "id": call_id}, timeout=5.0)
            now = time.monotonic()
            if reply and "response" in reply:
                self.acknowledged.append(call_id)
                self.longest_gap = max(self.longest_gap, now - self.last_reply)
                self.last_reply = now
            elif reply is None:
                self.unanswered += 1

    def fault(self):
        kind = self.rng.choice(("kill leader", "stop leader", "kill etcd member"))
        index = self.leader()
        self.faults.append(kind)
        if kind == "kill etcd member":
            member = self.rng.randrange(3)
            self.cluster.kill(member)
            self.place_calls(2.0)
            self.cluster.restart(member)
        elif index is None:
            self.place_calls(1.0)
        elif kind == "kill leader":
            self.servers[index].send_signal(signal.SIGKILL)
            self.servers[index].wait()
            self.place_calls(3.0)
            self.start(index)
        else:
            self.servers[index].send_signal(signal.SIGSTOP)
            self.place_calls(5.0)  # past its lease (2 s): another leads
            self.servers[index].send_signal(signal.SIGCONT)

    def stop(self):
        for process in self.servers.values():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGCONT)
            stop(process)


def chaos(quick, cluster):
    rng = random.Random(7)
    ports = {index: free_port() for index in range(3)}
    run = Chaos(cluster, "/chaos-%d/" % os.getpid(), ports, rng)
    try:
        for index in ports:
            run.start(index)
        run.place_calls(2.0)
        for _ in range(4 if quick else 12):
            run.fault()
            run.place_calls(2.0)
        leader = None
        deadline = time.monotonic() + TAKEOVER_LIMIT
        while leader is None and time.monotonic() < deadline:
            leader = run.leader()
        status = ask(ports[leader], {"command": "status"}, timeout=30.0)["response"] if leader is not None else ""
    finally:
        run.stop()
    present = set(status.split())
    lost = [call_id for call_id in run.acknowledged if call_id not in present]
    return {
        "faults": run.faults,
        "acknowledged": len(run.acknowledged),
        "lost": len(lost),
        "lost_ids": lost[:20],
        "unanswered": run.unanswered,
        "longest_without_reply_s": run.longest_gap,
    }


def run(quick=False):
    os.makedirs(RESULTS, exist_ok=True)
    parent = os.environ.get("CALLCENTER_BENCH_STATE_PARENT") or RESULTS
    scratch = tempfile.mkdtemp(prefix="ha-", dir=parent)
    cluster = EtcdCluster(os.path.join(scratch, "etcd")).start()
    try:
        log("ha: etcd %s on %s" % (cluster.endpoints, filesystem(scratch)))
        points = throughput_points(quick, scratch, cluster)
        times = takeover_times(quick, scratch, cluster)
        log("ha: takeover after SIGKILL: %s s" % ", ".join("%.2f" % t if t is not None else "-" for t in times))
        shaken = chaos(quick, cluster)
        log(
            "ha: chaos (%s): %d acknowledged, %d lost, longest without a reply %.2f s"
            % (", ".join(shaken["faults"]), shaken["acknowledged"], shaken["lost"], shaken["longest_without_reply_s"])
        )
    finally:
        cluster.stop()
        subprocess.run(["rm", "-rf", scratch], check=False)
    return {
        "filesystem": filesystem(parent),
        "throughput": points,
        "takeover_seconds": summary(times),
        "takeovers_failed": sum(1 for t in times if t is None),
        "chaos": shaken,
    }

"""Section ``ami``: the Asterisk Manager Interface under load. ``callcenter-server --ami`` with
``bench.loadgen``'s traffic on its JSON port, in turns (A B A B ...) with 100 AMI clients
logged in and reading every event (``bench.ami_listeners``) and with none: the events per
second the 100 clients receive, and the JSON port's throughput with them against without
(goal: within 10 %)."""

import json
import os
import subprocess
import sys
import tempfile
import time

from bench.common import GENERATOR_CPU, RESULTS, SERVER_CPU, free_port, log, open_fds, running, spawn, stop, summary
from bench.throughput import drive, server_argv, settings, wait_idle

LISTENERS = 100
CONNECTIONS = 100
WINDOW = 16
USERS = "[bench]\nsecret = bench\nread = all\nwrite = all\n"


def listeners_argv(port, clients=LISTENERS):
    return [sys.executable, "-m", "bench.ami_listeners", "--port", str(port), "--clients", str(clients)]


def run(quick=False):
    repeats, duration, warmup = settings(quick)
    os.makedirs(RESULTS, exist_ok=True)
    runs = {"listening": [], "none": []}
    events = []
    with tempfile.TemporaryDirectory() as folder:
        users = os.path.join(folder, "manager.conf")
        with open(users, "w") as users_file:
            users_file.write(USERS)
        port, ami_port = free_port(), free_port()
        argv = server_argv(
            "callcenter", port, "--ami", "tcp:%d:interface=127.0.0.1" % ami_port, "--ami-users", users
        )  # fmt: skip
        with open(os.path.join(RESULTS, "callcenter-server-ami.log"), "ab") as logfile, running(
            argv, port=port, cpu=SERVER_CPU, nofile=CONNECTIONS + LISTENERS + 200, stdout=logfile
        ) as server:
            time.sleep(0.2)
            idle = open_fds(server.pid)
            for repeat in range(repeats):
                for kind in ("listening", "none") if repeat % 2 == 0 else ("none", "listening"):
                    listeners = None
                    if kind == "listening":
                        listeners = spawn(listeners_argv(ami_port), cpu=GENERATOR_CPU, stdout=subprocess.PIPE)
                        ready = json.loads(listeners.stdout.readline().decode())
                        assert ready["ready"] == LISTENERS, ready
                    else:
                        wait_idle(server.pid, idle)
                    try:
                        result = drive(
                            port, server.pid, CONNECTIONS, WINDOW, duration, warmup, "a%d%s" % (repeat, kind[0]),
                            limit=duration + warmup + 60,
                        )  # fmt: skip
                    finally:
                        if listeners is not None:
                            listeners.terminate()
                            out, _ = listeners.communicate(timeout=30)
                            stop(listeners)
                            events.append(json.loads(out.decode().strip().splitlines()[-1]))
                    runs[kind].append(result)
    listening = summary([r["replies_per_second"] for r in runs["listening"]])
    none = summary([r["replies_per_second"] for r in runs["none"]])
    per_second = summary([e["events_per_second"] for e in events])
    ratio = listening["median"] / none["median"] if none["median"] else 0.0
    log(
        "ami: %d AMI clients received %.0f events/s in all; JSON port %.0f/s with them, %.0f/s without (x%.2f)"
        % (LISTENERS, per_second["median"], listening["median"], none["median"], ratio)
    )
    return {
        "listeners": LISTENERS,
        "connections": CONNECTIONS,
        "window": WINDOW,
        "events_per_second": per_second,
        "events": events,
        "throughput_listening": listening,
        "throughput_none": none,
        "throughput_ratio": ratio,
        "runs": runs,
    }

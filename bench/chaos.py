"""Section 9, chaos (``--state-dir`` on a small tmpfs, as root): nothing acknowledged is lost.

For at most 60 s (15 s with ``--quick``), clients pipeline ``call`` and ``hangup`` commands at
``callcenter-server`` while, at random moments drawn with a fixed seed, the server is killed
with SIGKILL and started again, the disk is filled (a file that takes every free byte) and
freed. Then the disk is freed, the server killed once more and restarted, and its ``status``
compared with what the clients were told:

- acknowledged: commands whose reply the client received (``Call X received``, ``missed``...);
- refused: commands answered with the degraded mode's error line;
- unanswered: commands sent whose reply never came (the server was killed, or their commit
  was refused while they waited);
- lost: acknowledged calls missing from the final status (those whose hangup went unanswered
  aside: they may be gone), plus acknowledged hangups whose call is back (must be 0);
- phantom: calls in the final status that no client sent (must be 0).

Needs root (it mounts a tmpfs); without root the section reports that it did not run.
"""

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from bench.common import HOST, RESULTS, free_port, log, spawn, stop, wait_listening
from bench.tmpfs import Tmpfs
from callcenter.net.wire import encode_request

SEED = 18
DURATION = 60.0
QUICK_DURATION = 15.0
FINISH = 3.0  # seconds of the bound kept for the last restart and status
CLIENTS = 3
BATCH = 20
SIZE = "1m"
REFUSAL = "cannot store the change: "
OPERATORS = "A,B,C"


class Tally(object):
    """What the clients were told, by call id."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acknowledged_calls = set()
        self.acknowledged_hangups = set()
        self.sent_calls = set()
        self.sent_hangups = set()
        self.sent = 0
        self.acknowledged = 0
        self.refused = 0
        self.other_errors = 0
        self.events_degraded = 0
        self.events_recovered = 0


def client(port, name, rng, tally, stopping):
    """Pipeline batches of commands, reconnecting whenever the server is gone."""
    number = 0
    own = []  # this client's acknowledged calls still up
    while not stopping.is_set():
        try:
            sock = socket.create_connection((HOST, port), timeout=1.0)
        except OSError:
            time.sleep(0.05)
            continue
        buffer = b""
        try:
            while not stopping.is_set():
                batch, calls = [], {}
                for _ in range(BATCH):
                    if own and (len(own) > 40 or rng.random() < 0.3):
                        batch.append(("hangup", own.pop(rng.randrange(len(own)))))
                    else:
                        number += 1
                        call_id = "%s%d" % (name, number)
                        calls[call_id] = True
                        batch.append(("call", call_id))
                # The operators list last: once its reply is in, every reply of the batch that
                # will ever come has come (replies are in order).
                sock.sendall(b"".join(encode_request(c, a) for c, a in batch) + encode_request("operators", None))
                with tally.lock:
                    tally.sent += len(batch)
                    tally.sent_calls.update(calls)
                    tally.sent_hangups.update(a for c, a in batch if c == "hangup")
                hung = {argument for command, argument in batch if command == "hangup"}
                while True:
                    while b"\n" not in buffer:
                        chunk = sock.recv(1 << 16)
                        if not chunk:
                            raise ConnectionError("closed")
                        buffer += chunk
                    line, buffer = buffer.split(b"\n", 1)
                    message = json.loads(line.decode("utf-8"))
                    if "event" in message:
                        with tally.lock:
                            if message["event"].startswith("The call center cannot store changes"):
                                tally.events_degraded += 1
                            elif message["event"] == "The call center stores changes again":
                                tally.events_recovered += 1
                        continue
                    if message.get("response", "").startswith("A\n"):
                        break  # the operators list: the batch is done
                    with tally.lock:
                        if "error" in message:
                            if message["error"].startswith(REFUSAL):
                                tally.refused += 1
                            else:
                                tally.other_errors += 1
                            continue
                        tally.acknowledged += 1
                        call_id = message["response"].split()[1]  # "Call X received|missed|finished"
                        if call_id in hung:
                            tally.acknowledged_hangups.add(call_id)
                        else:
                            tally.acknowledged_calls.add(call_id)
                            own.append(call_id)
        except (OSError, ConnectionError, ValueError):
            pass  # killed, or a reply that never came (its commit refused): reconnect
        finally:
            sock.close()
        # Calls of this batch with no reply may or may not be there: never hung up by us.


def status_calls(port):
    """The call ids the server's status shows."""
    with socket.create_connection((HOST, port), timeout=30) as sock:
        sock.sendall(encode_request("status", None))
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed before the status reply")
            reply += chunk
    calls = set()
    for line in json.loads(reply.decode("utf-8"))["response"].split("\n"):
        if line.startswith("Queued call ") or " with call " in line:
            calls.add(line.split()[-1])
    return calls


def run(quick=False):
    if os.geteuid() != 0:
        log("chaos: not run: it mounts a tmpfs, which needs root")
        return {"ran": False, "why": "needs root"}
    duration = QUICK_DURATION if quick else DURATION
    rng = random.Random(SEED)
    scratch = tempfile.mkdtemp(prefix="callcenter-chaos-")
    state = os.path.join(scratch, "state")
    os.mkdir(state)
    disk = Tmpfs(state, SIZE)
    port = free_port()
    argv = [
        os.path.join(os.path.dirname(sys.executable), "callcenter-server"),
        "--listen",
        "tcp:%d:interface=127.0.0.1" % port,
        "--operators",
        OPERATORS,
        "--ring-timeout",
        "0",
        "--state-dir",
        state,
        "--journal-limit",
        "64K",  # compactions too, not only appends
    ]
    log_path = os.path.join(scratch, "server.log")
    server_log = open(log_path, "ab")
    tally = Tally()
    stopping = threading.Event()
    moments = {"kill": 0, "fill": 0, "free": 0}
    server = None
    try:
        server = spawn(argv, stdout=server_log, stderr=subprocess.STDOUT)
        wait_listening(port, server)
        threads = [
            threading.Thread(target=client, args=(port, "k%d-" % n, random.Random(SEED + n), tally, stopping))
            for n in range(CLIENTS)
        ]
        for thread in threads:
            thread.daemon = True
            thread.start()
        began = time.monotonic()
        while True:
            pause = rng.uniform(0.3, 2.0)
            if time.monotonic() - began + pause > duration - FINISH:
                break
            time.sleep(pause)
            action = rng.choice(("kill", "fill", "free", "free"))
            moments[action] += 1
            if action == "kill":
                server.kill()
                server.wait()
                server = spawn(argv, stdout=server_log, stderr=subprocess.STDOUT)
                wait_listening(port, server)
            elif action == "fill":
                disk.fill()
            else:
                disk.free()
        stopping.set()
        for thread in threads:
            thread.join(10)
        disk.free()
        server.kill()  # the last word is the disk's: what a restart brings back
        server.wait()
        server = spawn(argv, stdout=server_log, stderr=subprocess.STDOUT)
        wait_listening(port, server)
        shown = status_calls(port)
        seconds = time.monotonic() - began
    finally:
        stopping.set()
        stop(server)
        server_log.close()
        disk.unmount()
        os.rmdir(state)
    with open(log_path, "rb") as logged:
        text = logged.read().decode("utf-8", "replace")
    os.makedirs(RESULTS, exist_ok=True)
    shutil.copy(log_path, os.path.join(RESULTS, "chaos-server.log"))
    shutil.rmtree(scratch)
    # A call whose hangup was sent but not answered may be there or not: neither is a loss.
    kept = tally.acknowledged_calls - tally.sent_hangups
    lost = len(kept - shown) + len(tally.acknowledged_hangups & shown)
    results = {
        "ran": True,
        "seed": SEED,
        "seconds": seconds,
        "clients": CLIENTS,
        "tmpfs": SIZE,
        "moments": moments,
        "sent": tally.sent,
        "acknowledged": tally.acknowledged,
        "refused": tally.refused,
        "other_errors": tally.other_errors,
        "unanswered": tally.sent - tally.acknowledged - tally.refused - tally.other_errors,
        "lost": lost,
        "phantom": len(shown - tally.sent_calls),
        # Calls whose reply never came but whose record was durable: allowed (never refused).
        "present_unacknowledged": len(shown - tally.acknowledged_calls),
        "calls_in_final_status": len(shown),
        "events_degraded": tally.events_degraded,
        "events_recovered": tally.events_recovered,
        "tracebacks_in_log": text.count("Traceback"),
        "degraded_log_lines": text.count("refusing changes"),
    }
    log("chaos: %s" % json.dumps(results, sort_keys=True))
    return results

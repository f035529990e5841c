"""A full or read-only disk with the real server (as root): the state directory on a small tmpfs.

The server stays up and serves its durable state, refuses changes with one error line, loses
no acknowledged call to ``kill -9``, and takes writes again by itself once the tmpfs grows.
Marked ``root`` (they mount file systems): ``make test-root`` runs them and refuses to run
without root; ``make test-py36``/``test-new`` leave them out."""

import json
import os
import socket
import subprocess
import time

import pytest
from bench.tmpfs import Tmpfs

from callcenter.net.wire import encode_request
from support import SMALL, ServerProcess, command, free_port

pytestmark = pytest.mark.root

TIMEOUT = 30
LARGE = "16m"
RESUME_BOUND = 5.0  # seconds the polls wait for writes to resume (the server retries every second)


@pytest.fixture
def tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("these tests mount tmpfs file systems: run them as root (make test-root)")
    disk = Tmpfs(tmp_path / "state", SMALL)
    try:
        yield disk
    finally:
        disk.unmount()


class Client(object):
    """A connection that sends requests and reads reply and event lines."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buffer = b""

    def send(self, requests):
        self.sock.sendall(b"".join(encode_request(command, argument) for command, argument in requests))

    def message(self):
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(1 << 16)
            assert chunk, "the server closed the connection"
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line.decode("utf-8"))

    def replies_until_status(self):
        """Messages up to the reply to a ``status`` sent last: every reply that will come."""
        messages = []
        while True:
            message = self.message()
            messages.append(message)
            if message.get("response", "").startswith("Operator "):
                return messages

    def close(self):
        self.sock.close()


def status(port):
    client = Client(port)
    try:
        client.send([("status", None)])
        return client.replies_until_status()[-1]["response"].split("\n")
    finally:
        client.close()


def calls_in(lines):
    """The call ids a status shows (ringing, busy or queued)."""
    calls = set()
    for line in lines:
        words = line.split()
        if line.startswith("Queued call "):
            calls.add(words[2])
        elif " with call " in line:
            calls.add(words[-1])
    return calls


def refusal(reason, directory):
    return "cannot store the change: %s in %s; status and stats still work" % (reason, directory)


def begin_event(reason, directory):
    return "The call center cannot store changes: %s in %s; status and stats still work" % (reason, directory)


END_EVENT = "The call center stores changes again"


def wait_for_writes(port, call_id):
    """Place ``call_id`` until it is acknowledged, polling for at most RESUME_BOUND seconds;
    the seconds it took."""
    began = time.monotonic()
    client = Client(port)
    try:
        while time.monotonic() - began < RESUME_BOUND:
            client.send([("call", call_id)])
            reply = client.message()
            while "event" in reply:
                reply = client.message()
            if "response" in reply:
                return time.monotonic() - began
            time.sleep(0.05)
    finally:
        client.close()
    raise AssertionError("writes did not resume within %g s" % RESUME_BOUND)


def start(start_server, directory, *extra):
    return start_server("--state-dir", directory, "--ring-timeout", "0", "--operators", "A,B", *extra)


def test_a_disk_that_fills_keeps_the_server_up_and_loses_nothing_acknowledged(tmpfs, start_server):
    server = start(start_server, tmpfs.path)
    watcher = Client(server.port)
    client = Client(server.port)
    count = 12000  # about 40 bytes of journal each: more than 256 KiB holds
    client.send([("call", "c%d" % number) for number in range(count)] + [("status", None)])
    messages = client.replies_until_status()
    acknowledged = {m["response"].split()[1] for m in messages if m.get("response", "").startswith("Call ")}
    errors = [m["error"] for m in messages if "error" in m]
    line = refusal("no space left", tmpfs.path)
    assert acknowledged and errors and set(errors) == {line}
    assert watcher.message() == {"event": begin_event("no space left", tmpfs.path)}
    # Up, answering from the durable state: exactly the acknowledged calls.
    assert server.process.poll() is None
    assert calls_in(status(server.port)) == acknowledged
    refused = Client(server.port)
    refused.send([("call", "late"), ("hangup", "c0"), ("status", None)])
    assert [m.get("error") for m in refused.replies_until_status()[:2]] == [line, line]
    # kill -9 while degraded, and a start on the still-full disk: degraded from the start.
    server.process.kill()
    server.process.wait(TIMEOUT)
    server.stop()
    filled_log = server.log.decode()
    assert "Traceback" not in filled_log and "Unhandled" not in filled_log, filled_log
    server = ServerProcess(server.process.args, server.port)
    assert calls_in(status(server.port)) == acknowledged
    # The disk grows: writes resume by themselves, every client is told.
    watcher = Client(server.port)
    tmpfs.remount("size=" + LARGE)
    took = wait_for_writes(server.port, "after")
    print("writes resumed %.2f s after the remount" % took)
    assert watcher.message() == {"event": END_EVENT}
    server.process.kill()
    server.process.wait(TIMEOUT)
    server.stop()
    server = ServerProcess(server.process.args, server.port)
    assert calls_in(status(server.port)) == acknowledged | {"after"}
    server.stop()
    log = server.log.decode()
    assert "Traceback" not in log and "restored " in log


def test_a_start_on_a_full_disk_restores_and_refuses_changes_until_it_has_room(tmpfs, start_server):
    server = start(start_server, tmpfs.path)
    client = Client(server.port)
    client.send([("call", "c%d" % number) for number in range(50)] + [("status", None)])
    client.replies_until_status()
    server.process.kill()  # the journal holds them: the start replays it and needs a fresh snapshot
    server.process.wait(TIMEOUT)
    server.stop()
    tmpfs.fill()
    server = ServerProcess(server.process.args, server.port)
    expected = {"c%d" % number for number in range(50)}
    assert calls_in(status(server.port)) == expected
    refused = Client(server.port)
    refused.send([("call", "late"), ("status", None)])
    assert refused.replies_until_status()[0] == {"error": refusal("no space left", tmpfs.path)}
    tmpfs.free()
    took = wait_for_writes(server.port, "late")
    print("writes resumed %.2f s after the space was freed" % took)
    assert server.stop() == 0
    log = server.log.decode()
    assert "started refusing changes" in log and "Writing to %s again" % tmpfs.path in log
    assert "Traceback" not in log


@pytest.mark.parametrize("twistd", [False, True], ids=["callcenter-server", "twistd"])
def test_a_start_on_a_read_only_disk_restores_and_refuses_changes(tmpfs, start_server, twistd):
    directory = tmpfs.path
    server = start_server("--state-dir", directory, "--ring-timeout", "0", "--operators", "A,B", twistd=twistd)
    client = Client(server.port)
    client.send([("call", "c1"), ("call", "c2"), ("call", "c3"), ("status", None)])
    client.replies_until_status()
    assert server.stop() == 0  # a clean stop: the next start only opens the journal, which fails
    tmpfs.remount("ro")
    server = ServerProcess(server.process.args, server.port)
    assert calls_in(status(server.port)) == {"c1", "c2", "c3"}
    refused = Client(server.port)
    refused.send([("call", "c4"), ("status", None)])
    assert refused.replies_until_status()[0] == {"error": refusal("the disk is read-only", directory)}
    tmpfs.remount("rw")
    wait_for_writes(server.port, "c4")
    assert server.stop() == 0
    log = server.log.decode()
    assert "started refusing changes" in log and "Traceback" not in log
    server = ServerProcess(server.process.args, server.port)
    assert calls_in(status(server.port)) == {"c1", "c2", "c3", "c4"}
    assert server.stop() == 0


@pytest.mark.parametrize("twistd", [False, True], ids=["callcenter-server", "twistd"])
def test_a_state_that_cannot_be_read_refuses_the_start_with_exit_1_for_both(tmpfs, twistd):

    os.mkdir(os.path.join(tmpfs.path, "snapshot"))  # reading it fails
    port = free_port()
    if twistd:
        argv = [command("twistd"), "--nodaemon", "--pidfile=", "callcenter"]
    else:
        argv = [command("callcenter-server")]
    argv += ["--listen", "tcp:%d:interface=127.0.0.1" % port, "--state-dir", tmpfs.path]
    finished = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT)
    output = finished.stdout.decode()
    assert finished.returncode == 1, output
    assert "cannot read the state in %s" % tmpfs.path in output and "Traceback" not in output


@pytest.mark.parametrize("twistd", [False, True], ids=["callcenter-server", "twistd"])
def test_a_state_that_cannot_be_read_back_after_a_refusal_stops_both_with_exit_1(tmpfs, start_server, twistd):
    server = start_server("--state-dir", tmpfs.path, "--ring-timeout", "0", "--operators", "A,B", twistd=twistd)
    snapshot = os.path.join(tmpfs.path, "snapshot")
    os.unlink(snapshot)
    os.mkdir(snapshot)  # the rollback cannot read the durable state back
    client = Client(server.port)
    client.send([("call", "c%d" % number) for number in range(12000)])
    server.process.wait(TIMEOUT)
    assert server.stop() == 1
    log = server.log.decode()
    assert "cannot read back the state in %s after a refused write" % tmpfs.path in log
    assert "Traceback" not in log and "ReactorNotRunning" not in log, log


class AmiListener(object):
    """A manager connection logged in to hear the ``agent`` events, read up to a Ping's reply."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buffer = b""
        self.sock.sendall(b"Action: Login\r\nUsername: admin\r\nSecret: s3cret\r\nEvents: agent\r\n\r\n")
        assert ("Message", "Authentication accepted") in self.messages_until(("Response", "Success"))[-1]

    def messages_until(self, last):
        """Messages, each a list of (key, value), up to the first that holds ``last``."""
        messages = []
        while True:
            while b"\r\n\r\n" not in self.buffer:
                chunk = self.sock.recv(1 << 16)
                assert chunk, "the server closed the manager connection"
                self.buffer += chunk
            block, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            lines = block.decode("utf-8").split("\r\n")
            message = [tuple(line.split(": ", 1)) for line in lines if ": " in line]
            messages.append(message)
            if last in message:
                return messages

    def events_so_far(self):
        """The events sent before the reply to a Ping sent now (a client's events go out
        ahead of its next reply)."""
        self.sock.sendall(b"Action: Ping\r\nActionID: sync\r\n\r\n")
        return [dict(message) for message in self.messages_until(("ActionID", "sync"))[:-1]]


def test_a_change_rolled_back_for_a_full_disk_sends_no_ami_event_and_writes_no_queue_log_line(
    tmpfs, start_server, tmp_path
):
    users = tmp_path / "manager.conf"
    users.write_text("[admin]\nsecret = s3cret\nread = all\nwrite = all\n")
    queue_log = tmp_path / "queue_log"  # not on the full disk: only the journal's writes fail
    ami_port = free_port()
    server = start(
        start_server, tmpfs.path, "--ami", "tcp:%d:interface=127.0.0.1" % ami_port, "--ami-users", str(users),
        "--queue-log", str(queue_log),
    )  # fmt: skip
    listener = AmiListener(ami_port)
    client = Client(server.port)
    client.send([("call", "c%d" % number) for number in range(12000)] + [("status", None)])
    messages = client.replies_until_status()
    acknowledged = {m["response"].split()[1] for m in messages if m.get("response", "").startswith("Call ")}
    assert acknowledged and any("error" in m for m in messages)
    refused = Client(server.port)
    refused.send([("call", "late"), ("hangup", "c0"), ("status", None)])
    assert all("error" in m for m in refused.replies_until_status()[:2])
    events = listener.events_so_far()
    # Each acknowledged call joined its queue, the two first rang A and B; nothing else happened.
    joined = [event["CallerIDNum"] for event in events if event["Event"] == "QueueCallerJoin"]
    assert sorted(joined) == sorted(acknowledged)
    assert [
        (event["Event"], event.get("CallerIDNum"), event["MemberName"]) for event in events if "MemberName" in event
    ] == [
        ("AgentCalled", "c0", "A"),
        ("QueueMemberStatus", None, "A"),
        ("AgentCalled", "c1", "B"),
        ("QueueMemberStatus", None, "B"),
    ]
    assert len(events) == len(joined) + 4
    lines = [line.split("|") for line in queue_log.read_text().splitlines()]
    entered = [fields[6] for fields in lines if fields[4] == "ENTERQUEUE"]
    assert sorted(entered) == sorted(acknowledged)
    assert {fields[4] for fields in lines} == {"QUEUESTART", "ENTERQUEUE"}
    assert server.process.poll() is None

"""Durable state with the real server: killed with SIGKILL at a random moment, or stopped with
SIGTERM with clients connected, then restarted on the same --state-dir."""

import json
import random
import signal
import socket
import subprocess
import threading

import pytest

from callcenter.core.center import CallCenter, CallCenterError
from callcenter.net.wire import encode_request
from support import ServerProcess

TIMEOUT = 30
OPERATORS = "A,B,C"


def random_commands(rng, count):
    """Calls, answers, rejects and hangups in a mix that queues calls and makes some errors."""
    commands, placed = [], []
    for number in range(count):
        roll = rng.random()
        if roll < 0.5 or not placed:
            placed.append("c%d" % number)
            commands.append(("call", placed[-1]))
        elif roll < 0.65:
            commands.append(("answer", rng.choice("ABC")))
        elif roll < 0.75:
            commands.append(("reject", rng.choice("ABC")))
        else:
            commands.append(("hangup", rng.choice(placed)))
    return commands


def model_statuses(commands, start):
    """The status after each prefix of ``commands`` from ``start`` commands on, by the core."""
    center = CallCenter(OPERATORS.split(","), ring_timeout=0)
    for number, (command, argument) in enumerate(commands):
        if number >= start:
            yield number, center.status()
        try:
            center.execute(command, argument)
        except CallCenterError:
            pass
    yield len(commands), center.status()


def prefix_matching(status, commands, acknowledged):
    """The number of commands whose effects the status shows: at least every acknowledged one,
    and exactly a prefix (the journal keeps them in order); None when no prefix matches."""
    for number, expected in model_statuses(commands, acknowledged):
        if expected == status:
            return number
    return None


def ask_status(port):
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(encode_request("status", None))
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(1 << 20)
            assert chunk, "the server closed the connection before replying"
            reply += chunk
    return json.loads(reply.decode("utf-8"))["response"].split("\n")


def pipeline(port, commands):
    """Connect and send every command at once from a thread; the socket to read replies from."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    payload = b"".join(encode_request(command, argument) for command, argument in commands)

    def send():
        try:
            sock.sendall(payload)
        except OSError:
            pass  # the server is gone: the rest was never sent

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    return sock, sender


def read_replies(sock, until=None, on_reached=None):
    """Read until the server closes; calls ``on_reached`` once ``until`` replies are in.
    Returns the number of complete replies received (the acknowledged commands)."""
    received = b""
    reached = False
    while True:
        try:
            chunk = sock.recv(1 << 16)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        received += chunk
        if not reached and until is not None and received.count(b"\n") >= until:
            reached = True
            on_reached()
    return received.count(b"\n")


def restart(server):
    return ServerProcess(server.process.args, server.port)


@pytest.mark.parametrize("round_", range(2))
def test_sigkill_at_a_random_moment_loses_no_acknowledged_command(start_server, tmp_path, round_):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    commands = random_commands(rng, 4000)
    server = start_server("--state-dir", str(tmp_path), "--ring-timeout", "0", "--operators", OPERATORS)
    sock, sender = pipeline(server.port, commands)
    kill_after = rng.randrange(100, 3900)
    with sock:
        acknowledged = read_replies(sock, kill_after, server.process.kill)
    sender.join(TIMEOUT)
    assert server.process.wait(TIMEOUT) == -signal.SIGKILL
    server.stop()
    restarted = restart(server)
    try:
        status = ask_status(restarted.port)
    finally:
        restarted.stop()
    applied = prefix_matching(status, commands, acknowledged)
    assert applied is not None, "seed %d: the restored status is no prefix from %d on: %r" % (
        seed,
        acknowledged,
        status,
    )
    assert b"restored " in restarted.log and b"Traceback" not in restarted.log


@pytest.mark.parametrize("twistd", [False, True], ids=["callcenter-server", "twistd"])
def test_sigterm_with_clients_connected_then_restart_gives_the_same_status(start_server, tmp_path, twistd):
    server = start_server(
        "--state-dir", str(tmp_path), "--ring-timeout", "600", "--operators", OPERATORS, twistd=twistd
    )
    # Two clients that stay connected, one of them with calls in every state.
    idle = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    busy, _ = pipeline(server.port, [("call", "1"), ("call", "2"), ("answer", "A"), ("call", "3"), ("call", "4")])
    with idle, busy:
        reply = b""
        while reply.count(b"\n") < 5:
            reply += busy.recv(1 << 16)
        before = ask_status(server.port)
        assert before == [
            "Operator A busy with call 1",
            "Operator B ringing with call 2",
            "Operator C ringing with call 3",
            "Queued call 4",
        ]
        # A third client is still pipelining when the stop comes.
        commands = [("call", "p%d" % number) for number in range(2000)]
        streaming, sender = pipeline(server.port, commands)
        with streaming:
            reply = b""
            while reply.count(b"\n") < 10:
                reply += streaming.recv(1 << 16)
            server.process.send_signal(signal.SIGTERM)
            acknowledged = reply.count(b"\n") + read_replies(streaming)
        sender.join(TIMEOUT)
        assert server.process.wait(TIMEOUT) == 0
        assert idle.recv(1) == b"" and busy.recv(1) == b""  # closed by the server
    server.stop()
    log = server.log.decode()
    for step in (
        "Shutdown: stopped listening",
        "Shutdown: answered the requests already read",
        "Shutdown: journal on disk",
        "Shutdown: snapshot of ",
        "Shutdown: closed 3 connections",
    ):
        assert log.count(step) == 1, (step, log)
    assert "Traceback" not in log
    restarted = restart(server)
    try:
        after = ask_status(restarted.port)
    finally:
        restarted.stop()
    # Every acknowledged call of the third client is there, queued in order after call 4.
    queued = [line[len("Queued call ") :] for line in after[3:]]
    assert after[:3] == before[:3] and queued[0] == "4"
    assert queued[1:] == ["p%d" % number for number in range(len(queued) - 1)]
    assert len(queued) - 1 >= acknowledged
    assert (
        "restored %d calls: %d queued, 2 ringing, 1 answered from %s"
        % (
            len(queued) + 3,
            len(queued),
            tmp_path,
        )
        in restarted.log.decode()
    )


def test_a_damaged_journal_refuses_the_start_with_exit_1(start_server, tmp_path):
    server = start_server("--state-dir", str(tmp_path), "--ring-timeout", "0")
    ask_status(server.port)
    sock, sender = pipeline(server.port, [("call", str(number)) for number in range(5)])
    with sock:
        reply = b""
        while reply.count(b"\n") < 5:
            reply += sock.recv(1 << 16)
    sender.join(TIMEOUT)
    server.process.kill()
    server.stop()
    (journal,) = tmp_path.glob("journal.*")
    data = bytearray(journal.read_bytes())
    data[40] ^= 0xFF  # inside the first record
    journal.write_bytes(bytes(data))
    result = subprocess.run(server.process.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT)
    assert result.returncode == 1
    assert ("%s is damaged at offset " % journal).encode() in result.stdout
    assert b"Move the directory aside" in result.stdout and b"Traceback" not in result.stdout

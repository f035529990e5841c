"""Connection limits with real processes: --max-connections, and running out of file descriptors."""

import contextlib
import json
import os
import resource
import select
import socket
import time

import pytest

from support import TIMEOUT, ask, connect, read_line

FD_LIMIT = 64


def cpu_seconds(pid):
    """User plus system CPU time of a process so far, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_connection_past_the_limit_gets_one_error_line_and_the_others_carry_on(start_server):
    server = start_server("--max-connections", "3")
    with contextlib.ExitStack() as stack:
        clients = []
        while len(clients) < 3:  # (the server may not yet have seen the close of start_server's probe)
            client = stack.enter_context(connect(server.port))
            if "error" not in ask(client, {"command": "status"}):
                clients.append(client)
        assert ask(clients[0], {"command": "call", "id": "1"}) == {
            "response": "Call 1 received\nCall 1 ringing for operator A"
        }
        for _ in range(20):
            with connect(server.port) as refused:
                assert read_line(refused) == b'{"error": "too many connections (limit 3)"}\n'
                assert refused.recv(1) == b""  # closed by the server
        assert ask(clients[2], {"command": "answer", "id": "A"}) == {"response": "Call 1 answered by operator A"}
        clients.pop().close()
        deadline = time.monotonic() + TIMEOUT
        while True:  # the server frees the place once it has seen the close
            with connect(server.port) as newcomer:
                reply = ask(newcomer, {"command": "status"})
            if "error" not in reply or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert reply == {"response": "Operator A busy with call 1\nOperator B available"}
    server.stop()
    log = server.log.decode()
    # Twenty refusals inside a second or two: one line for the first, at most a few for the rest.
    refusal_lines = [line for line in log.splitlines() if "too many connections" in line]
    assert 1 <= len(refusal_lines) <= 5, log
    assert sum(int(line.split("Refused ")[1].split()[0]) for line in refusal_lines) >= 20


def limit_open_files():
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


@pytest.mark.parametrize("twistd", [False, True], ids=["callcenter-server", "twistd"])
def test_out_of_file_descriptors_the_server_serves_its_clients_without_spinning_and_accepts_again(start_server, twistd):
    server = start_server(twistd=twistd, preexec_fn=limit_open_files)
    with contextlib.ExitStack() as stack:
        # More clients than the server has descriptors: the first ones fill its table.
        clients = []
        for _ in range(FD_LIMIT + 40):
            client = stack.enter_context(socket.socket())
            client.settimeout(TIMEOUT)
            client.connect(("127.0.0.1", server.port))  # completes in the kernel's backlog
            clients.append(client)
        for client in clients:
            client.sendall(b'{"command": "status"}\n')
        # The server accepts what it can and answers those: collect answers until none come for 1 s.
        served = []
        for _ in range(30):
            answered, _, _ = select.select([client for client in clients if client not in served], [], [], 1)
            if not answered:
                break
            for client in answered:
                assert json.loads(read_line(client)) == {"response": "Operator A available\nOperator B available"}
                served.append(client)
        assert 20 <= len(served) < FD_LIMIT
        # The rest wait in the backlog. Over two seconds the server must stay nearly idle
        # (a spinning accept loop would use the whole two seconds of CPU) and keep serving.
        before = cpu_seconds(server.process.pid)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            for client in served[:5]:
                assert ask(client, {"command": "status"}) == {"response": "Operator A available\nOperator B available"}
            time.sleep(0.1)
        spent = cpu_seconds(server.process.pid) - before
        assert spent < 1.0, "the server used %.2f s of CPU in 2 s while out of descriptors" % spent
        # Free descriptors: the waiting clients are accepted and answered.
        for client in served:
            client.close()
        waiting = [client for client in clients if client not in served][:20]
        for client in waiting:
            client.settimeout(TIMEOUT)  # the reply to the request sent while it waited
            assert json.loads(read_line(client)) == {"response": "Operator A available\nOperator B available"}
    server.stop()
    log = server.log.decode()
    # A few lines about running out, not one (or three) for every waiting connection.
    out_of_descriptors = [line for line in log.splitlines() if "Out of file descriptors" in line or "EMFILE" in line]
    assert 1 <= len(out_of_descriptors) <= 6, log

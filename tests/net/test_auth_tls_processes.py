"""Authentication, TLS and IPv6 with the real commands: what a user sees on stdout and stderr."""

import contextlib
import json
import os
import resource
import select
import socket
import ssl
import time

import pytest

from support import EXPECTED, GOLDEN_INPUT, ask, command, connect, make_certificates, read_line, run

TOKEN = "0123456789abcdef-token"


def client(*argv, env=None):
    return run([command("callcenter-client"), *argv], GOLDEN_INPUT, env=env)


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return str(path)


def test_with_the_token_file_the_client_serves_the_golden_transcript(start_server, token_file):
    server = start_server("--auth-token-file", token_file)
    result = client("--connect", "tcp:127.0.0.1:%d" % server.port, "--auth-token-file", token_file)
    assert (result.stdout.decode(), result.stderr, result.returncode) == (EXPECTED, b"", 0)
    server.stop()
    assert TOKEN.encode() not in server.log


def test_twistd_takes_the_same_token_and_limit_options(start_server, token_file):
    server = start_server("--auth-token-file", token_file, "--max-connections", "5", twistd=True)
    result = client("--connect", "tcp:127.0.0.1:%d" % server.port, "--auth-token-file", token_file)
    assert (result.stdout.decode(), result.stderr, result.returncode) == (EXPECTED, b"", 0)


def test_the_token_file_may_come_from_the_environment(start_server, token_file):
    server = start_server("--auth-token-file", token_file)
    env = dict(os.environ, CALLCENTER_AUTH_TOKEN_FILE=token_file)
    result = client("--connect", "tcp:127.0.0.1:%d" % server.port, env=env)
    assert (result.stdout.decode(), result.stderr, result.returncode) == (EXPECTED, b"", 0)


def test_a_wrong_token_ends_the_client_with_one_line(start_server, token_file, tmp_path):
    server = start_server("--auth-token-file", token_file)
    wrong = tmp_path / "wrong"
    wrong.write_text("not the token")
    result = client("--connect", "tcp:127.0.0.1:%d" % server.port, "--auth-token-file", str(wrong))
    assert result.stdout == b""
    assert result.stderr.decode() == "error: the server did not accept the token in %s: authentication failed\n" % wrong
    assert result.returncode == 1


def test_an_unreadable_token_file_ends_the_client_with_one_line(tmp_path):
    missing = str(tmp_path / "missing")
    result = client("--auth-token-file", missing)
    assert result.stderr.decode() == "error: cannot read the token file %s: No such file or directory\n" % missing
    assert result.returncode == 1


def test_without_a_token_every_command_gets_authentication_required(start_server, token_file):
    server = start_server("--auth-token-file", token_file)
    result = run([command("callcenter-client"), "--connect", "tcp:127.0.0.1:%d" % server.port], b"call 1\nstatus\n")
    assert result.stdout == b""
    hint = (
        "error: authentication required: "
        "give the server's token with --auth-token-file or $CALLCENTER_AUTH_TOKEN_FILE\n"
    )
    assert result.stderr.decode() == hint * 2
    with connect(server.port) as raw:
        assert ask(raw, {"command": "status"}) == {"error": "authentication required"}


def test_the_server_refuses_an_empty_token_file(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    result = run([command("callcenter-server"), "--auth-token-file", str(empty)])
    assert result.returncode == 2
    assert b"--auth-token-file: the token file %s is empty" % str(empty).encode() in result.stderr


@pytest.fixture
def tls_server(start_server, tmp_path):
    paths = make_certificates(str(tmp_path))
    listen = "ssl:{port}:interface=127.0.0.1:privateKey=%s:certKey=%s" % (paths["key"], paths["cert"])
    return start_server(listen=listen), paths


def test_golden_transcript_over_tls(tls_server):
    server, paths = tls_server
    result = client("--connect", "tls:localhost:%d:trustRoots=%s" % (server.port, paths["ca"]))
    assert (result.stdout.decode(), result.stderr, result.returncode) == (EXPECTED, b"", 0)


def test_a_tls_client_that_does_not_trust_the_certificate_is_refused(tls_server, tmp_path):
    server, _ = tls_server
    os.mkdir(str(tmp_path / "other"))
    other = make_certificates(str(tmp_path / "other"))
    result = client("--connect", "tls:localhost:%d:trustRoots=%s" % (server.port, other["ca"]))
    assert result.stdout == b""
    assert b"certificate verify failed" in result.stderr
    assert result.returncode == 1


def test_a_plain_client_against_the_tls_port_gets_a_clear_error(tls_server):
    server, _ = tls_server
    result = client("--connect", "tcp:127.0.0.1:%d" % server.port)
    assert result.stdout == b""
    first_line = result.stderr.decode().splitlines()[0]
    assert first_line == "error: this port speaks TLS: connect with tls:HOST:PORT:trustRoots=DIR"
    assert result.returncode == 1
    with connect(server.port) as raw:
        assert ask(raw, {"command": "status"}) == {
            "error": "this port speaks TLS: connect with tls:HOST:PORT:trustRoots=DIR"
        }


def test_golden_transcript_over_ipv6_loopback(start_server):
    if not socket.has_ipv6:
        pytest.fail("this machine has no IPv6: the IPv6 test cannot run")
    server = start_server(listen=r"tcp6:{port}:interface=\:\:1", host="::1")
    result = client("--connect", r"tcp:\:\:1:%d" % server.port)
    assert (result.stdout.decode(), result.stderr, result.returncode) == (EXPECTED, b"", 0)
    with connect_ipv6(server.port) as raw:
        raw.sendall(b'{"command": "status"}\n')
        assert read_line(raw) == b'{"response": "Operator A available\\nOperator B available"}\n'


def connect_ipv6(port):
    return socket.create_connection(("::1", port), timeout=30)


def test_over_tls_a_wrong_token_ends_the_client_at_once(start_server, tmp_path, token_file):
    paths = make_certificates(str(tmp_path))
    listen = "ssl:{port}:interface=127.0.0.1:privateKey=%s:certKey=%s" % (paths["key"], paths["cert"])
    server = start_server("--auth-token-file", token_file, listen=listen)
    connect_to = "tls:localhost:%d:trustRoots=%s" % (server.port, paths["ca"])
    assert client("--connect", connect_to, "--auth-token-file", token_file).stdout.decode() == EXPECTED
    wrong = tmp_path / "wrong"
    wrong.write_text("not the token")
    result = client("--connect", connect_to, "--auth-token-file", str(wrong))
    assert result.stderr.decode() == "error: the server did not accept the token in %s: authentication failed\n" % wrong
    assert result.returncode == 1


SILENT_CONNECTIONS = 10000
# Connections opened between two round trips of an authenticated client, so that the server
# reads the newcomer's token before many more arrive. The listen backlog is larger than
# Twisted's 50: on a loaded machine the server may not run for the few milliseconds in which 50
# connections come, and past the backlog the kernel drops the SYN and the client waits a second
# to send it again, which would make the test slow without testing the server.
BATCH = 40
BACKLOG = 1024


def test_connections_that_never_send_the_token_do_not_keep_out_a_client_that_has_it(start_server, token_file):
    # The server holds about max-unauthenticated of them, but the test keeps every silent socket
    # open: it needs SILENT_CONNECTIONS descriptors and some more.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = SILENT_CONNECTIONS + 512
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.fail("the test needs %d open files; the hard limit is %d" % (needed, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    server = start_server(
        "--auth-token-file",
        token_file,
        "--auth-timeout",
        "60",
        listen="tcp:{port}:interface=127.0.0.1:backlog=%d" % BACKLOG,
    )
    auth = json.dumps({"command": "auth", "token": TOKEN}).encode() + b"\n"
    with contextlib.ExitStack() as stack:
        member = stack.enter_context(connect(server.port))
        assert ask(member, {"command": "auth", "token": TOKEN}) == {"response": "authenticated"}
        silent = []
        newcomer = None
        while len(silent) < SILENT_CONNECTIONS:
            silent += [stack.enter_context(connect(server.port)) for _ in range(BATCH)]
            if newcomer is None and len(silent) >= SILENT_CONNECTIONS // 2:
                newcomer = stack.enter_context(connect(server.port))
                newcomer.sendall(auth)
            assert ask(member, {"command": "status"}) == {"response": "Operator A available\nOperator B available"}
        assert newcomer is not None
        assert read_line(newcomer) == b'{"response": "authenticated"}\n'
        assert ask(newcomer, {"command": "call", "id": "1"}) == {
            "response": "Call 1 received\nCall 1 ringing for operator A"
        }
        # The first silent ones gave their places to newer ones: one error line each, then closed.
        assert read_line(silent[0]) == b'{"error": "too many connections waiting to authenticate (limit 100)"}\n'
        assert silent[0].recv(1) == b""


def test_twistd_closes_a_connection_that_does_not_authenticate_in_time(start_server, token_file):
    server = start_server("--auth-token-file", token_file, "--auth-timeout", "0.2", twistd=True)
    with connect(server.port) as late:
        assert ask(late, {"command": "status"}) == {"error": "authentication required"}
        assert read_line(late) == b'{"error": "authentication timed out"}\n'
        assert late.recv(1) == b""


def late_tls_requests(blocks):
    """A queued call then nine status requests, ``blocks`` times: the calls wait for the
    journal, the status replies grow with the queue."""
    return b"".join(
        b'{"command": "call", "id": "tls-%d"}\n' % n + b'{"command": "status"}\n' * 9 for n in range(blocks)
    )


def test_over_tls_with_a_journal_a_client_that_reads_late_gets_every_reply_in_order(start_server, tmp_path):
    paths = make_certificates(str(tmp_path))
    listen = "ssl:{port}:interface=127.0.0.1:privateKey=%s:certKey=%s" % (paths["key"], paths["cert"])
    state = tmp_path / "state"
    state.mkdir()
    server = start_server("--operators", "1", "--ring-timeout", "0", "--state-dir", str(state), listen=listen)
    context = ssl.create_default_context(cafile=os.path.join(paths["ca"], "ca.pem"))
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT  # the test CA has no key identifiers (Python 3.13 wants them)
    blocks = 300
    data = memoryview(late_tls_requests(blocks))
    with context.wrap_socket(
        socket.create_connection(("127.0.0.1", server.port), timeout=10), server_hostname="localhost"
    ) as tls:
        tls.setblocking(False)
        # Sent for a second without reading: the server stops at its bound (TLS under it).
        sending_until = time.monotonic() + 1.0
        while data and time.monotonic() < sending_until:
            select.select([], [tls], [], 0.05)
            try:
                data = data[tls.send(data[: 1 << 14]) :]
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
        received = b""
        deadline = time.monotonic() + 60  # a bound against a hang, not a measure
        while received.count(b"\n") < blocks * 10:
            assert time.monotonic() < deadline, "%d of %d replies" % (received.count(b"\n"), blocks * 10)
            select.select([tls], [tls] if data else [], [], 0.5)
            if data:
                try:
                    data = data[tls.send(data[: 1 << 14]) :]
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
            try:
                chunk = tls.recv(1 << 20)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                continue
            assert chunk, "the server closed the connection"
            received += chunk
    lines = received.split(b"\n")
    assert lines.pop() == b""
    for n in range(blocks):
        first = "ringing for operator A" if n == 0 else "waiting in queue"
        assert json.loads(lines[n * 10]) == {"response": "Call tls-%d received\nCall tls-%d %s" % (n, n, first)}
        for line in lines[n * 10 + 1 : n * 10 + 10]:
            assert json.loads(line)["response"].count("Queued call") == n

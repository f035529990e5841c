"""callcenter-healthcheck: the container's health check, against real server processes."""

import os
import socket
import subprocess
import threading

import pytest

from callcenter.wiring.healthcheck import UnhealthyError, listening_address, round_trip
from support import command


def healthcheck(*argv):
    return subprocess.run(
        [command("callcenter-healthcheck"), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=30,
    )


def test_it_checks_the_port_the_server_was_told_to_listen_on(start_server):
    server = start_server("--operators", "A,B")
    result = healthcheck("--pid", str(server.process.pid))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "callcenter-server answers on 127.0.0.1 port %d\n" % server.port


def test_it_sends_the_token_when_the_server_takes_one(start_server, tmp_path):
    token = tmp_path / "token"
    token.write_text("a-token-of-the-test\n")
    server = start_server("--auth-token-file", str(token))
    result = healthcheck("--pid", str(server.process.pid))
    assert (result.returncode, result.stderr) == (0, "")


def test_a_process_that_is_not_the_server_is_unhealthy():
    result = healthcheck("--pid", str(os.getpid()))
    assert result.returncode == 1
    assert result.stderr == "unhealthy: process %d is not callcenter-server\n" % os.getpid()


def test_a_server_that_has_stopped_is_unhealthy(start_server):
    server = start_server()
    pid = server.process.pid
    server.stop()
    result = healthcheck("--pid", str(pid))
    assert (result.returncode, result.stderr) == (1, "unhealthy: no process %d\n" % pid)


def test_bad_options_get_one_line_and_exit_2():
    result = healthcheck("--pid", "many")
    assert result.returncode == 2
    assert result.stderr.startswith("callcenter-healthcheck: ")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "listen, address",
    [
        ("tcp:6000", ("127.0.0.1", 6000, False)),
        ("tcp:port=6001:interface=0.0.0.0", ("127.0.0.1", 6001, False)),
        ("tcp6:6002:interface=\\:\\:", ("::1", 6002, False)),
        ("tcp:6003:interface=192.0.2.7", ("192.0.2.7", 6003, False)),
    ],
)
def test_the_address_is_read_from_the_endpoint_string_as_twisted_reads_it(listen, address):
    assert listening_address(listen) == address


def test_a_unix_socket_endpoint_is_not_one_it_can_check(tmp_path):
    with pytest.raises(UnhealthyError, match="not a TCP or TLS endpoint"):
        listening_address("unix:%s" % (tmp_path / "socket"))


def test_a_listener_that_does_not_speak_the_protocol_is_unhealthy():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer_with_html():
        connection, _ = listener.accept()
        with connection:
            connection.recv(100)
            connection.sendall(b"<html>not a call center</html>\n")

    thread = threading.Thread(target=answer_with_html)
    thread.start()
    try:
        with pytest.raises(UnhealthyError, match="the server answered"):
            round_trip("127.0.0.1", listener.getsockname()[1], False, None)
    finally:
        thread.join(10)
        listener.close()

"""``--ami`` on a real server and on twistd: the options, the limits it shares with the JSON port,
and a client that never reads."""

import socket
import subprocess
import time

import pytest

from support import ami_login, command, free_port, read_until

USERS = "[admin]\nsecret = s3cret\nread = all\nwrite = all\n"


@pytest.fixture
def users_file(tmp_path):
    path = tmp_path / "manager.conf"
    path.write_text(USERS)
    return str(path)


@pytest.mark.parametrize("twistd", [False, True], ids=["callcenter-server", "twistd"])
def test_the_ami_port_closes_a_connection_that_does_not_log_in_in_time(start_server, users_file, twistd):
    port = free_port()
    start_server(
        "--ami", "tcp:%d:interface=127.0.0.1" % port, "--ami-users", users_file, "--auth-timeout", "1", twistd=twistd,
        also_listening=(port,),
    )  # fmt: skip
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    began = time.monotonic()
    assert read_until(sock, b"never") == b"Asterisk Call Manager/9.0.0\r\n"  # then closed
    assert 0.8 < time.monotonic() - began < 8
    logged = ami_login(port)
    time.sleep(1.5)
    logged.sendall(b"Action: Ping\r\n\r\n")
    assert b"Ping: Pong" in read_until(logged, b"Ping: Pong")


def test_options_are_checked_and_a_bad_users_file_is_one_line(tmp_path):
    bad = tmp_path / "manager.conf"
    bad.write_text("[admin]\nread = all\n")
    for argv, message in (
        (["--ami", "tcp:5038"], b"--ami needs --ami-users FILE"),
        (["--ami-users", str(bad)], b"--ami-users: give --ami ENDPOINT too"),
        (["--ami", "tcp:5038", "--ami-users", str(bad)], b"user admin has no secret"),
        (["--ami", "tcp:5038", "--ami-users", str(tmp_path / "none")], b"--ami-users: cannot read"),
    ):
        done = subprocess.run([command("callcenter-server"), *argv], stderr=subprocess.PIPE, timeout=30)
        assert done.returncode == 2
        assert message in done.stderr.splitlines()[-1], done.stderr


def test_a_client_that_pipelines_and_never_reads_holds_up_no_other(start_server, users_file):
    port = free_port()
    server = start_server(
        "--ami", "tcp:%d:interface=127.0.0.1" % port, "--ami-users", users_file, "--operators", "50",
        also_listening=(port,),
    )  # fmt: skip
    stuck = ami_login(port)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.setblocking(False)
    request = b"Action: QueueStatus\r\n\r\n" * 100
    sent = 0
    end = time.monotonic() + 10
    while time.monotonic() < end:  # until the server stops reading it (its replies fill the way back)
        try:
            sent += stuck.send(request)
        except BlockingIOError:
            break
    other = ami_login(port)
    began = time.monotonic()
    other.sendall(b"Action: Ping\r\nActionID: 1\r\n\r\n")
    assert b"Ping: Pong" in read_until(other, b"Ping: Pong")
    assert time.monotonic() - began < 5
    assert sent > 0
    stuck.close()
    assert server.stop() == 0


def test_a_listener_that_never_reads_is_cut_off_while_the_events_flow(start_server, users_file):
    port = free_port()
    server = start_server(
        "--ami", "tcp:%d:interface=127.0.0.1" % port, "--ami-users", users_file, "--operators", "20",
        "--ring-timeout", "1", "--max-output-buffer", "65536", also_listening=(port,),
    )  # fmt: skip
    stuck = ami_login(port)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reading = ami_login(port)
    player = subprocess.Popen(
        [
            command("callcenter"), "simulate", "--connect", "tcp:127.0.0.1:%d" % server.port, "--speed", "2000",
            "--duration", "8h", "--calls-per-hour", "6000", "--handle-time", "30", "--answer-delay", "0.5",
            "--seed", "5",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        heard = 0
        end = time.monotonic() + 60
        reading.settimeout(5)
        while time.monotonic() < end and heard < 12_000_000:
            chunk = reading.recv(65536)
            assert chunk, "the reading client was cut off"
            heard += len(chunk)
    finally:
        player.kill()
        player.wait()
    assert heard >= 12_000_000  # the one that reads heard all that flowed
    reading.close()
    stuck.close()
    server.stop()
    assert b"Closing AMI connection from" in server.log and b"it is not reading" in server.log

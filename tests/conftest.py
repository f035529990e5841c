"""Shared helpers: the golden transcript, the installed commands, servers on free ports."""

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden", "golden.txt")
BIN = os.path.dirname(sys.executable)


def read_golden(path=GOLDEN):
    """The transcript as (commands typed, exact stdout expected)."""
    commands, expected = [], []
    with open(path, encoding="utf-8") as transcript:
        for line in transcript.read().splitlines():
            if line.startswith("# "):
                continue
            if line.startswith("> "):
                commands.append(line[2:])
            else:
                expected.append(line)
    return commands, "".join(line + "\n" for line in expected)


def command(name):
    """The installed console script of this interpreter's venv."""
    path = os.path.join(BIN, name)
    assert os.path.exists(path), "%s is not installed in %s" % (name, BIN)
    return path


def free_port():
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server(object):
    """A server process on a free loopback port, stopped by ``stop``."""

    def __init__(self, argv, port, host="127.0.0.1", **popen):
        self.port = port
        # The log goes to a file, not a pipe: a pipe nobody reads until the end would stop a
        # server that logs more than the pipe holds (64 KiB: a few hundred connections).
        self.log_file = tempfile.TemporaryFile()
        self.process = subprocess.Popen(argv, stdout=self.log_file, stderr=subprocess.STDOUT, **popen)
        self.log = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise AssertionError("server did not start: %r" % self.log)

    def stop(self):
        if self.log_file.closed:
            return self.process.returncode  # stopped already
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log_file.seek(0)
        self.log = self.log_file.read()
        self.log_file.close()
        return self.process.returncode


@pytest.fixture
def start_server():
    """start_server(*extra_args, twistd=False, listen="tcp:{port}:interface=127.0.0.1", host="127.0.0.1",
    **popen_kwargs) -> Server on a free port; all stopped at the end."""
    servers = []

    def start(*extra, twistd=False, listen="tcp:{port}:interface=127.0.0.1", host="127.0.0.1", **popen):
        port = free_port()
        listen = listen.format(port=port)
        if twistd:
            argv = [command("twistd"), "--nodaemon", "--pidfile=", "callcenter", "--listen", listen]
        else:
            argv = [command("callcenter-server"), "--listen", listen]
        server = Server(argv + list(extra), port, host, **popen)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def twisted_log():
    """The text of every Twisted log event while the test runs."""
    from twisted.logger import formatEvent, globalLogPublisher

    lines = []

    def observe(event):
        lines.append(formatEvent(event))

    globalLogPublisher.addObserver(observe)
    yield lines
    globalLogPublisher.removeObserver(observe)

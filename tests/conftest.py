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


def listens_on(pid, port):
    """Whether process ``pid`` holds the socket listening on loopback ``port`` (/proc)."""
    sockets = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            sockets.add(target[len("socket:[") : -1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                listening = fields[3] == "0A"  # TCP_LISTEN
                if listening and int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] in sockets:
                    return True
    return False


class PortTakenError(AssertionError):
    """The free port was taken by someone else before the server could listen on it."""


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
            except OSError:
                pass
            else:
                # Listening, but maybe someone else's server (another test run on this machine
                # that took the same free port): only our own process will do.
                if listens_on(self.process.pid, port):
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        if b"Address already in use" in self.log:
            raise PortTakenError("port %d was taken before the server listened: %r" % (port, self.log))
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
        for attempt in range(3):  # a free port may be taken before the server binds it
            port = free_port()
            endpoint = listen.format(port=port)
            if twistd:
                argv = [command("twistd"), "--nodaemon", "--pidfile=", "callcenter", "--listen", endpoint]
            else:
                argv = [command("callcenter-server"), "--listen", endpoint]
            try:
                server = Server(argv + list(extra), port, host, **popen)
            except PortTakenError:
                if attempt == 2:
                    raise
                continue
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


@pytest.fixture
def etcd_cluster(tmp_path):
    """A three-member etcd cluster on loopback (bench/etcd_cluster.py), healthy; stopped at the end."""
    from bench.etcd_cluster import EtcdCluster

    cluster = EtcdCluster(tmp_path / "etcd")
    try:
        yield cluster.start()
    finally:
        cluster.stop()

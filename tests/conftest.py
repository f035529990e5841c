"""The suite's fixtures; the helpers they use are in support.py."""

import pytest

from support import PortTakenError, ServerProcess, command, free_port


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
                server = ServerProcess(argv + list(extra), port, host, **popen)
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

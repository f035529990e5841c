"""A real network partition (as root): the leader's server in a network namespace of the test's
own, reached by its clients over one veth pair and reaching etcd over another; that second link
is cut, then restored. It steps down, the standby serves, nothing acknowledged is lost.

Marked ``root`` (it makes namespaces and links): ``make test-root`` runs it and refuses to run
without root; ``make test-py36``/``test-new`` leave it out. iproute2 comes with
scripts/install-etcd."""

import json
import os
import shutil
import socket
import subprocess
import time

import pytest
from bench.etcd_cluster import EtcdCluster

from support import ServerProcess, command, free_port, read_line, read_until

pytestmark = [pytest.mark.root, pytest.mark.timeout(240)]

LIMIT = 30
PORT = 5678  # in a namespace of its own: nothing else listens there


def ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture
def namespace():
    """A namespace ``name`` with two links to this one: ``etcd`` (host side ``.1``, which etcd
    listens on too) and ``clients`` (the server listens on its ``.2``)."""
    if os.geteuid() != 0:
        pytest.fail("this test makes network namespaces: run it as root (make test-root)")
    if shutil.which("ip") is None:
        pytest.fail("iproute2 is missing: as root, scripts/install-etcd")
    number = os.getpid() % 200 + 20
    name = "ccpart%d" % number
    links = {"etcd": ("10.231.%d." % number, "cce%d" % number), "clients": ("10.232.%d." % number, "ccc%d" % number)}
    ip("netns", "add", name)
    try:
        ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        for subnet, host_side in links.values():
            inside = host_side + "n"
            ip("link", "add", host_side, "type", "veth", "peer", "name", inside)
            ip("link", "set", inside, "netns", name)
            ip("addr", "add", subnet + "1/24", "dev", host_side)
            ip("link", "set", host_side, "up")
            ip("netns", "exec", name, "ip", "addr", "add", subnet + "2/24", "dev", inside)
            ip("netns", "exec", name, "ip", "link", "set", inside, "up")
        yield {
            "name": name,
            "etcd": links["etcd"][0] + "1",
            "server": links["clients"][0] + "2",
            "cut": links["etcd"][1],
        }
    finally:
        ip("netns", "del", name, check=False)  # its ends of the pairs go with it, and so the pairs
        for _, host_side in links.values():
            ip("link", "del", host_side, check=False)


def wait_connectable(host, port, process):
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server in the namespace exited"
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the server in the namespace did not listen")


def ask(host, port, request):
    with socket.create_connection((host, port), timeout=LIMIT) as connection:
        connection.sendall(json.dumps(request).encode() + b"\n")
        line = read_line(connection)
    return json.loads(line.split(b"\n")[0]) if line else None  # a closing line may follow


def role_of(host, port):
    try:
        reply = ask(host, port, {"command": "role"})
    except OSError:
        return None
    return reply and reply.get("response")


def until(condition, what):
    deadline = time.monotonic() + LIMIT
    while not condition():
        assert time.monotonic() < deadline, "%s did not come within %g s" % (what, LIMIT)
        time.sleep(0.1)


def test_the_leader_cut_off_from_etcd_steps_down_and_the_standby_serves_with_every_change(namespace, tmp_path):
    cluster = EtcdCluster(tmp_path / "etcd", hosts=[namespace["etcd"]]).start()
    log = open(str(tmp_path / "inside.log"), "wb")
    inside = None
    standby = None
    try:
        common = ["--etcd-prefix", "/partition/", "--etcd-lease", "2", "--operators", "A,B,C", "--ring-timeout", "60"]
        inside = subprocess.Popen(
            [
                *("ip", "netns", "exec", namespace["name"], command("callcenter-server")),
                *("--listen", "tcp:%d:interface=%s" % (PORT, namespace["server"])),
                *("--etcd", cluster.endpoints_on(namespace["etcd"]), "--etcd-name", "inside"),
                *common,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        host = namespace["server"]
        wait_connectable(host, PORT, inside)
        until(lambda: role_of(host, PORT) == "leader", "the server inside leading")
        port = free_port()
        standby = ServerProcess(
            [
                *(command("callcenter-server"), "--listen", "tcp:%d:interface=127.0.0.1" % port),
                *("--etcd", cluster.endpoints, "--etcd-name", "outside"),
                *common,
            ],
            port,
        )
        client = socket.create_connection((host, PORT), timeout=LIMIT)
        acknowledged = []
        for number in range(20):
            client.sendall(json.dumps({"command": "call", "id": "c%d" % number}).encode() + b"\n")
            reply = json.loads(read_line(client))
            assert "response" in reply, reply
            acknowledged.append("c%d" % number)
        before = ask(host, PORT, {"command": "status"})["response"]

        ip("link", "set", namespace["cut"], "down")  # the cable to etcd, cut
        until(lambda: role_of("127.0.0.1", port) == "leader", "the standby leading")
        assert ask("127.0.0.1", port, {"command": "status"})["response"] == before
        # The server inside cannot store anything; it steps down and closes its clients.
        client.sendall(json.dumps({"command": "call", "id": "cut-off"}).encode() + b"\n")
        received = read_until(client, None, limit=LIMIT)
        lines = [json.loads(line) for line in received.splitlines()]
        assert lines and all("response" not in line for line in lines), lines
        assert lines[-1]["event"].startswith("This server stopped leading ("), lines
        assert role_of(host, PORT) == "standby: no leader"  # it cannot see etcd to know who leads
        assert "cut-off" not in ask("127.0.0.1", port, {"command": "status"})["response"]

        ip("link", "set", namespace["cut"], "up")  # restored
        until(lambda: role_of(host, PORT) == "standby: the leader is outside", "the server inside following")
        assert ask("127.0.0.1", port, {"command": "call", "id": "after"})["response"].startswith("Call after received")
        until(
            lambda: ask(host, PORT, {"command": "status"}) == ask("127.0.0.1", port, {"command": "status"}),
            "the server inside catching up",
        )
        status = ask("127.0.0.1", port, {"command": "status"})["response"]
        assert set(acknowledged) <= set(status.split())  # every acknowledged call is there
    finally:
        if standby is not None:
            standby.stop()
        if inside is not None:
            inside.terminate()
            try:
                inside.wait(10)
            except subprocess.TimeoutExpired:
                inside.kill()
                inside.wait()
        log.close()
        cluster.stop()

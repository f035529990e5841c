"""A three-member etcd cluster on loopback (Debian's etcd-server, scripts/install-etcd): the
replicated store of the etcd tests and benches. Free ports, data directories of its own,
bounded waits, every member stopped by :meth:`EtcdCluster.stop` (a fixture's teardown)."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid

from bench.common import free_ports

START_TIMEOUT = 30.0  # seconds for a cluster (or a restarted member) to become healthy


def etcd_binary():
    """The etcd executable; AssertionError saying how to install it when it is missing."""
    path = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)
    if path is None:
        raise AssertionError("etcd is not installed: as root, scripts/install-etcd (Debian's etcd-server)")
    return path


def _die_with_parent():
    """In the child: killed when the process that started it dies (a test run killed by a
    timeout leaves no etcd behind). Linux's prctl(PR_SET_PDEATHSIG); elsewhere nothing."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _get_json(url, timeout=1.0):
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.loads(answer.read().decode("utf-8"))


class Member(object):
    """One etcd process: its name, ports, data directory and log file."""

    def __init__(self, name, client_port, peer_port, data_dir, log_path, hosts):
        self.name = name
        self.client_port = client_port
        self.peer_port = peer_port
        self.data_dir = data_dir
        self.log_path = log_path
        self.hosts = hosts  # the addresses its clients' port listens on, loopback first
        self.process = None
        self.started_once = False

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.client_port

    def endpoint_on(self, host):
        return "http://%s:%d" % (host, self.client_port)

    @property
    def peer_url(self):
        return "http://127.0.0.1:%d" % self.peer_port

    def running(self):
        return self.process is not None and self.process.poll() is None

    def log(self):
        try:
            with open(self.log_path, "rb") as log:
                return log.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            return ""


class EtcdCluster(object):
    """``size`` etcd members on loopback under ``directory``; :meth:`start` returns once
    every member is healthy. ``hosts``: more addresses the clients' ports listen on (a veth's,
    for a network namespace of the test's own)."""

    def __init__(self, directory, size=3, hosts=()):
        self.directory = str(directory)
        self.token = "callcenter-%s" % uuid.uuid4().hex[:12]
        self.hosts = ["127.0.0.1", *hosts]
        self.members = []
        self.size = size

    @property
    def endpoints(self):
        """The clients' URLs, one a member, comma separated: what ``--etcd`` takes."""
        return ",".join(member.endpoint for member in self.members)

    def endpoints_on(self, host):
        return ",".join(member.endpoint_on(host) for member in self.members)

    def start(self):
        os.makedirs(self.directory, exist_ok=True)
        for attempt in range(3):  # a free port may be taken before etcd binds it
            ports = free_ports(2 * self.size)
            self.members = [
                Member(
                    "e%d" % index,
                    ports[2 * index],
                    ports[2 * index + 1],
                    os.path.join(self.directory, "e%d" % index),
                    os.path.join(self.directory, "e%d.log" % index),
                    self.hosts,
                )
                for index in range(self.size)
            ]
            for member in self.members:
                self._spawn(member, "new")
            try:
                self.wait_healthy()
                return self
            except AssertionError:
                logs = "\n".join(member.log() for member in self.members)
                self.stop()
                for member in self.members:
                    shutil.rmtree(member.data_dir, ignore_errors=True)
                if attempt == 2 or "address already in use" not in logs:
                    raise
        return self

    def _spawn(self, member, state):
        initial = ",".join("%s=%s" % (other.name, other.peer_url) for other in self.members)
        clients = ",".join(member.endpoint_on(host) for host in member.hosts)
        argv = [
            etcd_binary(),
            "--name",
            member.name,
            "--data-dir",
            member.data_dir,
            "--listen-client-urls",
            clients,
            "--advertise-client-urls",
            member.endpoint,
            "--listen-peer-urls",
            member.peer_url,
            "--initial-advertise-peer-urls",
            member.peer_url,
            "--initial-cluster",
            initial,
            "--initial-cluster-state",
            state,
            "--initial-cluster-token",
            self.token,
            "--logger",
            "zap",
        ]
        log = open(member.log_path, "ab")
        try:
            member.process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()
        member.started_once = True

    def healthy(self, member):
        try:
            return _get_json(member.endpoint + "/health").get("health") == "true"
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def wait_healthy(self, members=None, timeout=START_TIMEOUT):
        """Until each of ``members`` (all by default) answers healthy: AssertionError with
        the logs after ``timeout`` seconds or when one has exited."""
        members = self.members if members is None else members
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.healthy(member) for member in members):
                return
            for member in members:
                if not member.running():
                    raise AssertionError("etcd member %s exited: %s" % (member.name, member.log()))
            time.sleep(0.1)
        raise AssertionError(
            "etcd not healthy within %g s: %s" % (timeout, "\n".join(member.log() for member in members))
        )

    def leader_index(self):
        """The index of the member that leads etcd's Raft group now (None when none says)."""
        for index, member in enumerate(self.members):
            if not member.running():
                continue
            try:
                request = urllib.request.Request(member.endpoint + "/v3/maintenance/status", data=b"{}")
                with urllib.request.urlopen(request, timeout=1) as answer:
                    status = json.loads(answer.read().decode("utf-8"))
            except (OSError, ValueError, urllib.error.URLError):
                continue
            if status.get("leader") == status.get("header", {}).get("member_id"):
                return index
        return None

    def kill(self, index, sig=signal.SIGKILL):
        """Kill member ``index`` (SIGKILL: no goodbye to its peers)."""
        member = self.members[index]
        if member.running():
            member.process.send_signal(sig)
            member.process.wait(10)

    def restart(self, index, wait=True):
        """Member ``index`` again on its data directory and ports."""
        member = self.members[index]
        if not member.running():
            self._spawn(member, "existing")
        if wait:
            self.wait_healthy([member])

    def stop(self):
        for member in self.members:
            if member.process is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                if member.process.poll() is None:
                    member.process.terminate()
            try:
                member.process.wait(10)
            except subprocess.TimeoutExpired:
                member.process.kill()
                member.process.wait()

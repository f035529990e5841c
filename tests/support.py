"""Helpers of the tests of every layer: the golden transcript, installed commands, servers on free
ports (processes) and on a task.Clock (in memory), a disk that fails on demand, replies."""

import base64
import datetime
import io
import ipaddress
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from bench.common import free_port  # noqa: F401  (the tests take it from here with the other helpers)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import defer, protocol, tcp
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor, StringTransport
from twisted.python.failure import Failure
from twisted.web import resource, server

from callcenter.cli.output import Output
from callcenter.cli.shell import CallCenterShell, PrintedEvents, run_locally
from callcenter.core.center import CallCenter
from callcenter.core.queues import parse_queues
from callcenter.net.ami import AmiFactory
from callcenter.net.amievents import AmiEvents
from callcenter.net.amiqueue import QueueView, default_configs
from callcenter.net.amiusers import parse_users
from callcenter.net.protocol import CallCenterServerFactory
from callcenter.net.wire import encode_request
from callcenter.store.durable import DurableCallCenter


class Sent(object):
    """A socket that takes at most ``limit`` bytes per send."""

    def __init__(self, limit):
        self.limit = limit
        self.sent = b""

    def send(self, data):
        self.sent += data[: self.limit]
        return min(len(data), self.limit)

    def fileno(self):
        return -1

    def setblocking(self, flag):
        pass


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


class ServerProcess(object):
    """A server process on a free loopback port, stopped by ``stop``."""

    def __init__(self, argv, port, host="127.0.0.1", also_listening=(), **popen):
        """Started once it listens on ``port`` and on each port of ``also_listening`` (the
        wallboard's, the AMI's: they may open a moment after the JSON port)."""
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
                if all(listens_on(self.process.pid, each) for each in (port, *also_listening)):
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


COMMANDS, EXPECTED = read_golden()
GOLDEN_INPUT = "".join(line + "\n" for line in COMMANDS).encode("utf-8")
# A bound against a hang, not a measure: the 10^5-line runs take seconds alone, but several
# times that on a loaded machine.
TIMEOUT = 120


def run(argv, stdin=b"", env=None):
    return subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT, env=env)


def connect(port):
    connection = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def ask(connection, request):
    """One request, its one reply line, decoded."""
    connection.sendall(json.dumps(request).encode() + b"\n")
    line = read_line(connection)
    assert line, "the server closed the connection"
    return json.loads(line)


def wait_listening(port, deadline=20.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on %d" % port)


def read_until(sock, marker, limit=10.0):
    """What ``sock`` sends until ``marker`` is in it (None: until it closes), at most ``limit`` s."""
    data = b""
    end = time.monotonic() + limit
    sock.settimeout(limit)
    while (marker is None or marker not in data) and time.monotonic() < end:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def ami_login(port):
    """A connection to the AMI port, logged in as admin (secret s3cret)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"Action: Login\r\nUsername: admin\r\nSecret: s3cret\r\n\r\n")
    assert b"Authentication accepted" in read_until(sock, b"Authentication accepted")
    return sock


def read_line(connection):
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class Disk(object):
    """The write and sync seams of a DurableCallCenter: the real calls, or an OSError with
    ``errno`` once ``writes_left`` more writes (or ``syncs_left`` more syncs) have gone
    through (None: they all go through)."""

    def __init__(self):
        self.syncs = 0
        self.errno = None
        self.writes_left = None
        self.syncs_left = None
        self.synced_paths = []
        self.partial = False

    def refuse(self, code, writes_left=None, syncs_left=None, partial=False):
        """``partial``: the refused write first takes half of its bytes, as a disk that fills does."""
        self.errno, self.writes_left, self.syncs_left, self.partial = code, writes_left, syncs_left, partial

    def heal(self):
        self.errno = self.writes_left = self.syncs_left = None

    def _refused(self):
        return OSError(self.errno, os.strerror(self.errno))

    def write(self, fd, data):
        if self.writes_left is not None:
            if self.writes_left == 0:
                if self.partial:
                    self.partial = False
                    return os.write(fd, bytes(data[: len(data) // 2]))
                raise self._refused()
            self.writes_left -= 1
        return os.write(fd, data)

    def sync(self, fd):
        if self.syncs_left is not None:
            if self.syncs_left == 0:
                raise self._refused()
            self.syncs_left -= 1
        self.syncs += 1
        self.synced_paths.append(os.readlink("/proc/self/fd/%d" % fd))
        os.fdatasync(fd)


class DurableServer(object):
    """A server factory on a DurableCallCenter in ``directory``, with a task.Clock."""

    def __init__(self, directory, operators=("A", "B"), ring_timeout=10, clock=None, disk=None, **kwargs):
        self.clock = clock or Clock()
        self.disk = disk or Disk()
        self.state = DurableCallCenter(
            str(directory),
            list(operators),
            self.clock.callLater,
            self.clock.seconds,
            ring_timeout,
            sync=self.disk.sync,
            write=self.disk.write,
            **kwargs,
        )
        self.state.restore()
        self.factory = CallCenterServerFactory(self.state, self.clock.callLater, durable_output=self.state)

    @property
    def syncs(self):
        return self.disk.syncs

    def connect(self):
        connection = self.factory.buildProtocol(None)
        transport = StringTransport()
        connection.makeConnection(transport)
        return connection, transport

    def run(self, *commands):
        """Send the commands on a new connection, commit, and return the replies."""
        connection, transport = self.connect()
        connection.dataReceived(b"".join(request(text) for text in commands))
        self.clock.advance(0)
        return replies(transport)

    def status(self):
        return self.state.status()

    def crash(self):
        """What a SIGKILL leaves: the files as they are, nothing committed that was not."""
        if self.state.journal is not None:
            self.state.journal.close()
        self.state.files.unlock()

    def stop(self):
        """A clean stop: commit, snapshot, release the directory."""
        self.state.flush()
        self.state.compact()
        self.state.close()

    def compact_and_crash(self):
        """A compaction (as past --journal-limit), then a SIGKILL: the next start restores
        from the snapshot alone, its journal empty."""
        self.state.flush()
        self.state.compact()
        self.crash()


def request(command, call_id=None):
    """One request's bytes: ``request("call", "1")``, or the shell's words ``request("call 1")``."""
    if call_id is None:
        command, _, argument = command.partition(" ")
        call_id = argument or None
    return encode_request(command, call_id)


def journal_path(directory):
    (name,) = [name for name in os.listdir(str(directory)) if name.startswith("journal.")]
    return os.path.join(str(directory), name)


class ProtocolServer(object):
    """The server's factory on an in-memory CallCenter with a task.Clock; ``factory_options`` are the
    factory's (limits, authentication)."""

    def __init__(self, operators=("A", "B"), ring_timeout=10, queues=None, **factory_options):
        self.clock = Clock()
        center = CallCenter(
            list(operators), self.clock.callLater, ring_timeout, now=self.clock.seconds, service_level=5, queues=queues
        )
        self.factory = CallCenterServerFactory(center, self.clock.callLater, **factory_options)

    def connect(self):
        connection = self.factory.buildProtocol(None)
        transport = StringTransport()
        connection.makeConnection(transport)
        return connection, transport


def replies(transport):
    """Every message line written so far, decoded, and clear the transport."""
    data = transport.value()
    transport.clear()
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.splitlines()]


def make_tcp_transport(limit):
    reactor = MemoryReactor()
    transport = tcp.Connection(Sent(limit), protocol.Protocol(), reactor=reactor)
    transport.connected = 1
    return transport, reactor


class StuckSocket(object):
    """A peer's socket that takes ``room`` bytes and then nothing until it reads."""

    def __init__(self, room):
        self.room = room
        self.received = b""

    def send(self, data):
        taken = data[: self.room]
        self.room -= len(taken)
        self.received += taken
        return len(taken)

    def fileno(self):
        return -1

    def setblocking(self, flag):
        pass


class RecordingOutput(Output):
    def __init__(self):
        self.out = []
        self.errors = []

    def lines(self, lines):
        self.out.extend(lines)

    def error(self, message):
        self.errors.append(message)

    def text(self, text):
        self.out.append(text)


def make_shell(operators=("A", "B"), ring_timeout=10, output=None, queues=None):
    clock = Clock()
    output = output or RecordingOutput()
    center = CallCenter(list(operators), clock.callLater, ring_timeout, now=clock.seconds, queues=queues)
    center.subscribe(PrintedEvents(output), commands=False)
    shell = CallCenterShell(run_locally(center, output), output, center.operator_ids(), center.queue_names())
    return shell, output, clock, center


def make_certificates(folder):
    """A CA (its certificate alone in ``folder/ca``) and a certificate for localhost signed by it."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, issuer, public_key, signing_key, is_ca):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        )
        if not is_ca:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("callcenter test CA", "callcenter test CA", ca_key.public_key(), ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate("localhost", "callcenter test CA", key.public_key(), ca_key, False)
    os.mkdir(os.path.join(folder, "ca"))
    paths = {"ca": os.path.join(folder, "ca"), "key": os.path.join(folder, "key.pem")}
    paths["cert"] = os.path.join(folder, "cert.pem")
    with open(os.path.join(paths["ca"], "ca.pem"), "wb") as out:
        out.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["cert"], "wb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["key"], "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return paths


def scrape(port, path="/metrics"):
    """GET a page of the metrics server: (status, body); tried for at most 10 s while it starts."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as response:
                return response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


SMALL = "256k"


# A queue file for ``callcenter staff``: two queues, each with its own operators, and a group
# that serves both at level 1.
TWO_QUEUES = """\
[sales]
# S serves sales only; X serves both queues, at level 1: when no S (or P) is free
operators = S, X:1
handle-time = 180
service-level = 0.8
target = 20

[support]
operators = P, X:1
handle-time = 240
service-level = 0.8
target = 30
"""


def planning_output(argv):
    """What ``callcenter simulate|erlang|staff ...`` prints, run in this process."""
    from callcenter.sim import planning

    out = io.StringIO()
    planning.main(argv, stdout=out)
    return out.getvalue()


# The Asterisk Manager Interface (tests/net/test_ami*.py).

AMI_USERS = """
[general]
enabled = yes

[admin]
secret = s3cret
read = all
write = all

[viewer]            ; reads events, runs only actions of no class
secret = look
read = agent
write =

[caller]
secret = dial
read = call
write = originate
"""

BANNER = b"Asterisk Call Manager/9.0.0\r\n"


def ami_messages(data):
    """The messages in ``data`` (after the banner), each as a list of (key, value)."""
    if data.startswith(BANNER):
        data = data[len(BANNER) :]
    text = data.decode("utf-8")
    assert text.endswith("\r\n\r\n") or not text, text
    result = []
    for block in text.split("\r\n\r\n")[:-1]:
        result.append([tuple(line.split(": ", 1)) for line in block.split("\r\n")])
    return result


class AmiBench(object):
    """A call center, its manager port, and clients on StringTransports."""

    def __init__(self, operators=("A", "B"), queues=None, wrap_up=0.0, events=False, leadership=None, **center_options):
        """``events``: the port hears the call center's events (AmiEvents), as the server's does;
        ``leadership``: an ``ILeadership`` (a replicated store's)."""
        self.clock = Clock()
        self.clock.advance(1_733_040_000)  # 2024-12-01: times look like Asterisk's epoch seconds
        configs = parse_queues(queues) if queues else None
        self.center = CallCenter(
            operators,
            self.clock.callLater,
            now=self.clock.seconds,
            queues=configs,
            wrap_up=wrap_up,
            **center_options,
        )
        configs = configs or default_configs(operators, center_options.get("strategy", "linear"), 0, 0.0)
        self.view = QueueView(self.center, configs, 20.0, wrap_up)
        self.factory = AmiFactory(
            self.center,
            self.view,
            parse_users(AMI_USERS),
            self.clock.callLater,
            self.clock.seconds,
            max_output_buffer=1 << 16,
            max_connections=5,
            auth_timeout=10.0,
            max_unauthenticated=3,
            leadership=leadership,
        )
        if events:
            self.center.subscribe(AmiEvents(self.view, self.factory.broadcast, self.factory.hears))

    def connect(self):
        client = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
        client.makeConnection(transport)
        return client, transport

    def login(self, user="admin", secret="s3cret", events=None):
        client, transport = self.connect()
        lines = "Action: Login\r\nUsername: %s\r\nSecret: %s\r\n" % (user, secret)
        if events is not None:
            lines += "Events: %s\r\n" % events
        client.dataReceived((lines + "\r\n").encode())
        transport.clear()
        return client, transport


def ami_error(message):
    """What ami_ask() returns for one error reply without ActionID."""
    return [[("Response", "Error"), ("Message", message)]]


def ami_success(message):
    return [[("Response", "Success"), ("Message", message)]]


def ami_ask(client, transport, *lines):
    transport.clear()
    client.dataReceived(("\r\n".join(lines) + "\r\n\r\n").encode())
    return ami_messages(transport.value())


# The fake etcd gateway of the etcd client's and the replicated store's tests: twisted.web in
# this process, on loopback; wait() turns the real reactor (without running it) until a Deferred fires.

WAIT_LIMIT = 10.0  # seconds any one wait may take before the test fails


def wait(deferred, limit=WAIT_LIMIT):
    """The result of ``deferred`` (its exception raised), turning the reactor until it has
    fired: at most ``limit`` seconds."""
    from twisted.internet import reactor

    results = []
    deferred.addBoth(results.append)
    deadline = time.monotonic() + limit
    while not results:
        assert time.monotonic() < deadline, "no result within %g s" % limit
        reactor.iterate(0.01)
    result = results[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result


def spin(seconds):
    """Turn the reactor for ``seconds`` (what a test waits for is a timeout of the code under
    test, never a guess)."""
    from twisted.internet import reactor

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reactor.iterate(0.01)


def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def kv(key, value, revision=5):
    return {
        "key": b64(key),
        "value": b64(value),
        "create_revision": str(revision),
        "mod_revision": str(revision),
        "version": "1",
    }


def header(revision=5):
    return {"cluster_id": "1", "member_id": "2", "revision": str(revision), "raft_term": "2"}


class Answer(object):
    """What the fake answers one request with: a status and a body (bytes or a document), or
    ``hang`` (never answers), or a ``stream`` of documents then ``end`` ("close": the
    response's end; "cut": the connection dropped mid-stream; "hold": kept open)."""

    def __init__(self, document=None, status=200, body=None, hang=False, stream=None, end="hold"):
        self.document = document
        self.status = status
        self.body = body
        self.hang = hang
        self.stream = stream
        self.end = end


class FakeEtcd(resource.Resource):
    """One fake member: ``answers[path]`` is a list of :class:`Answer` (used in turn, the last
    one kept) or a callable ``(path, document, headers) -> Answer``. ``requests`` records
    (path, document, headers) of every request."""

    isLeaf = True

    def __init__(self, version="3.4.23"):
        resource.Resource.__init__(self)
        self.version = version
        self.answers = {}
        self.requests = []
        self.open_requests = []
        self.port = None

    def start(self, tls=None):
        """Listen on loopback; ``tls``: ``make_certificates``' paths, to serve https."""
        from twisted.internet import reactor, ssl

        self.scheme = "http"
        if tls is None:
            self.port = reactor.listenTCP(0, server.Site(self), interface="127.0.0.1")
            return self
        with open(tls["cert"], "rb") as cert, open(tls["key"], "rb") as key:
            options = ssl.PrivateCertificate.loadPEM(cert.read() + key.read()).options()
        self.port = reactor.listenSSL(0, server.Site(self), options, interface="127.0.0.1")
        self.scheme = "https"
        return self

    @property
    def endpoint(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port.getHost().port)

    def stop(self):
        for request in self.open_requests:
            if not request.finished and request.channel is not None:  # a finished one has let go of it
                request.channel.transport.abortConnection()
        return self.port.stopListening()

    def paths(self):
        return [path for path, _, _ in self.requests]

    def render(self, request):
        path = request.path.decode()
        body = request.content.read()
        try:
            document = json.loads(body) if body else None
        except ValueError:
            document = body
        headers = {
            name.decode().lower(): values[0].decode() for name, values in request.requestHeaders.getAllRawHeaders()
        }
        self.requests.append((path, document, headers))
        if path == "/version" and path not in self.answers:
            answer = Answer({"etcdserver": self.version, "etcdcluster": self.version[:3] + ".0"})
        else:
            planned = self.answers.get(path)
            if planned is None:
                answer = Answer(body=b"Not Found\n", status=404)
            elif callable(planned):
                answer = planned(path, document, headers)
            else:
                answer = planned.pop(0) if len(planned) > 1 else planned[0]
        request.setResponseCode(answer.status)
        request.setHeader(b"content-type", b"application/json")
        if answer.hang:
            self.open_requests.append(request)
            return server.NOT_DONE_YET
        if answer.stream is not None:
            self.open_requests.append(request)
            for item in answer.stream:
                request.write(item if isinstance(item, bytes) else json.dumps(item).encode() + b"\n")
            if answer.end == "close":
                request.finish()
            elif answer.end == "cut":  # what was written goes, then the connection closes mid-body
                request.channel.transport.loseConnection()
            return server.NOT_DONE_YET
        if answer.body is not None:
            return answer.body
        return json.dumps(answer.document).encode()


@defer.inlineCallbacks
def stopped(*fakes):
    for fake in fakes:
        yield fake.stop()


def spin_until(predicate, limit=WAIT_LIMIT, what="the condition"):
    """Turn the reactor until ``predicate()`` holds: at most ``limit`` seconds."""
    from twisted.internet import reactor

    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "%s did not come within %g s" % (what, limit)
        reactor.iterate(0.01)


def check_delayed_call_changes(call_later, advance):
    """A delayed call from ``call_later`` (``callLater``'s shape) moves, runs and refuses
    changes as Twisted's ``IDelayedCall`` says, its clock moved on by ``advance(seconds)``;
    nothing is left pending."""
    from twisted.internet.error import AlreadyCalled, AlreadyCancelled

    ran = []
    call = call_later(5, ran.append, "x")
    call.reset(1)
    assert call.getTime() == 1
    call.delay(2)
    assert call.getTime() == 3 and call.active()
    advance(2.9)
    assert ran == []
    advance(0.1)
    assert ran == ["x"] and not call.active()
    for action in (call.cancel, lambda: call.reset(1), lambda: call.delay(1)):
        try:
            action()
        except AlreadyCalled:
            pass
        else:
            raise AssertionError("a called call accepted a change")
    other = call_later(1, ran.append, "y")
    other.cancel()
    try:
        other.cancel()
    except AlreadyCancelled:
        pass
    else:
        raise AssertionError("a cancelled call was cancelled again")
    advance(5)
    assert ran == ["x"]


def delayed_call_scripts(least_delay):
    """Scripts of actions on delayed calls (schedule with a delay of ``least_delay`` to 4 s,
    cancel, reset, delay, move time on), as Hypothesis draws them: delays are whole seconds and
    time moves one second a step, so every call that comes due is due exactly at a step's end."""
    from hypothesis import strategies as st

    return st.lists(
        st.one_of(
            st.tuples(st.just("later"), st.integers(least_delay, 4)),
            st.tuples(st.just("cancel"), st.integers(0, 50)),
            st.tuples(st.just("reset"), st.integers(0, 50), st.integers(1, 4)),
            st.tuples(st.just("delay"), st.integers(0, 50), st.integers(0, 3)),
            st.tuples(st.just("advance"), st.integers(1, 3)),
        ),
        max_size=60,
    )


def play_delayed_calls(clock, call_later, script):
    """Run ``script`` with ``call_later`` on ``clock`` (moved on by its ``advance``); callbacks
    schedule more calls too. Returns the calls that ran (label, time) in order, those pending
    at the script's end (time, label), and whether each call is still active after 20 s more.
    A label is a script's action number, or 1000 more for a call a callback made: an action
    picks its call by label order, which does not depend on the order calls due together ran."""
    log, calls = [], {}

    def fired(label):
        log.append((label, clock.seconds()))
        if label % 3 == 0 and label < 1000:
            calls[label + 1000] = call_later(label % 4, fired, label + 1000)

    for number, action in enumerate(script):
        kind = action[0]
        if kind == "later":
            calls[number] = call_later(action[1], fired, number)
        elif kind == "advance":
            for _ in range(action[1]):
                clock.advance(1)
        elif calls:
            call = calls[sorted(calls)[action[1] % len(calls)]]
            if not call.active():
                continue
            if kind == "cancel":
                call.cancel()
            elif kind == "reset":
                call.reset(action[2])
            else:
                call.delay(action[2])
    pending = sorted((call.getTime(), label) for label, call in calls.items() if call.active())
    for _ in range(20):
        clock.advance(1)
    return log, pending, [calls[label].active() for label in sorted(calls)]

"""A fake etcd gateway (twisted.web, in this process, on loopback) and a way to wait for a
Deferred on the real reactor without running it: what the etcd client's unit tests and the
replicated store's use."""

import base64
import json
import time

from twisted.internet import defer, reactor
from twisted.python.failure import Failure
from twisted.web import resource, server

WAIT_LIMIT = 10.0  # seconds any one wait may take before the test fails


def wait(deferred, limit=WAIT_LIMIT):
    """The result of ``deferred`` (its exception raised), turning the reactor until it has
    fired: at most ``limit`` seconds."""
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

    def start(self):
        self.port = reactor.listenTCP(0, server.Site(self), interface="127.0.0.1")
        return self

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port.getHost().port

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

"""A client of etcd's v3 HTTP/JSON gateway, on Twisted's own HTTP client (``twisted.web.client.Agent``).

Layer: store, the replicated store's network half; :mod:`callcenter.store.replicated` is the
call center on it. Nothing new to install on either Python: the gRPC clients need grpcio and
protobuf pins that break on 3.6 or on today's protobuf.

The gateway takes and gives JSON: keys and values in base64, 64-bit integers (revisions,
lease ids) as strings. Its path prefix comes from ``GET /version``: ``/v3beta`` on etcd 3.3
(CentOS 7), ``/v3`` from 3.4 on. ``watch`` and ``lease/keepalive`` answer with a stream of
JSON objects, one a line.

Several endpoints (the cluster's members): a request goes to the one that answered last; one
that cannot be reached is left for the next. A request that was sent and got no answer (a
timeout, the connection cut, a 5xx) is tried on the next member when it only reads; a write
fails with :class:`EtcdUnknownOutcomeError` instead, since it may have been applied: the caller
resolves it (the replicated store's writes are transactions that can be sent again safely).
"""

import base64
import codecs
import json
from typing import Any, Callable, Dict, List, Optional, Tuple

from twisted.internet import defer, endpoints
from twisted.internet import error as internet_error
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import (
    Agent,
    HTTPConnectionPool,
    RequestTransmissionFailed,
    ResponseDone,
    ResponseFailed,
    ResponseNeverReceived,
)
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgentEndpointFactory, IBodyProducer, IPolicyForHTTPS
from zope.interface import implementer

from callcenter.store.etcd_config import EtcdCredentials

log = Logger()

DEFAULT_TIMEOUT = 2.0  # seconds for an answer; etcd's own deadline for a proposal is 7 s
MAX_ANSWER = 64 << 20  # bytes of one answer, or of one object of a stream, read at most
# etcd's default limits: --max-request-bytes and --max-txn-ops.
MAX_REQUEST_BYTES = 1572864
MAX_TXN_OPS = 128
# gRPC status codes that etcd's gateway puts in its errors ("code").
UNKNOWN = 2
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
OUT_OF_RANGE = 11
INTERNAL = 13
UNAVAILABLE = 14
UNAUTHENTICATED = 16
# Errors after which another member may do better (no leader, a timeout inside etcd).
TRANSIENT_CODES = (UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE)


class EtcdError(Exception):
    """etcd did not do what was asked, or cannot be asked: the message is one line saying why.
    ``outcome_known``: False when a write may have been applied all the same."""

    outcome_known = True


class EtcdUnavailableError(EtcdError):
    """No member could be reached, or none answered: nothing was done."""


class EtcdUnknownOutcomeError(EtcdError):
    """A write was sent and no usable answer came back: it may or may not have been applied."""

    outcome_known = False


class EtcdRefusedError(EtcdError):
    """etcd answered with an error of its own: nothing was done. ``code``: its gRPC code."""

    def __init__(self, message: str, code: int = 0, status: int = 0) -> None:
        EtcdError.__init__(self, message)
        self.code = code
        self.status = status


class EtcdCompactedError(EtcdRefusedError):
    """The revision asked for is older than etcd's history (compacted)."""

    def __init__(self, message: str, compact_revision: int = 0) -> None:
        EtcdRefusedError.__init__(self, message, OUT_OF_RANGE, 400)
        self.compact_revision = compact_revision


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: Any) -> bytes:
    return base64.b64decode(text or "")


def key_bytes(key: Any) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else key


def prefix_end(prefix: Any) -> bytes:
    """The range end that covers every key starting with ``prefix``."""
    data = bytearray(key_bytes(prefix))
    while data:
        if data[-1] < 0xFF:
            data[-1] += 1
            return bytes(data)
        data.pop()
    return b"\0"  # every key


def api_prefix(server_version: str) -> str:
    """The gateway's path prefix for an etcd server version (``GET /version``'s ``etcdserver``)."""
    try:
        major, minor = (int(part) for part in server_version.split(".")[:2])
    except ValueError:
        raise EtcdError("etcd answered /version with an unknown version %r" % server_version[:40]) from None
    if (major, minor) < (3, 3):
        return "/v3alpha"
    if (major, minor) < (3, 4):
        return "/v3beta"
    return "/v3"


class KeyValue(object):
    """One key of an answer (``kvs``) or of a watch event."""

    __slots__ = ("create_revision", "key", "lease", "mod_revision", "value", "version")

    def __init__(self, key: bytes, value: bytes, create_revision: int, mod_revision: int, version: int, lease: int):
        self.key = key
        self.value = value
        self.create_revision = create_revision
        self.mod_revision = mod_revision
        self.version = version
        self.lease = lease

    def __repr__(self) -> str:
        return "KeyValue(%r, %d bytes, mod_revision=%d)" % (self.key, len(self.value), self.mod_revision)


def decode_kv(document: Dict[str, Any]) -> KeyValue:
    return KeyValue(
        unb64(document.get("key")),
        unb64(document.get("value")),
        int(document.get("create_revision", 0)),
        int(document.get("mod_revision", 0)),
        int(document.get("version", 0)),
        int(document.get("lease", 0)),
    )


def revision_of(document: Dict[str, Any]) -> int:
    return int((document.get("header") or {}).get("revision", 0))


class Range(object):
    """A range's answer: its keys, whether more were left out (``limit``), the revision read."""

    __slots__ = ("count", "kvs", "more", "revision")

    def __init__(self, document: Dict[str, Any]) -> None:
        self.kvs = [decode_kv(kv) for kv in document.get("kvs") or ()]
        self.more = bool(document.get("more"))
        self.count = int(document.get("count", 0))
        self.revision = revision_of(document)


class TxnResult(object):
    """A transaction's answer: whether its comparisons held (``succeeded``: its success
    requests ran, else its failure requests), the revision after it, and the answers of the
    requests that ran, in order (each a :class:`Range` for a range, else the raw answer)."""

    __slots__ = ("responses", "revision", "succeeded")

    def __init__(self, document: Dict[str, Any]) -> None:
        self.succeeded = bool(document.get("succeeded"))
        self.revision = revision_of(document)
        self.responses: List[Any] = []
        for response in document.get("responses") or ():
            if "response_range" in response:
                self.responses.append(Range(response["response_range"]))
            else:
                self.responses.append(response)


class WatchEvent(object):
    """A change seen by a watch: ``PUT`` or ``DELETE`` of ``kv``."""

    __slots__ = ("kv", "type")

    def __init__(self, document: Dict[str, Any]) -> None:
        self.type = document.get("type") or "PUT"  # the gateway leaves out the enum's default
        self.kv = decode_kv(document.get("kv") or {})


# The requests of a transaction, and its comparisons.


def put_request(key: Any, value: bytes, lease: int = 0) -> Dict[str, Any]:
    request: Dict[str, Any] = {"key": b64(key_bytes(key)), "value": b64(value)}
    if lease:
        request["lease"] = str(lease)
    return {"request_put": request}


def range_request(key: Any, range_end: Optional[bytes] = None, limit: int = 0, keys_only: bool = False) -> Dict:
    request: Dict[str, Any] = {"key": b64(key_bytes(key))}
    if range_end is not None:
        request["range_end"] = b64(range_end)
    if limit:
        request["limit"] = str(limit)
    if keys_only:
        request["keys_only"] = True
    return {"request_range": request}


def delete_request(key: Any, range_end: Optional[bytes] = None) -> Dict[str, Any]:
    request: Dict[str, Any] = {"key": b64(key_bytes(key))}
    if range_end is not None:
        request["range_end"] = b64(range_end)
    return {"request_delete_range": request}


def created_at(key: Any, revision: int) -> Dict[str, Any]:
    """Holds when ``key`` was created at ``revision`` (0: when it does not exist)."""
    return {"key": b64(key_bytes(key)), "target": "CREATE", "result": "EQUAL", "create_revision": str(revision)}


def value_is(key: Any, value: bytes) -> Dict[str, Any]:
    return {"key": b64(key_bytes(key)), "target": "VALUE", "result": "EQUAL", "value": b64(value)}


# The HTTP side.


@implementer(IBodyProducer)
class JSONBody(object):
    """A request body that is all there at once."""

    def __init__(self, data: bytes) -> None:
        self.body = data
        self.length = len(data)

    def startProducing(self, consumer: Any) -> "defer.Deferred[None]":
        consumer.write(self.body)
        return defer.succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class BodyReader(Protocol):
    """A response body, whole, up to ``limit`` bytes: ``finished`` fires with it."""

    transport: Any  # the response's, which stopProducing() closes

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: List[bytes] = []
        self.size = 0
        self.finished: "defer.Deferred[bytes]" = defer.Deferred(lambda _: self.transport.stopProducing())

    def dataReceived(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            self.transport.stopProducing()
            if not self.finished.called:
                self.finished.errback(EtcdError("etcd sent an answer longer than %d bytes" % self.limit))
            return
        self.chunks.append(data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if self.finished.called:
            return
        if reason is None or reason.check(ResponseDone, PotentialDataLoss):
            self.finished.callback(b"".join(self.chunks))
        else:
            self.finished.errback(reason)


class JSONStream(Protocol):
    """A streamed body: JSON objects, one a line (etcd's ``watch`` and ``lease/keepalive``).
    Each object goes to ``received``, which returns True to hear no more (the connection is
    then closed). ``ended`` fires with None once the stream ends after ``received`` asked
    for no more, else with the :class:`EtcdError` of why it ended."""

    transport: Any  # the response's, which stopProducing() closes

    def __init__(self, received: Callable[[Dict[str, Any]], bool], limit: int = MAX_ANSWER) -> None:
        self.received = received
        self.limit = limit
        self.buffer = b""
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.stopped = False
        self.ended: "defer.Deferred[None]" = defer.Deferred()
        self.error: Optional[EtcdError] = None

    def stop(self) -> None:
        """Hear no more: the connection is closed."""
        if not self.stopped:
            self.stopped = True
            if self.transport is not None:
                self.transport.stopProducing()

    def dataReceived(self, data: bytes) -> None:
        if self.stopped:
            return
        self.buffer += data
        while not self.stopped:
            line, newline, rest = self.buffer.partition(b"\n")
            if not newline:
                if len(self.buffer) > self.limit:
                    self._fail(EtcdError("etcd sent a stream object longer than %d bytes" % self.limit))
                return
            self.buffer = rest
            if line.strip():
                self._object(line)

    def _object(self, line: bytes) -> None:
        try:
            document = json.loads(line.decode("utf-8"))
            if not isinstance(document, dict):
                raise ValueError("not an object")
        except ValueError:
            self._fail(EtcdError("etcd sent a stream object that is not JSON: %r" % line[:80]))
            return
        try:
            if self.received(document):
                self.stop()
        except EtcdError as error:
            self._fail(error)

    def _fail(self, error: EtcdError) -> None:
        self.error = self.error or error
        self.stop()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if self.buffer.strip() and not self.stopped:
            self._object(self.buffer)
        self.buffer = b""
        if self.ended.called:
            return
        if self.error is not None:
            self.ended.errback(self.error)
        elif self.stopped:
            self.ended.callback(None)
        elif reason is not None and reason.check(ResponseDone):
            self.ended.errback(EtcdError("etcd ended the stream"))
        else:
            why = reason.getErrorMessage() if reason is not None else "closed"
            self.ended.errback(EtcdError("the stream from etcd was cut: %s" % one_line(why)))


def one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_of(document: Any, status: int) -> Optional[EtcdRefusedError]:
    """The error an answer carries (the gateway's two shapes), or None."""
    if not isinstance(document, dict) or "error" not in document:
        return None
    error = document["error"]
    if isinstance(error, dict):  # a stream's: {"error": {"grpc_code": 14, "message": ...}}
        message, code = error.get("message") or "error", int(error.get("grpc_code") or 0)
        status = int(error.get("http_code") or status)
    else:
        message, code = document.get("message") or error, int(document.get("code") or 0)
    message = one_line(message)
    if code == OUT_OF_RANGE and "compacted" in message:
        return EtcdCompactedError("etcd: %s" % message)
    return EtcdRefusedError("etcd: %s" % message, code, status)


def unavailable_if_transient(refused: EtcdRefusedError) -> EtcdError:
    """A refusal another member, or the same one later, may not give (no leader, a timeout
    inside etcd) as :class:`EtcdUnavailableError`; others as they are."""
    if refused.code in TRANSIENT_CODES or refused.status >= 500:
        return EtcdUnavailableError(str(refused))
    return refused


@implementer(IPolicyForHTTPS)
class EtcdTLSPolicy(object):
    """TLS to the members: their certificates checked against ``ca`` (the system's roots
    without one), a client certificate shown when given."""

    def __init__(self, credentials: EtcdCredentials) -> None:
        from twisted.internet import ssl

        self.ssl = ssl
        self.trust_root = ssl.Certificate.loadPEM(credentials.ca) if credentials.ca else ssl.platformTrust()
        self.client_certificate = None
        if credentials.cert:
            self.client_certificate = ssl.PrivateCertificate.loadPEM(
                credentials.cert + b"\n" + (credentials.key or b"")
            )

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        return self.ssl.optionsForClientTLS(
            hostname.decode("ascii"), trustRoot=self.trust_root, clientCertificate=self.client_certificate
        )


@implementer(IAgentEndpointFactory)
class MemberEndpoints(object):
    """How the agent reaches a member: an IP address straight (no resolver thread for each
    new connection), a name through ``HostnameEndpoint``; TLS for ``https``."""

    def __init__(self, reactor: Any, policy: Optional[EtcdTLSPolicy], timeout: float) -> None:
        self.reactor = reactor
        self.policy = policy
        self.timeout = timeout

    def endpointForURI(self, uri: Any) -> Any:
        host = uri.host.decode("ascii")
        if isIPv6Address(host):
            endpoint: Any = endpoints.TCP6ClientEndpoint(self.reactor, host, uri.port, self.timeout)
        elif isIPAddress(host):
            endpoint = endpoints.TCP4ClientEndpoint(self.reactor, host, uri.port, self.timeout)
        else:
            endpoint = endpoints.HostnameEndpoint(self.reactor, host, uri.port, self.timeout)
        if uri.scheme == b"https":
            if self.policy is None:
                raise EtcdError("https endpoint %s among http ones" % host)
            endpoint = endpoints.wrapClientTLS(self.policy.creatorForNetloc(uri.host, uri.port), endpoint)
        return endpoint


class EtcdClient(object):
    """Requests to an etcd cluster through its members' gateways (``endpoints``, URLs)."""

    def __init__(
        self,
        reactor: Any,
        endpoints: List[str],
        timeout: float = DEFAULT_TIMEOUT,
        credentials: Optional[EtcdCredentials] = None,
        persistent: int = 4,
    ) -> None:
        self.reactor = reactor
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self.credentials = credentials or EtcdCredentials()
        self.current = 0  # the member asked first: the one that answered last
        self.api: Optional[str] = None  # the gateway's prefix, from GET /version
        self.version: Optional[str] = None
        self.token: Optional[bytes] = None  # etcd's auth token, when a user is given
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool.maxPersistentPerHost = persistent
        self.pool.retryAutomatically = False  # a write must never be sent twice behind our back
        policy = None
        if any(endpoint.startswith("https://") for endpoint in self.endpoints):
            policy = EtcdTLSPolicy(self.credentials)
        members = MemberEndpoints(reactor, policy, timeout)
        self.agent = Agent.usingEndpointFactory(reactor, members, pool=self.pool)
        self.stream_agent = Agent.usingEndpointFactory(reactor, members)
        self.requests_sent = 0

    def close(self) -> Any:
        """Close the kept-alive connections; a Deferred that fires once they are."""
        return self.pool.closeCachedConnections()

    # One request to one member.

    def _headers(self) -> Headers:
        headers = Headers({b"Content-Type": [b"application/json"]})
        if self.token is not None:
            headers.setRawHeaders(b"Authorization", [self.token])
        return headers

    def _send(self, endpoint: str, method: bytes, path: str, body: Optional[bytes]) -> "defer.Deferred[Any]":
        """(status, document) of one request to one member; fails with what went wrong,
        unclassified; cancelled after ``timeout``."""
        url = (endpoint + path).encode("ascii")
        self.requests_sent += 1
        producer = JSONBody(body) if body is not None else None
        requested = self.agent.request(method, url, self._headers(), producer)

        def read(response: Any) -> Any:
            reader = BodyReader(MAX_ANSWER)
            response.deliverBody(reader)
            return reader.finished.addCallback(lambda data: (response.code, data))

        requested.addCallback(read)
        requested.addTimeout(self.timeout, self.reactor)
        return requested.addCallback(self._parse)

    @staticmethod
    def _parse(answer: Tuple[int, bytes]) -> Tuple[int, Any]:
        status, data = answer
        try:
            return status, json.loads(data.decode("utf-8"))
        except ValueError:
            if status >= 400:  # the gateway's plain-text 404 or a proxy's page
                return status, {"error": "HTTP %d: %s" % (status, one_line(data.decode("utf-8", "replace"), 80))}
            raise EtcdError("etcd sent an answer that is not JSON: %r" % data[:80]) from None

    # Requests, with failover.

    @defer.inlineCallbacks
    def _discover(self) -> Any:
        """The gateway's prefix, from the first member that answers ``GET /version``."""
        reasons = []
        for _ in range(len(self.endpoints)):
            endpoint = self.endpoints[self.current]
            try:
                status, document = yield self._send(endpoint, b"GET", "/version", None)
                if status != 200 or not isinstance(document, dict) or "etcdserver" not in document:
                    raise EtcdError("GET /version answered %d %s" % (status, one_line(json.dumps(document), 80)))
                self.api = api_prefix(str(document["etcdserver"]))
                self.version = str(document["etcdserver"])
                return self.api
            except Exception as error:
                reasons.append("%s: %s" % (endpoint, describe(error, self.timeout)))
                self._next_member()
        raise EtcdUnavailableError("etcd unavailable (%s)" % "; ".join(reasons))

    def path(self, path: str) -> str:
        """``path`` under the gateway's prefix (known once a member has answered /version)."""
        assert self.api is not None
        return self.api + path

    def _next_member(self) -> None:
        self.current = (self.current + 1) % len(self.endpoints)

    @defer.inlineCallbacks
    def _authenticate(self, endpoint: str) -> Any:
        body = json.dumps({"name": self.credentials.user, "password": self.credentials.password}).encode("utf-8")
        self.token = None
        status, document = yield self._send(endpoint, b"POST", self.path("/auth/authenticate"), body)
        refused = error_of(document, status)
        if refused is not None:
            raise EtcdRefusedError(
                "etcd refused the user %s: %s" % (self.credentials.user, refused), refused.code, status
            )
        self.token = str(document.get("token") or "").encode("ascii") or None

    @defer.inlineCallbacks
    def call(self, path: str, request: Dict[str, Any], idempotent: bool) -> Any:
        """The answer to ``request`` at ``path`` (``/kv/range``, ...), a dict. A member that
        cannot be reached is left for the next; one that does not answer too when
        ``idempotent``; else :class:`EtcdUnknownOutcomeError`. :class:`EtcdUnavailableError` when
        no member did; :class:`EtcdRefusedError` when etcd said no."""
        if self.api is None:
            yield self._discover()
        body = json.dumps(request, separators=(",", ":")).encode("utf-8")
        reasons = []
        authenticated_again = False
        tries = 0
        while tries < len(self.endpoints):
            endpoint = self.endpoints[self.current]
            try:
                if self.credentials.user and self.token is None:
                    yield self._authenticate(endpoint)
                status, document = yield self._send(endpoint, b"POST", self.path(path), body)
            except EtcdRefusedError:
                raise
            except Exception as error:
                if not isinstance(error, (EtcdError, defer.CancelledError, defer.TimeoutError)) and not is_network(
                    error
                ):
                    raise
                reason = "%s: %s" % (endpoint, describe(error, self.timeout))
                self._next_member()
                tries += 1
                if idempotent or not sent(error):
                    reasons.append(reason)
                    continue
                raise EtcdUnknownOutcomeError("no answer from etcd (%s)" % reason) from None
            refused = error_of(document, status)
            if refused is None and status != 200:
                refused = EtcdRefusedError("etcd answered HTTP %d" % status, 0, status)
            if refused is None:
                return document
            if refused.code == UNAUTHENTICATED and self.credentials.user and not authenticated_again:
                authenticated_again = True  # the token expired: a new one, and the request again
                self.token = None
                continue
            if refused.code in TRANSIENT_CODES or status >= 500:
                self._next_member()
                tries += 1
                if idempotent:
                    reasons.append("%s: %s" % (endpoint, refused))
                    continue
                raise EtcdUnknownOutcomeError("no answer from etcd (%s: %s)" % (endpoint, refused))
            raise refused
        raise EtcdUnavailableError("etcd unavailable (%s)" % "; ".join(reasons))

    # The requests the replicated store makes.

    def range(
        self,
        key: Any,
        range_end: Optional[bytes] = None,
        revision: int = 0,
        limit: int = 0,
        keys_only: bool = False,
        serializable: bool = False,
    ) -> "defer.Deferred[Range]":
        request: Dict[str, Any] = range_request(key, range_end, limit, keys_only)["request_range"]
        if revision:
            request["revision"] = str(revision)
        if serializable:
            request["serializable"] = True
        return self.call("/kv/range", request, idempotent=True).addCallback(Range)

    def txn(
        self,
        compare: List[Dict[str, Any]],
        success: List[Dict[str, Any]],
        failure: Optional[List[Dict[str, Any]]] = None,
        idempotent: bool = False,
    ) -> "defer.Deferred[TxnResult]":
        """``idempotent``: only reads (its failure requests too), so it may be sent again."""
        request = {"compare": compare, "success": success, "failure": failure or []}
        return self.call("/kv/txn", request, idempotent).addCallback(TxnResult)

    def put(self, key: Any, value: bytes, lease: int = 0) -> "defer.Deferred[int]":
        request = put_request(key, value, lease)["request_put"]
        return self.call("/kv/put", request, idempotent=False).addCallback(revision_of)

    def delete_range(self, key: Any, range_end: Optional[bytes] = None) -> "defer.Deferred[int]":
        request = delete_request(key, range_end)["request_delete_range"]
        return self.call("/kv/deleterange", request, idempotent=False).addCallback(revision_of)

    def compact(self, revision: int) -> "defer.Deferred[Any]":
        """etcd's history before ``revision`` dropped (the keys themselves stay)."""
        return self.call("/kv/compaction", {"revision": str(revision)}, idempotent=True)

    def lease_grant(self, ttl: int) -> "defer.Deferred[Tuple[int, int]]":
        """A new lease: (its id, its TTL in seconds)."""

        def granted(document: Dict[str, Any]) -> Tuple[int, int]:
            return int(document.get("ID", 0)), int(document.get("TTL", 0))

        return self.call("/lease/grant", {"TTL": str(ttl)}, idempotent=False).addCallback(granted)

    def lease_revoke(self, lease: int) -> "defer.Deferred[Any]":
        return self.call("/kv/lease/revoke", {"ID": str(lease)}, idempotent=True)

    def status(self) -> "defer.Deferred[Dict[str, Any]]":
        return self.call("/maintenance/status", {}, idempotent=True)

    @defer.inlineCallbacks
    def lease_keepalive(self, lease: int) -> Any:
        """Keep ``lease`` alive once: its TTL in seconds, 0 when etcd no longer has it. Its
        answer is a stream: the first object is read, then the connection closed."""
        if self.api is None:
            yield self._discover()
        body = json.dumps({"ID": str(lease)}).encode("utf-8")
        reasons = []
        answers: List[Dict[str, Any]] = []

        def first(result: Dict[str, Any]) -> bool:
            answers.append(result)
            return True  # the one answer wanted

        for _ in range(len(self.endpoints)):
            endpoint = self.endpoints[self.current]
            try:
                yield self._stream(endpoint, "/lease/keepalive", body, first)
            except EtcdRefusedError:
                raise
            except Exception as error:
                if not isinstance(error, EtcdError) and not is_network(error):
                    raise
                reasons.append("%s: %s" % (endpoint, describe(error, self.timeout)))
                self._next_member()
                continue
            return int(answers[0].get("TTL", 0)) if answers else 0
        raise EtcdUnavailableError("etcd unavailable (%s)" % "; ".join(reasons))

    @defer.inlineCallbacks
    def _stream(
        self,
        endpoint: str,
        path: str,
        body: bytes,
        received: Callable[[Dict[str, Any]], Any],
        timeout: Optional[float] = None,
        on_start: Optional[Callable[[JSONStream], None]] = None,
        headers: Optional[Dict[bytes, bytes]] = None,
    ) -> Any:
        """A streamed answer: each object's ``result`` to ``received`` (True: no more), an
        error object raised. Fires once the stream has ended; ``timeout`` bounds it whole
        (the default: the client's), None... for a watch (cancelled by its owner)."""
        if self.credentials.user and self.token is None:
            yield self._authenticate(endpoint)
        all_headers = self._headers()
        for name, value in (headers or {}).items():
            all_headers.setRawHeaders(name, [value])
        url = (endpoint + self.path(path)).encode("ascii")

        def each(document: Dict[str, Any]) -> bool:
            refused = error_of(document, 200)
            if refused is not None:
                raise unavailable_if_transient(refused)
            return bool(received(document.get("result") or {}))

        stream = JSONStream(each)
        requested = self.stream_agent.request(b"POST", url, all_headers, JSONBody(body))

        def read(response: Any) -> Any:
            if response.code != 200:
                reader = BodyReader(MAX_ANSWER)
                response.deliverBody(reader)
                return reader.finished.addCallback(lambda data: self._refusal(response.code, data))
            response.deliverBody(stream)
            if on_start is not None:
                on_start(stream)
            return stream.ended

        requested.addCallback(read)
        if timeout is None:
            timeout = self.timeout
        if timeout:
            requested.addTimeout(timeout, self.reactor)
        yield requested

    def _refusal(self, status: int, data: bytes) -> None:
        _, document = self._parse((status, data))
        raise unavailable_if_transient(
            error_of(document, status) or EtcdRefusedError("etcd answered HTTP %d" % status, 0, status)
        )

    def watch(
        self,
        key: Any,
        range_end: Optional[bytes],
        start_revision: int,
        on_events: Callable[[int, List[WatchEvent]], None],
    ) -> "Watch":
        """Watch the keys from ``key`` to ``range_end`` from ``start_revision`` on; see :class:`Watch`."""
        watch = Watch(self, key, range_end, start_revision, on_events)
        watch.start()
        return watch


class Watch(object):
    """A watch: ``on_events(revision, events)`` hears each change in order; ``created`` fires
    once etcd has set it up; ``ended`` once it has ended: None after :meth:`cancel`, else the
    :class:`EtcdError` of why (:class:`EtcdCompactedError` when ``start_revision`` is older than
    etcd's history). It asks the member to end it when that member loses its Raft leader
    (``hasleader``), so that a member cut off from the others does not keep it silent."""

    def __init__(
        self,
        client: EtcdClient,
        key: Any,
        range_end: Optional[bytes],
        start_revision: int,
        on_events: Callable[[int, List[WatchEvent]], None],
    ) -> None:
        self.client = client
        self.key = key_bytes(key)
        self.range_end = range_end
        self.start_revision = start_revision
        self.on_events = on_events
        self.created: "defer.Deferred[None]" = defer.Deferred()
        self.ended: "defer.Deferred[None]" = defer.Deferred()
        self.stream: Optional[JSONStream] = None
        self.cancelled = False
        self.endpoint: Optional[str] = None
        self.last_revision = start_revision - 1  # the revision of the last change heard

    @defer.inlineCallbacks
    def start(self) -> Any:
        client = self.client
        request: Dict[str, Any] = {"key": b64(self.key), "start_revision": str(self.start_revision)}
        if self.range_end is not None:
            request["range_end"] = b64(self.range_end)
        body = json.dumps({"create_request": request}).encode("utf-8")
        reasons = []
        try:
            if client.api is None:
                yield client._discover()
            for _ in range(len(client.endpoints)):
                if self.cancelled:
                    break
                self.endpoint = endpoint = client.endpoints[client.current]
                try:
                    yield client._stream(
                        endpoint,
                        "/watch",
                        body,
                        self._result,
                        timeout=0,
                        on_start=self._started,
                        headers={b"Grpc-Metadata-hasleader": b"true"},
                    )
                except (EtcdRefusedError, EtcdCompactedError):
                    raise
                except Exception as error:
                    if not isinstance(error, (EtcdError, defer.CancelledError)) and not is_network(error):
                        raise
                    reason = "%s: %s" % (endpoint, describe(error, client.timeout))
                    if self.created.called or self.cancelled:
                        raise EtcdError(
                            "the watch on %s ended: %s" % (endpoint, describe(error, client.timeout))
                        ) from None
                    reasons.append(reason)
                    client._next_member()
                    continue
                break  # ended by cancel()
            else:
                raise EtcdUnavailableError("etcd unavailable (%s)" % "; ".join(reasons))
        except Exception as error:
            if not self.ended.called:
                self.ended.errback(error if isinstance(error, EtcdError) else EtcdError(describe(error, 0)))
            return
        if not self.ended.called:
            if self.cancelled:
                self.ended.callback(None)
            else:
                self.ended.errback(EtcdError("the watch on %s ended" % self.endpoint))

    def _started(self, stream: JSONStream) -> None:
        self.stream = stream
        if self.cancelled:
            stream.stop()

    def _result(self, result: Dict[str, Any]) -> bool:
        if result.get("canceled"):
            compacted = int(result.get("compact_revision", 0))
            if compacted:
                raise EtcdCompactedError(
                    "etcd: the watch from revision %d is older than the history kept (compacted at %d)"
                    % (self.start_revision, compacted),
                    compacted,
                )
            raise EtcdError("etcd cancelled the watch: %s" % one_line(result.get("cancel_reason") or "no reason given"))
        if result.get("created") and not self.created.called:
            self.created.callback(None)
        events = [WatchEvent(event) for event in result.get("events") or ()]
        if events:
            revision = events[-1].kv.mod_revision
            self.last_revision = max(self.last_revision, revision)
            self.on_events(revision_of(result), events)
        return self.cancelled

    def cancel(self) -> None:
        """No more events; ``ended`` fires with None."""
        if self.cancelled:
            return
        self.cancelled = True
        if self.stream is not None:
            self.stream.stop()


NETWORK_ERRORS = (
    internet_error.ConnectError,
    internet_error.DNSLookupError,
    internet_error.ConnectionLost,
    internet_error.ConnectionDone,
    internet_error.TimeoutError,
    ResponseFailed,
    ResponseNeverReceived,
    RequestTransmissionFailed,
    OSError,
)


def is_network(error: BaseException) -> bool:
    return isinstance(error, NETWORK_ERRORS)


def sent(error: BaseException) -> bool:
    """Whether a request that failed with ``error`` may have reached etcd: only a refused or
    failed connection proves it did not."""
    if isinstance(error, (internet_error.ConnectError, internet_error.DNSLookupError)):
        return False
    return True


def describe(error: Any, timeout: float) -> str:
    """A failed request's reason, in a few words."""
    if isinstance(error, Failure):
        error = error.value
    if isinstance(error, (defer.CancelledError, defer.TimeoutError, internet_error.TimeoutError)):
        return "no answer within %g s" % timeout
    if isinstance(error, internet_error.ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, (ResponseFailed, ResponseNeverReceived, RequestTransmissionFailed)):
        if any(reason.check(defer.CancelledError) for reason in error.reasons):
            return "no answer within %g s" % timeout  # cancelled by the timeout
        inner = [reason.getErrorMessage() for reason in error.reasons if not reason.check(defer.CancelledError)]
        return "connection lost (%s)" % one_line("; ".join(inner) or "no reason given", 80)
    if isinstance(error, EtcdError):
        return str(error)
    return one_line(str(error) or error.__class__.__name__, 120)

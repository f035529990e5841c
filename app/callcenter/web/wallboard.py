"""The wallboard (``callcenter-server --web ENDPOINT``): a twisted.web site showing the call
center live.

Layer: web (only with ``--web``).

``/``            the page (index.html, wallboard.css, wallboard.js in the package: no CDN, no build)
``/api/status``  the whole state as JSON (its shape is documented in docs/wallboard.md)
``/api/events``  Server-Sent Events: ``status`` (the whole state) first, then ``change`` events
``/login``       POST ``{"token": "..."}``: a session cookie, when the server has a token
``/metrics``     when ``--metrics`` names the same endpoint

Changes are sent at most once every ``UPDATE_INTERVAL`` seconds, and only what changed (the
operators whose state, call or reason changed, the head of the queue if it changed, the
figures, the degraded mode, the new lines; with several queues each one's figures and its
head if it changed), built once and written to every stream: the cost of the wallboards
does not grow with the command rate. A stream whose unsent output passes
``--max-output-buffer`` is cut off, as a TCP client is; at most ``--max-web-clients``
connections are served at once.
"""

import hashlib
import hmac
import json
import os
import pkgutil
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Set, Tuple

from twisted.internet import protocol
from twisted.logger import Logger
from twisted.protocols import policies
from twisted.web import resource, server
from zope.interface import implementer

from callcenter.core.model import RINGING
from callcenter.core.rendering import render
from callcenter.interfaces import ICallCenterObserver, IEventSubscriber
from callcenter.net.limits import DEFAULT_MAX_OUTPUT_BUFFER, DEFAULT_MAX_WEB_CLIENTS
from callcenter.net.twisted_internals import unsent_bytes

log = Logger()

UPDATE_INTERVAL = 0.1  # seconds between two change events at most: a change waits 100 ms at worst, within 200
HEARTBEAT_INTERVAL = 15.0  # a comment line on idle streams, so proxies and dead peers are noticed
RECONNECT_DELAY_MS = 1000  # what EventSource waits before it reconnects
WAITING_SHOWN = 100  # waiting calls listed; the count is always there
LINES_KEPT = 50  # the last lines the call center printed
SESSION_COOKIE = "callcenter_session"
SESSION_LIFETIME = 7 * 24 * 3600  # seconds
MAX_LOGIN_BODY = 4096
SESSION_CONTEXT = b"callcenter wallboard session "

# The page and its files, as they are shipped in the package.
PAGE_FILES = (
    (b"", "index.html", "text/html; charset=utf-8"),
    (b"wallboard.css", "wallboard.css", "text/css; charset=utf-8"),
    (b"wallboard.js", "wallboard.js", "text/javascript; charset=utf-8"),
)
# Nothing but this site's own files, no framing by other sites, no referrer sent anywhere.
SECURITY_HEADERS = (
    (b"Content-Security-Policy", b"default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    (b"X-Content-Type-Options", b"nosniff"),
    (b"Referrer-Policy", b"no-referrer"),
    (b"Cache-Control", b"no-store"),
)


def ratio(part: float, whole: float) -> Optional[float]:
    return None if not whole else 100.0 * part / whole


def figures_document(
    figures: Dict[str, Any],
    waiting_count: int,
    ringing: int,
    longest_since: Optional[float],
    now: float,
    service_level: float,
) -> Dict[str, Any]:
    """The headline figures of the whole call center, or of one queue (``--queues``)."""
    answered = figures["answered"]
    return {
        "received": figures["received"],
        "answered": answered,
        "talking": answered - figures["finished"],
        "finished": figures["finished"],
        "missed": figures["missed"],
        "missed_percent": ratio(figures["missed"], answered + figures["missed"]),
        "rejected": figures["rejected"],
        "ignored": figures["ignored"],
        "waiting": waiting_count,
        "ringing": ringing,
        "longest_waiting": None if longest_since is None else max(now - longest_since, 0.0),
        "average_wait": figures["wait_total"] / answered if answered else None,
        "longest_wait": figures["wait_longest"] if answered else None,
        "service_level": {
            "threshold": service_level,
            "within": figures["answered_in_service_level"],
            "percent": ratio(figures["answered_in_service_level"], answered),
        },
    }


def waiting_document(calls: List[Dict[str, Any]], count: int, now: float) -> Dict[str, Any]:
    return {"count": count, "calls": [dict(call, wait=max(now - call["received_at"], 0.0)) for call in calls]}


def status_document(snapshot: Dict[str, Any], lines: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The JSON of ``/api/status`` from the core's snapshot (docs/wallboard.md has its shape)."""
    now = snapshot["now"]
    waiting = snapshot["waiting"]
    service_level = snapshot["service_level"]
    ringing = sum(1 for operator in snapshot["operators"] if operator["state"] == RINGING)
    head_since = waiting[0]["received_at"] if waiting else None
    return {
        "now": now,
        # With --state-dir: the error line of a refused change while the disk refuses writes.
        "degraded": snapshot.get("degraded"),
        "operators": snapshot["operators"],
        "waiting": waiting_document(waiting, snapshot["waiting_count"], now),
        "figures": figures_document(
            snapshot["figures"], snapshot["waiting_count"], ringing, head_since, now, service_level
        ),
        # With several queues (--queues), each one's waiting calls and figures; else [].
        "queues": [
            {
                "name": queue["name"],
                "waiting": waiting_document(queue["waiting"], queue["waiting_count"], now),
                "figures": figures_document(
                    queue["figures"],
                    queue["waiting_count"],
                    queue["ringing"],
                    queue["oldest_received_at"],
                    now,
                    service_level,
                ),
            }
            for queue in snapshot["queues"]
        ],
        "lines": lines,
    }


def queue_head(waiting: Dict[str, Any]) -> Tuple[int, List[str]]:
    """What tells whether the queue shown has changed (the waits tick by themselves)."""
    return waiting["count"], [call["call"] for call in waiting["calls"]]


def sse(event: str, document: Dict[str, Any]) -> bytes:
    """One Server-Sent Event; JSON keeps it on one ``data:`` line."""
    return b"event: %s\ndata: %s\n\n" % (event.encode("ascii"), json.dumps(document, separators=(",", ":")).encode())


class Sessions(object):
    """Session cookies signed with the server's token: ``issued.nonce.mac``. Nothing is kept
    in memory, so a restarted server with the same token still knows its wallboards, and a
    new token ends every session."""

    def __init__(self, token: bytes, now: Callable[[], float]) -> None:
        self.token = token
        self.now = now

    def _mac(self, issued: str, nonce: str) -> str:
        message = SESSION_CONTEXT + ("%s.%s" % (issued, nonce)).encode("ascii")
        return hmac.new(self.token, message, hashlib.sha256).hexdigest()

    def new(self) -> str:
        issued, nonce = "%d" % self.now(), os.urandom(12).hex()
        return "%s.%s.%s" % (issued, nonce, self._mac(issued, nonce))

    def valid(self, value: Optional[str]) -> bool:
        try:
            issued, nonce, mac = (value or "").split(".")
            age = self.now() - int(issued)
            expected = self._mac(issued, nonce)
        except (ValueError, UnicodeEncodeError):
            return False
        return 0 <= age < SESSION_LIFETIME and hmac.compare_digest(mac.encode("latin-1"), expected.encode("ascii"))


def cookie(request: Any, name: str) -> Optional[str]:
    """The value of cookie ``name`` the request sent, or None."""
    for header in request.requestHeaders.getRawHeaders(b"cookie", []):
        for pair in header.decode("latin-1").split(";"):
            key, _, value = pair.strip().partition("=")
            if key == name:
                return value
    return None


def peer(request: Any) -> str:
    address = request.getClientAddress()
    return "%s:%s" % (getattr(address, "host", address), getattr(address, "port", ""))


class EventStream(object):
    """One open ``/api/events`` request."""

    __slots__ = ("request",)

    def __init__(self, request: Any) -> None:
        self.request = request


@implementer(IEventSubscriber)
class Wallboard(object):
    """What the site shows: the call center's state, the last lines, and the open streams.

    ``center`` is the core call center (with ``--state-dir``, the durable one, whose snapshot
    tells ``degraded``), read through its ``snapshot``; the wallboard hears its events (with
    ``--state-dir``, once they are durable) and keeps their lines; the degraded mode's begin
    and end are events too, and bring a change event with them."""

    def __init__(
        self,
        center: ICallCenterObserver,
        call_later: Callable[..., Any],
        now: Callable[[], float],
        max_output_buffer: int = DEFAULT_MAX_OUTPUT_BUFFER,
        auth_token: Optional[bytes] = None,
    ) -> None:
        self.center = center
        self.call_later = call_later
        self.now = now
        self.max_output_buffer = max_output_buffer
        self.sessions = None if auth_token is None else Sessions(auth_token, now)
        # (number, when, text): tuples, made for every line printed, are cheaper than dicts.
        self.lines: "Deque[Tuple[int, float, str]]" = deque(maxlen=LINES_KEPT)
        self.line_number = 0
        self.streams: "Set[EventStream]" = set()
        self._pending: Any = None  # the timer of the next change event
        self._heartbeat: Any = None
        self._last_sent = -UPDATE_INTERVAL
        self._sent_number = 0  # the number of the last line the streams have had
        # What the streams have been sent: each operator's dict, and the head of the queue.
        self._sent_operators: "Optional[List[Dict[str, Any]]]" = None
        self._sent_waiting: Any = None
        self._sent_queue_heads: "Dict[str, Any]" = {}  # the same, of each queue (--queues)
        self.changes_sent = 0
        center.subscribe(self)  # type: ignore[attr-defined]

    def heard(self, events: Sequence[Any], command: Optional[str]) -> None:
        """The call center's events: their lines are kept, and the streams told of the change."""
        lines = render(events)
        if lines:
            self.lines_printed(lines)

    def lines_printed(self, lines: List[str]) -> None:
        at = self.now()
        for line in lines:
            self.line_number += 1
            self.lines.append((self.line_number, at, line))
        if self._pending is None and self.streams:  # with no stream open, the lines are only kept
            delay = max(self._last_sent + UPDATE_INTERVAL - at, 0.0)
            self._pending = self.call_later(delay, self._send_change)

    def status(self) -> Dict[str, Any]:
        return status_document(self.center.snapshot(WAITING_SHOWN), self.lines_after(0))

    def lines_after(self, number: int) -> List[Dict[str, Any]]:
        """The lines kept whose number is above ``number``, oldest first."""
        return [{"n": n, "at": at, "line": line} for n, at, line in self.lines if n > number]

    def _send_change(self) -> None:
        self._pending = None
        self._last_sent = self.now()
        new_lines = self.lines_after(self._sent_number)
        self._sent_number = self.line_number
        if not self.streams:
            return
        document = self.status()
        change: Dict[str, Any] = {
            "now": document["now"],
            "degraded": document["degraded"],
            "figures": document["figures"],
            "lines": new_lines,
        }
        operators = document["operators"]
        sent = self._sent_operators
        if sent is None or len(sent) != len(operators):
            change["operators"] = operators
        else:
            change["operators"] = [operator for operator, before in zip(operators, sent) if operator != before]
        waiting = document["waiting"]
        if queue_head(waiting) != self._sent_waiting:
            change["waiting"] = waiting
        if document["queues"]:  # each queue's figures, and its calls when they changed
            heads = self._sent_queue_heads
            change["queues"] = [
                queue if queue_head(queue["waiting"]) != heads.get(queue["name"]) else dict(queue, waiting=None)
                for queue in document["queues"]
            ]
        self._remember(document)
        self.changes_sent += 1
        self._write_all(sse("change", change))

    def _remember(self, document: Dict[str, Any]) -> None:
        self._sent_operators = document["operators"]
        self._sent_waiting = queue_head(document["waiting"])
        self._sent_queue_heads = {queue["name"]: queue_head(queue["waiting"]) for queue in document["queues"]}

    def open_stream(self, request: Any) -> None:
        """A new ``/api/events`` request: the whole state first, then every change."""
        request.setHeader(b"Content-Type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"X-Accel-Buffering", b"no")  # no proxy holding the stream back
        document = self.status()
        if not self.streams:  # what the next change is measured against
            self._remember(document)
            self._sent_number = self.line_number
        stream = EventStream(request)
        self.streams.add(stream)
        request.notifyFinish().addBoth(lambda _: self.streams.discard(stream))
        self._write(stream, b"retry: %d\n\n" % RECONNECT_DELAY_MS + sse("status", document))
        if self._heartbeat is None:
            self._heartbeat = self.call_later(HEARTBEAT_INTERVAL, self._beat)

    def _beat(self) -> None:
        self._heartbeat = None
        if self.streams:
            self._write_all(b":\n\n")
            self._heartbeat = self.call_later(HEARTBEAT_INTERVAL, self._beat)

    def _write_all(self, data: bytes) -> None:
        for stream in list(self.streams):
            self._write(stream, data)

    def _write(self, stream: EventStream, data: bytes) -> None:
        request = stream.request
        transport = request.transport
        if transport is None or request.finished:
            self.streams.discard(stream)
            return
        request.write(data)
        unsent = unsent_bytes(transport)
        if unsent > self.max_output_buffer:
            self.streams.discard(stream)
            log.warn(
                "Closing wallboard stream of {peer}: it is not reading; {unsent} bytes of output unsent, "
                "past the limit of {limit} (--max-output-buffer)",
                peer=peer(request),
                unsent=unsent,
                limit=self.max_output_buffer,
            )
            transport.abortConnection()


def json_answer(request: Any, code: int, document: Any) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"application/json")
    return json.dumps(document).encode("utf-8")


def secure_headers(request: Any) -> None:
    for name, value in SECURITY_HEADERS:
        request.setHeader(name, value)


class WallboardResource(resource.Resource):
    """A resource of the site: the security headers on every answer, and the session check."""

    isLeaf = True
    needs_session = True

    def __init__(self, wallboard: Wallboard) -> None:
        resource.Resource.__init__(self)
        self.wallboard = wallboard

    def render(self, request: Any) -> Any:
        secure_headers(request)
        sessions = self.wallboard.sessions
        if self.needs_session and sessions is not None and not sessions.valid(cookie(request, SESSION_COOKIE)):
            return json_answer(request, 401, {"error": "authentication required"})
        return resource.Resource.render(self, request)


class NotFound(WallboardResource):
    needs_session = False

    def render(self, request: Any) -> bytes:
        secure_headers(request)
        return json_answer(request, 404, {"error": "no such page"})


class Directory(resource.Resource):
    """A path with children; anything else under it is a 404."""

    def __init__(self, wallboard: Wallboard) -> None:
        resource.Resource.__init__(self)
        self.wallboard = wallboard

    def getChild(self, path: bytes, request: Any) -> resource.Resource:
        return NotFound(self.wallboard)


class StatusResource(WallboardResource):
    def render_GET(self, request: Any) -> bytes:
        return json_answer(request, 200, self.wallboard.status())


class EventsResource(WallboardResource):
    def render_GET(self, request: Any) -> Any:
        self.wallboard.open_stream(request)
        return server.NOT_DONE_YET


class LoginResource(WallboardResource):
    """``POST /login`` with ``{"token": "..."}`` in the body (never in the URL): a session
    cookie that scripts cannot read and other sites cannot send."""

    needs_session = False

    def render_GET(self, request: Any) -> bytes:
        request.setHeader(b"Allow", b"POST")
        return json_answer(request, 405, {"error": "POST the token"})

    def render_POST(self, request: Any) -> bytes:
        sessions = self.wallboard.sessions
        if sessions is None:
            return json_answer(request, 400, {"error": "this server takes no token"})
        try:
            token = json.loads(request.content.read(MAX_LOGIN_BODY).decode("utf-8"))["token"]
            right = hmac.compare_digest(token.encode("utf-8"), sessions.token)
        except (ValueError, KeyError, TypeError, AttributeError):
            return json_answer(request, 400, {"error": 'send {"token": "..."} as JSON'})
        if not right:
            log.warn("Wallboard login failed from {peer}: wrong token", peer=peer(request))
            return json_answer(request, 401, {"error": "wrong token"})
        attributes = "Path=/; Max-Age=%d; HttpOnly; SameSite=Strict" % SESSION_LIFETIME
        if request.isSecure():
            attributes += "; Secure"
        request.setHeader(b"Set-Cookie", ("%s=%s; %s" % (SESSION_COOKIE, sessions.new(), attributes)).encode())
        return json_answer(request, 200, {"response": "authenticated"})


class PageResource(WallboardResource):
    """One file of the page, read from the package once."""

    needs_session = False  # the page asks for the token itself

    def __init__(self, wallboard: Wallboard, name: str, content_type: str) -> None:
        WallboardResource.__init__(self, wallboard)
        data = pkgutil.get_data("callcenter.web", "static/" + name)
        assert data is not None, name
        self.data = data
        self.content_type = content_type.encode("ascii")

    def render_GET(self, request: Any) -> bytes:
        request.setHeader(b"Content-Type", self.content_type)
        return self.data


class RefusedWebClient(protocol.Protocol):
    """A web connection past ``--max-web-clients``: a 503 answer, then closed."""

    transport: Any

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def connectionMade(self) -> None:
        body = b"too many web clients (limit %d, --max-web-clients)\n" % self.limit
        self.transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        self.transport.loseConnection()


class WebClientLimit(policies.WrappingFactory):
    """The site's factory, serving at most ``limit`` connections at once."""

    noisy = False

    def __init__(self, site: server.Site, limit: int) -> None:
        policies.WrappingFactory.__init__(self, site)  # type: ignore[arg-type]
        self.limit = limit

    def buildProtocol(self, addr: Any) -> Any:
        if len(self.protocols) >= self.limit:
            return RefusedWebClient(self.limit)
        return policies.WrappingFactory.buildProtocol(self, addr)


class WebSite(server.Site):
    """No line per request in the log: a wall screen polls all day, and nothing secret is
    ever in a URL anyway."""

    noisy = False

    def log(self, request: Any) -> None:
        pass


def wallboard_site(
    wallboard: Wallboard, max_clients: int = DEFAULT_MAX_WEB_CLIENTS, metrics: Optional[Any] = None
) -> WebClientLimit:
    """The site of ``--web``; ``metrics``, a resource, is served at /metrics."""
    root = Directory(wallboard)
    for path, name, content_type in PAGE_FILES:
        root.putChild(path, PageResource(wallboard, name, content_type))
    api = Directory(wallboard)
    api.putChild(b"status", StatusResource(wallboard))
    api.putChild(b"events", EventsResource(wallboard))
    root.putChild(b"api", api)
    root.putChild(b"login", LoginResource(wallboard))
    if metrics is not None:
        root.putChild(b"metrics", metrics)
    return WebClientLimit(WebSite(root), max_clients)

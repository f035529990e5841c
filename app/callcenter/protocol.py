"""The wire protocol: newline-delimited UTF-8 JSON objects.

Request  ``{"command": "call", "id": "1"}`` (``status`` and ``stats`` take no id)
Reply    ``{"response": "Call 1 received\\nCall 1 ringing for operator A"}``
         or ``{"error": "<why>"}``: exactly one per request, in request order
Event    ``{"event": "Call 1 ignored by operator A\\nCall 1 ringing for operator B"}``
         to every connected client when a ring times out

The server also takes ``\r\n`` lines (and answers them in ``\r\n``) and bare objects
with no delimiter (see ``RequestReceiver``); docs/protocol.md has the whole of it.
"""

import hmac
import json
from collections import deque
from typing import Any, Callable, Deque, List, Optional, Set, Tuple

from twisted.internet import abstract, protocol, tcp
from twisted.logger import Logger
from twisted.python.failure import Failure

from callcenter.core import CallCenter, CallCenterError
from callcenter.limits import CountingLog
from callcenter.lines import LineReceiver, RequestReceiver
from callcenter.observers import ICallCenterObserver
from callcenter.options import DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_OUTPUT_BUFFER

log = Logger()

# The C encoder of JSON strings (always pure ASCII, so valid UTF-8 as it is).
_json_string = json.encoder.encode_basestring_ascii


def encode(kind: str, message: str) -> bytes:
    """One message line: ``{"<kind>": "<message>"}`` and its newline."""
    return ('{"%s": %s}\n' % (kind, _json_string(message))).encode("ascii")


def encode_request(command: str, argument: Optional[str]) -> bytes:
    """A request as the assignment's table writes it."""
    request = {"command": command}
    if argument is not None:
        request["id"] = argument
    return (json.dumps(request) + "\n").encode("utf-8")


def decode_request(line: bytes) -> Tuple[str, Optional[str]]:
    """``(command, id or None)`` from one request; CallCenterError when it is not one.
    A line holding several JSON values back to back raises :class:`SeveralRequestsError`."""
    try:
        request = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise CallCenterError("request is not valid UTF-8") from None
    except ValueError as error:
        if getattr(error, "msg", None) == "Extra data":
            raise SeveralRequestsError(line) from None
        raise CallCenterError("request is not valid JSON") from None
    except RecursionError:
        raise CallCenterError("request is not valid JSON") from None
    if not isinstance(request, dict):
        raise CallCenterError('request must be a JSON object like {"command": "call", "id": "1"}')
    command = request.get("command")
    if not isinstance(command, str):
        raise CallCenterError('request needs a "command" string')
    argument = request.get("id")
    if argument is not None and not isinstance(argument, str):
        if isinstance(argument, int) and not isinstance(argument, bool):
            argument = str(argument)  # {"id": 1} is call "1"
        else:
            raise CallCenterError('"id" must be a string')
    return command, argument


class SeveralRequestsError(Exception):
    """A line with JSON values back to back (``{...}{...}``): each is a request."""

    def __init__(self, line: bytes) -> None:
        Exception.__init__(self)
        self.line = line

    def requests(self) -> List[bytes]:
        """Each value's text; what follows a part that is not JSON is one more, bad, request."""
        text = self.line.decode("utf-8")
        decoder = json.JSONDecoder()
        requests = []
        position = 0
        while position < len(text):
            try:
                _, end = decoder.raw_decode(text, position)
            except (ValueError, RecursionError):
                end = len(text)
            requests.append(text[position:end].encode("utf-8"))
            position = end
            while position < len(text) and text[position] in " \t\r\n":
                position += 1
        return requests


def encode_auth(token: str) -> bytes:
    return (json.dumps({"command": "auth", "token": token}) + "\n").encode("utf-8")


def token_of_auth_request(request: bytes) -> Optional[str]:
    """The token of an ``{"command": "auth", "token": "..."}`` request; None for any other.
    A line holding several JSON values raises :class:`SeveralRequestsError`."""
    try:
        value = json.loads(request.decode("utf-8"))
    except ValueError as error:  # UnicodeDecodeError too
        if getattr(error, "msg", None) == "Extra data":
            raise SeveralRequestsError(request) from None
        return None
    except RecursionError:
        return None
    if isinstance(value, dict) and value.get("command") == "auth" and isinstance(value.get("token"), str):
        return value["token"]
    return None


def decode_message(line: bytes) -> Tuple[str, str]:
    """``(kind, message)`` from a server line; kind is response, error or event."""
    try:
        message = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        raise CallCenterError("the server sent a line that is not JSON: %r" % (line[:80],)) from None
    if isinstance(message, dict) and len(message) == 1:
        ((kind, text),) = message.items()
        if kind in ("response", "error", "event") and isinstance(text, str):
            return kind, text
    raise CallCenterError("the server sent an unexpected message: %r" % (line[:80],))


def send_now(transport: Any, data: bytes) -> None:
    """``transport.write(data)``, but on a plain TCP or Unix connection with nothing
    waiting in its buffer, sent at once: one ``send()`` now instead of registering for
    writability and sending on the reactor's next turn (two ``epoll_ctl`` calls and a
    loop iteration saved, for every reply and for each of thousands of event copies).
    What the socket does not take, and any error, is left to ``transport.write``.

    It reads ``dataBuffer`` and ``_tempDataLen`` of Twisted's FileDescriptor (the same
    from 22.4 to today). Anything else, TLS above all (its wrapper forwards ``.socket``
    to the raw connection), goes through ``transport.write``."""
    if (
        isinstance(transport, tcp.Connection)
        and transport.connected
        and not transport.disconnecting
        and not transport.dataBuffer
        and not transport._tempDataLen
    ):
        try:
            sent = transport.socket.send(data)
        except OSError:
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)


def unsent_bytes(transport: Any) -> int:
    """Bytes written to ``transport`` that the kernel has not taken yet.

    Twisted has no public call for it. Every socket transport is a FileDescriptor that
    keeps its output in ``dataBuffer`` (sent up to ``offset``) and ``_tempDataBuffer``
    (``_tempDataLen`` bytes), the same from 22.4 to today (pinned by a test). A TLS
    transport wraps the TCP one as ``.transport`` and passes its output straight down."""
    while not isinstance(transport, abstract.FileDescriptor):
        transport = getattr(transport, "transport", None)
        if transport is None:
            return 0
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


BROADCAST_CHUNK = 1000  # event copies sent in one reactor turn


class CallCenterServerProtocol(RequestReceiver):
    """One client connection of the server.

    Flow control: the connection is the streaming producer of its own transport, so
    once its unsent replies pass the transport's buffer size (64 KiB) Twisted pauses
    it, which stops reading its requests (``LineReceiver`` keeps the lines already
    read), and resumes it when they have drained. Events still go out to a paused
    client, up to the factory's ``max_output_buffer`` of unsent bytes; past it the
    client is disconnected, so a peer that never reads cannot grow the server."""

    factory: "CallCenterServerFactory"
    # The number of the last event this client has had (or that was before it connected).
    last_event = 0
    cut_off = False  # disconnected for not reading: nothing more is sent
    authenticated = False  # has sent the server's token (when the server has one)
    _last_words: "Optional[bytes]" = None  # the reply after which the connection closes

    def connectionMade(self) -> None:
        self.last_event = self.factory.events_made
        self.factory.clients.add(self)
        self.transport.registerProducer(self, True)
        log.info("Connection from {peer}", peer=self.transport.getPeer())

    def send(self, data: bytes) -> None:
        """Every byte to the client goes out here: at once, or, with a journal, once the
        records of what caused it are on disk (``factory.hold``: callcenter.durable)."""
        hold = self.factory.hold
        if hold is None or not hold(self, data):
            self.deliver(data)

    def deliver(self, data: bytes) -> None:
        """Out now, in the line ending of the client's requests."""
        if self.cut_off:
            return
        closing = data is self._last_words
        if self.crlf:
            data = data.replace(b"\n", b"\r\n")  # JSON escapes newlines in strings: these end lines
        send_now(self.transport, data)
        limit = self.factory.max_output_buffer
        if unsent_bytes(self.transport) > limit:
            self.cut_off = True
            log.warn(
                "Closing connection from {peer}: it is not reading; {unsent} bytes of output unsent, "
                "past the limit of {limit} (--max-output-buffer)",
                peer=self.transport.getPeer(),
                unsent=unsent_bytes(self.transport),
                limit=limit,
            )
            self.transport.abortConnection()
        elif closing:
            self.transport.unregisterProducer()  # a TLS connection closes only once it has none
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.factory.clients.discard(self)
        log.info("Connection from {peer} closed", peer=self.transport.getPeer())

    def dataReceived(self, data: bytes) -> None:
        """The replies to all the requests in one read go out in one write."""
        if self.factory.events and (self.authenticated or self.factory.auth_token is None):
            self.factory.send_owed_events(self)
        self._replies: List[bytes] = []  # lines are only handled from here, so always set
        try:
            RequestReceiver.dataReceived(self, data)
        finally:
            if self._replies:
                self.send(b"".join(self._replies))

    def requestReceived(self, request: bytes) -> None:
        if self._last_words is not None:
            return  # authentication failed: closing
        if self.factory.auth_token is not None and not self.authenticated:
            self.authenticate(request)
        else:
            self._replies.append(self.factory.reply(request))

    def authenticate(self, request: bytes) -> None:
        """Until the token has come, every request is refused; a wrong token ends the connection."""
        try:
            token = token_of_auth_request(request)
        except SeveralRequestsError as several:
            for one in several.requests():
                if not self.transport.disconnecting:
                    self.requestReceived(one)
            return
        expected = self.factory.auth_token or b""
        if token is None:
            self._replies.append(encode("error", "authentication required"))
        elif expected and hmac.compare_digest(token.encode("utf-8"), expected):
            self.authenticated = True
            self.last_event = self.factory.events_made  # events reach it from now on
            self._replies.append(encode("response", "authenticated"))
        else:
            log.warn("Closing connection from {peer}: authentication failed", peer=self.transport.getPeer())
            # The connection closes once this reply is out, which with a journal may be
            # after a commit (replies keep their order); nothing more is read meanwhile.
            self._last_words = b"".join(self._replies) + encode("error", "authentication failed")
            self._replies = []
            self.send(self._last_words)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._replies.append(encode("error", "request longer than %d bytes" % self.MAX_LENGTH))


class RefusedProtocol(protocol.Protocol):
    """A connection beyond ``--max-connections``: one error line, then closed."""

    transport: Any  # set by makeConnection

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def connectionMade(self) -> None:
        self.transport.write(encode("error", "too many connections (limit %d)" % self.limit))
        self.transport.loseConnection()


class Event(object):
    """A ring-timeout message on its way to the clients connected when it happened."""

    __slots__ = ("clients", "message", "number", "sent")

    def __init__(self, number: int, message: bytes, clients: "List[CallCenterServerProtocol]") -> None:
        self.number = number
        self.message = message
        self.clients = clients
        self.sent = 0  # clients[:sent] have been through


class CallCenterServerFactory(protocol.Factory):
    """The one call center that every connection shares."""

    protocol = CallCenterServerProtocol  # type: ignore[assignment]

    def __init__(
        self,
        operator_ids: List[str],
        call_later: Any,
        ring_timeout: float,
        max_output_buffer: int = DEFAULT_MAX_OUTPUT_BUFFER,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        auth_token: Optional[bytes] = None,
        center: Any = None,
        **center_options: Any,
    ) -> None:
        """``center``: a call center built elsewhere (a DurableCallCenter, which is given the
        center options itself); its events come here."""
        self.max_output_buffer = max_output_buffer
        self.max_connections = max_connections
        self.auth_token = auth_token  # None: no authentication
        self.count_refused = CountingLog(
            call_later,
            lambda count: log.warn(
                "Refused {count} connection(s) since the last such message: too many connections "
                "(limit {limit}, --max-connections)",
                count=count,
                limit=max_connections,
            ),
        )
        if center is None:
            # center_options: CallCenter's keyword arguments (now, service_level, on_timing).
            center = CallCenter(operator_ids, call_later, ring_timeout, **center_options)
        center.on_event = self.broadcast
        self.center = center
        # With a journal: (connection, bytes) -> True when it keeps the bytes until its commit.
        self.hold: Optional[Callable[[CallCenterServerProtocol, bytes], bool]] = getattr(center, "hold", None)
        self.clients: "Set[CallCenterServerProtocol]" = set()
        self.call_later = call_later
        self.events: "Deque[Event]" = deque()  # still being sent, oldest first
        self.events_made = 0
        self.observers: "List[ICallCenterObserver]" = []

    def add_observer(self, observer: ICallCenterObserver) -> None:
        """``observer`` hears the lines of every command and event from now on."""
        self.observers.append(ICallCenterObserver(observer))

    def _tell_observers(self, lines: List[str]) -> None:
        for observer in self.observers:
            observer.lines_printed(lines)

    def stopFactory(self) -> None:
        self.count_refused.flush()

    def buildProtocol(self, addr: Any) -> Any:
        if len(self.clients) >= self.max_connections:
            self.count_refused()
            return RefusedProtocol(self.max_connections)
        return protocol.Factory.buildProtocol(self, addr)

    def reply(self, line: bytes) -> bytes:
        """The reply line to one request (the reply lines, when it holds several)."""
        try:
            command, argument = decode_request(line)
            if command == "auth":
                return encode("error", "already authenticated" if self.auth_token else "this server takes no token")
            lines = self.center.execute(command, argument)
            if self.observers and command in self.center.commands:
                self._tell_observers(lines)
            return encode("response", "\n".join(lines))
        except CallCenterError as error:
            return encode("error", str(error))
        except SeveralRequestsError as several:
            return b"".join(self.reply(request) for request in several.requests())

    def broadcast(self, lines: List[str]) -> None:
        """A ring timed out: tell every client, ``BROADCAST_CHUNK`` clients a reactor turn,
        so that with thousands connected, requests keep being answered meanwhile. A
        client that sends a request first gets the events it is owed, so each client
        still sees events and replies in the order they happened."""
        message = encode("event", "\n".join(lines))
        self.events_made += 1
        if self.auth_token is None:
            clients = list(self.clients)
        else:  # events tell call ids: only to clients that sent the token
            clients = [client for client in self.clients if client.authenticated]
        self.events.append(Event(self.events_made, message, clients))
        log.info("{event} (sent to {count} clients)", event=" / ".join(lines), count=len(clients))
        self._tell_observers(lines)
        if len(self.events) == 1:
            self._send_events()

    def _send_events(self) -> None:
        event = self.events[0]
        end = event.sent + BROADCAST_CHUNK
        for client in event.clients[event.sent : end]:
            if client.last_event < event.number:
                client.last_event = event.number
                client.send(event.message)
        event.sent = end
        if end >= len(event.clients):
            self.events.popleft()
        if self.events:
            self.call_later(0, self._send_events)

    def send_owed_events(self, client: CallCenterServerProtocol) -> None:
        """Before ``client``'s request is answered: the events it has not had yet."""
        for event in self.events:
            if client.last_event < event.number:
                client.last_event = event.number
                client.send(event.message)


class CallCenterClientProtocol(LineReceiver):
    """The client's connection: requests out, replies and events in."""

    factory: "CallCenterClientFactory"
    MAX_LENGTH = 1 << 26  # a status reply lists every operator and queued call

    def connectionMade(self) -> None:
        self.factory.client.connected(self)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.factory.client.disconnected(reason)

    def dataReceived(self, data: bytes) -> None:
        """What the replies in one read print goes out in one write."""
        output = self.factory.client.output
        output.batch()
        try:
            LineReceiver.dataReceived(self, data)
        finally:
            output.flush()

    def lineReceived(self, line: bytes) -> None:
        client = self.factory.client
        try:
            kind, text = decode_message(line)
        except CallCenterError as error:
            client.output.error(str(error))
            return
        if kind == "event":
            client.output.lines(text.split("\n"))
        else:
            client.replied(kind, text)

    def lineLengthExceeded(self, line: bytes) -> None:
        self.factory.client.replied("error", "the server sent a line longer than %d bytes" % self.MAX_LENGTH)


class CallCenterClientFactory(protocol.Factory):
    """Builds the client's connections, each reporting to the one :class:`RemoteCallCenter`."""

    protocol = CallCenterClientProtocol  # type: ignore[assignment]

    def __init__(self, client: Any) -> None:
        self.client = client

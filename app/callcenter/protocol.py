"""The server's and the client's Twisted protocols: framing, flow control, fan-out of events.

Layer: protocols. What goes on the wire is :mod:`callcenter.wire`'s (pure codec); how bytes
become requests is :mod:`callcenter.lines`'s (``RequestReceiver``, which feeds a
``scanner.ValueScanner``). Here a connection turns requests into replies through the
factory's call center (``interfaces.ICallCenter``) and sends every byte through
:meth:`CallCenterServerProtocol.send`, which waits for the disk when there is a journal
(``interfaces.IDurableOutput``). docs/protocol.md has the protocol.
"""

import hmac
from collections import OrderedDict, deque
from typing import Any, Deque, List, Optional, Set

from twisted.internet import protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from callcenter.core import QUERIES, CallCenterError
from callcenter.interfaces import ICallCenter, IDurableOutput, IPrintedLinesObserver
from callcenter.lines import LineReceiver, RequestReceiver
from callcenter.ratelimit import CountingLog
from callcenter.twisted_internals import send_now, unsent_bytes
from callcenter.wire import (
    AUTH_REQUEST,
    OPERATORS_REQUEST,
    WireError,
    decode_message,
    encode,
    load_line,
    request_of,
    token_of,
)

log = Logger()

DEFAULT_MAX_OUTPUT_BUFFER = 16 << 20  # bytes of unsent output a client may hold
DEFAULT_MAX_CONNECTIONS = 10000
DEFAULT_AUTH_TIMEOUT = 10.0  # seconds a connection has to send the token
# Connections still to send the token, held at once (sshd's MaxStartups is the model).
DEFAULT_MAX_UNAUTHENTICATED = 100
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
    _auth_deadline: Any = None  # the IDelayedCall that closes it if the token has not come

    def connectionMade(self) -> None:
        self.last_event = self.factory.events_made
        self.factory.clients.add(self)
        self.transport.registerProducer(self, True)
        log.info("Connection from {peer}", peer=self.transport.getPeer())
        if self.factory.auth_token is not None:
            self.factory.admit_unauthenticated(self)
            if self.factory.auth_timeout:
                self._auth_deadline = self.factory.call_later(
                    self.factory.auth_timeout, self.expel, "authentication timed out"
                )

    def expel(self, reason: str) -> None:
        """Closed before authenticating: one error line, then closed. It leaves the pool of
        unauthenticated connections and the count of ``--max-connections`` at once, so that
        a peer that never reads cannot hold a place while its connection closes."""
        self._leave_unauthenticated()
        self.factory.clients.discard(self)
        log.info("Closing connection from {peer}: {reason}", peer=self.transport.getPeer(), reason=reason)
        self._last_words = encode("error", reason)
        self.send(self._last_words)

    def _leave_unauthenticated(self) -> None:
        self.factory.unauthenticated.pop(self, None)
        if self._auth_deadline is not None and self._auth_deadline.active():
            self._auth_deadline.cancel()
        self._auth_deadline = None

    def send(self, data: bytes) -> None:
        """Every byte to the client goes out here: at once, or, with a journal, once the
        records of what caused it are on disk (``factory.durable_output``)."""
        durable_output = self.factory.durable_output
        waiting = None if durable_output is None else durable_output.when_durable()
        if waiting is None:
            self.deliver(data)
        else:
            waiting.addCallback(lambda _: self.deliver(data))

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
        self._leave_unauthenticated()
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
            value, several = load_line(request)
        except WireError:
            value, several = None, None
        if several is not None:
            for one in several:
                if not self.transport.disconnecting:
                    self.requestReceived(one)
            return
        token = token_of(value)
        expected = self.factory.auth_token or b""
        if token is None:
            self._replies.append(encode("error", "authentication required"))
        elif expected and hmac.compare_digest(token.encode("utf-8"), expected):
            self.authenticated = True
            self._leave_unauthenticated()
            self.last_event = self.factory.events_made  # events reach it from now on
            self._replies.append(encode("response", "authenticated"))
        else:
            log.warn("Closing connection from {peer}: authentication failed", peer=self.transport.getPeer())
            self._leave_unauthenticated()
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
        center: ICallCenter,
        call_later: Any,
        max_output_buffer: int = DEFAULT_MAX_OUTPUT_BUFFER,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        auth_token: Optional[bytes] = None,
        durable_output: Optional[IDurableOutput] = None,
        auth_timeout: float = DEFAULT_AUTH_TIMEOUT,
        max_unauthenticated: int = DEFAULT_MAX_UNAUTHENTICATED,
    ) -> None:
        """``center``: the call center every connection shares (its events come here);
        ``durable_output``: with a journal, what replies and events wait for;
        ``auth_timeout`` (0: none) and ``max_unauthenticated``: how long and how many
        connections may wait to send the token, when there is one."""
        self.max_output_buffer = max_output_buffer
        self.max_connections = max_connections
        self.auth_token = auth_token  # None: no authentication
        self.auth_timeout = auth_timeout
        self.max_unauthenticated = max_unauthenticated
        # Connections still to send the token, oldest first (an ordered set).
        self.unauthenticated: "OrderedDict[CallCenterServerProtocol, None]" = OrderedDict()
        self.count_refused = CountingLog(
            call_later,
            lambda count: log.warn(
                "Refused {count} connection(s) since the last such message: too many connections "
                "(limit {limit}, --max-connections)",
                count=count,
                limit=max_connections,
            ),
        )
        center.on_event = self.broadcast
        self.center = center
        self.durable_output = durable_output
        self.clients: "Set[CallCenterServerProtocol]" = set()
        self.call_later = call_later
        self.events: "Deque[Event]" = deque()  # still being sent, oldest first
        self.events_made = 0
        self.observers: "List[IPrintedLinesObserver]" = []

    def add_observer(self, observer: IPrintedLinesObserver) -> None:
        """``observer`` hears the lines of every command and event from now on."""
        self.observers.append(IPrintedLinesObserver(observer))

    def _tell_observers(self, lines: List[str]) -> None:
        for observer in self.observers:
            observer.lines_printed(lines)

    def stopFactory(self) -> None:
        self.count_refused.flush()

    def admit_unauthenticated(self, client: CallCenterServerProtocol) -> None:
        """``client`` waits for its token; when the pool of those is full, it takes the
        place of the oldest, so that those without the token never keep out one with it."""
        if len(self.unauthenticated) >= self.max_unauthenticated:
            self._expel_oldest_unauthenticated()
        self.unauthenticated[client] = None

    def _expel_oldest_unauthenticated(self) -> None:
        oldest = next(iter(self.unauthenticated))
        oldest.expel("too many connections waiting to authenticate (limit %d)" % self.max_unauthenticated)

    def buildProtocol(self, addr: Any) -> Any:
        if len(self.clients) >= self.max_connections and self.unauthenticated:
            self._expel_oldest_unauthenticated()  # the same rule when all the places are taken
        if len(self.clients) >= self.max_connections:
            self.count_refused()
            return RefusedProtocol(self.max_connections)
        return protocol.Factory.buildProtocol(self, addr)

    def reply(self, line: bytes) -> bytes:
        """The reply line to one request (the reply lines, when it holds several)."""
        try:
            value, several = load_line(line)
            if several is not None:
                return b"".join(self.reply(request) for request in several)
            command, argument = request_of(value)
            if command == AUTH_REQUEST:
                return encode("error", "already authenticated" if self.auth_token else "this server takes no token")
            if command == OPERATORS_REQUEST and argument is None:
                return encode("response", "\n".join(self.center.operator_ids()))
            lines = self.center.execute(command, argument)
            if self.observers and command not in QUERIES:
                self._tell_observers(lines)
            return encode("response", "\n".join(lines))
        except (WireError, CallCenterError) as error:
            return encode("error", str(error))

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
        except WireError as error:
            client.output.error(str(error))
            return
        if kind == "event":
            client.output.lines(text.split("\n"))
        else:
            client.replied(kind, text)

    def lineLengthExceeded(self, line: bytes) -> None:
        self.factory.client.replied("error", "the server sent a line longer than %d bytes" % self.MAX_LENGTH)


class CallCenterClientFactory(protocol.Factory):
    """Builds the client's connections, each reporting to the one :class:`RequestCorrelator`."""

    protocol = CallCenterClientProtocol  # type: ignore[assignment]

    def __init__(self, client: Any) -> None:
        self.client = client

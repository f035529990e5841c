"""The server's and the client's Twisted protocols: framing, flow control, fan-out of events.

Layer: protocols. What goes on the wire is :mod:`callcenter.net.wire`'s (pure codec); how bytes
become requests is :mod:`callcenter.net.lines`'s (``RequestReceiver``, which feeds a
``scanner.ValueScanner``). Here a connection turns requests into replies through the
factory's call center (``interfaces.ICallCenter``) and sends every byte through
:meth:`CallCenterServerProtocol._send`, which waits for the disk when there is a journal
(``interfaces.IDurableOutput``). The factory hears the call center's events
(``interfaces.IEventSubscriber``) and sends those no command caused to every client. A
reply's text, and an event's, are the lines of its events (``core.rendering``); a
connection that sent ``subscribe`` gets the events themselves too. docs/protocol.md has the
protocol.
"""

import hmac
from collections import OrderedDict, deque
from typing import Any, Deque, List, Optional, Sequence, Set

from twisted.internet import protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from callcenter.core.center import COMMANDS, QUERIES, CallCenterError
from callcenter.core.rendering import render, text_of
from callcenter.interfaces import ChangeNotStored, ICallCenter, IDurableOutput, IEventSubscriber, ILeadership
from callcenter.net.limits import (
    DEFAULT_AUTH_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_OUTPUT_BUFFER,
    DEFAULT_MAX_UNAUTHENTICATED,
)
from callcenter.net.lines import LineReceiver, RequestReceiver
from callcenter.net.ratelimit import CountingLog
from callcenter.net.twisted_internals import send_now, unsent_bytes
from callcenter.net.wire import (
    AUTH_REQUEST,
    OPERATORS_REQUEST,
    QUEUES_REQUEST,
    ROLE_REQUEST,
    SUBSCRIBE_REQUEST,
    WireError,
    decode_message,
    encode,
    encode_reply,
    encode_with_events,
    load_line,
    request_of,
    token_of,
    usual_request,
)

log = Logger()

BROADCAST_CHUNK = 1000  # event copies sent in one reactor turn
# Bytes of unsent output past which a connection handles no more requests until it drains:
# the transport's own buffer size (Twisted pauses its producer past it), which also bounds
# the replies gathered into one write.
OUTPUT_BOUND = 1 << 16
AUTHENTICATION_REQUIRED = encode("error", "authentication required")
COMMAND_WORDS = frozenset(COMMANDS)


class CallCenterServerProtocol(RequestReceiver):
    """One client connection of the server.

    Flow control, per request: the connection stops handling requests as soon as its
    unsent output passes ``OUTPUT_BOUND``, wherever it is in a read, and goes on from
    the next request once that output has drained. Unsent output is what the transport
    has not sent yet (past its own 64 KiB, Twisted pauses the connection, its streaming
    producer, and resumes it once drained) and, with a journal, the replies waiting for
    a commit (counted here: the connection stops itself, and goes on by itself once
    they are all out). Stopping leaves the requests already read waiting, in order
    (``RequestReceiver``), and stops reading the socket. Events still go out to a
    stopped client, up to the factory's ``max_output_buffer`` of unsent bytes; past it
    the client is disconnected, so a peer that never reads cannot grow the server."""

    factory: "CallCenterServerFactory"
    # The number of the last event this client has had (or that was before it connected).
    last_event = 0
    cut_off = False  # disconnected for not reading: nothing more is sent
    authenticated = False  # has sent the server's token (when the server has one)
    subscribed = False  # has sent subscribe: its replies and events carry their events
    closing = False  # its last reply is on its way: no request is handled any more
    # Requests go straight to the call center: not closing, and authenticated or with no
    # token to send. One flag, read at every request.
    _admitted = False
    _auth_deadline: Any = None  # the IDelayedCall that closes it if the token has not come
    # Why requests wait (reading stops while any holds): the transport's buffer is full
    # (Twisted's pauseProducing), replies waiting for a commit fill the bound, or it is
    # stopped for good (lost, or the server stopping).
    _transport_full = False
    _waiting_for_commit = False
    _stopped = False
    _held = 0  # bytes of replies and events waiting for a commit
    _room = OUTPUT_BOUND  # what the replies being gathered may add before they go out

    def connectionMade(self) -> None:
        self.last_event = self.factory.events_made
        self.factory.clients.add(self)
        self._replies: List[bytes] = []  # gathered, to go out in one write
        self._replies_size = 0
        self.transport.registerProducer(self, True)
        log.info("Connection from {peer}", peer=self.transport.getPeer())
        self._admitted = self.factory.auth_token is None
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
        self.closing, self._admitted = True, False
        self._send([encode("error", reason)], replies=True, closing=True)

    def close_with_event(self, message: bytes) -> None:
        """The server stops serving this client: the replies gathered go, then ``message``
        (an event), then the connection closes; nothing more is read."""
        self.stop_reading()
        self.closing, self._admitted = True, False
        self._send_replies()
        self._send([message], replies=False, closing=True)

    def _leave_unauthenticated(self) -> None:
        self.factory.unauthenticated.pop(self, None)
        if self._auth_deadline is not None and self._auth_deadline.active():
            self._auth_deadline.cancel()
        self._auth_deadline = None

    # Output: every byte to the client goes out through _send.

    def send_event(self, event: "Event") -> None:
        self._send([event.message_for(self)], replies=False)

    def _send(self, pieces: List[bytes], replies: bool, closing: bool = False) -> Optional[int]:
        """``pieces`` (replies, or one event) out at once, or, with a journal, once the
        records of what caused them are on disk (``factory.durable_output``). They stay
        separate until then: when the disk refuses the records, each reply becomes an
        error line and events are dropped. What ``deliver`` tells when they went out at once."""
        durable_output = self.factory.durable_output
        waiting = None if durable_output is None else durable_output.when_durable()
        if waiting is None:
            return self.deliver(b"".join(pieces), closing)
        size = sum(map(len, pieces))
        self._held += size
        waiting.addBoth(self._committed, pieces, size, replies, closing)
        return None

    def _committed(self, result: Any, pieces: List[bytes], size: int, replies: bool, closing: bool) -> Any:
        """The commit that ``pieces`` waited for is done (or refused). The result goes on
        unchanged: every connection waiting on the same commit is told the same."""
        self._held -= size
        if not isinstance(result, Failure):
            self.deliver(b"".join(pieces), closing)
        elif result.check(ChangeNotStored):
            refusal = self.factory.error(str(result.value), self)
            self.deliver(refusal * len(pieces) if replies else b"", closing)
        else:
            self.factory.log_unexpected_failure(result)
            self.deliver(b"", closing)
        # Only once every held piece is out: a reply needing no commit, answered earlier,
        # would go out at once, before those still held.
        if self._waiting_for_commit and not self._held:
            self._waiting_for_commit = False
            try:
                self._go_on()
            except Exception:
                # A bug here must not become the result the other connections hear.
                log.failure("Handling requests after a commit failed")
        return result

    def deliver(self, data: bytes, closing: bool = False) -> Optional[int]:
        """Out now, in the line ending of the client's requests. The bytes still unsent after
        it (``unsent_bytes``), or None when nothing more goes to this connection."""
        if self.cut_off:
            return None
        if self.crlf:
            data = data.replace(b"\n", b"\r\n")  # JSON escapes newlines in strings: these end lines
        unsent = 0 if data and send_now(self.transport, data) else unsent_bytes(self.transport)
        limit = self.factory.max_output_buffer
        if unsent > limit:
            self.cut_off = True
            log.warn(
                "Closing connection from {peer}: it is not reading; {unsent} bytes of output unsent, "
                "past the limit of {limit} (--max-output-buffer)",
                peer=self.transport.getPeer(),
                unsent=unsent,
                limit=limit,
            )
            self.transport.abortConnection()
            return None
        # Kept as of the last write: the output only drains between writes, so it errs short.
        self._room = OUTPUT_BOUND - unsent
        if closing:
            self.transport.unregisterProducer()  # a TLS connection closes only once it has none
            self.transport.loseConnection()
            return None
        return unsent

    def _reply(self, reply: bytes) -> None:
        """One request's reply, gathered; once the replies gathered would take the output
        past ``OUTPUT_BOUND`` they go out, and requests wait while the output is past it."""
        self._replies.append(reply)
        self._replies_size += len(reply)
        if self._replies_size + self._held > self._room:
            self._send_replies()

    def _send_replies(self) -> None:
        replies = self._replies
        unsent = None
        if replies:
            self._replies, self._replies_size = [], 0
            unsent = self._send(replies, replies=True)
        if unsent is None:  # else deliver has set it
            self._room = OUTPUT_BOUND - unsent_bytes(self.transport)
        # Past the bound with no reply waiting for the disk, Twisted has paused the
        # connection itself (its buffer is over 64 KiB) and resumes it once drained.
        if self._held and self._held > self._room:
            self._waiting_for_commit = True
            self._stop_reading()

    # Reading: stopped while any reason holds, and going on once none does.

    def pauseProducing(self) -> None:
        """Twisted: the transport's buffer is full."""
        self._transport_full = True
        self._stop_reading()

    def resumeProducing(self) -> None:
        """Twisted: the transport's buffer has drained."""
        self._transport_full = False
        self._go_on()

    def stop_reading(self) -> None:
        """Read and handle nothing more (the server is stopping)."""
        self._stopped = True
        self._stop_reading()

    def _stop_reading(self) -> None:
        if not self.paused:
            self.paused = True
            self.transport.pauseProducing()

    def _go_on(self) -> None:
        if self.paused and not (self._transport_full or self._waiting_for_commit or self._stopped):
            self.paused = False
            self.transport.resumeProducing()
            self.dataReceived(b"")  # the requests read and not handled yet

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self._stopped = True
        self._leave_unauthenticated()
        self.factory.clients.discard(self)
        log.info("Connection from {peer} closed", peer=self.transport.getPeer())

    def dataReceived(self, data: bytes) -> None:
        """The replies to the requests of one read go out in one write, or in several
        when they pass ``OUTPUT_BOUND``."""
        if self.factory.events and (self.authenticated or self.factory.auth_token is None):
            self.factory.send_owed_events(self)
        try:
            RequestReceiver.dataReceived(self, data)
        finally:
            self._send_replies()

    def requestReceived(self, request: bytes) -> None:
        if self._admitted:
            words = usual_request(request)
            if words is not None:  # the usual request
                self._reply(self.factory.reply_to(words[0], words[1], self))
                return
        elif self.closing:
            return
        factory = self.factory
        authenticating = not self.authenticated and factory.auth_token is not None
        try:
            value, several = load_line(request)
        except WireError as error:
            self._reply(AUTHENTICATION_REQUIRED if authenticating else encode("error", str(error)))
            return
        if several is not None:
            self._values_received([(part, False) for part in several])  # a request each
        elif authenticating:
            self.authenticate(value)
        else:
            self._reply(factory.reply(value, self))

    def authenticate(self, value: Any) -> None:
        """Until the token has come, every request is refused; a wrong token ends the connection."""
        token = token_of(value)
        expected = self.factory.auth_token or b""
        if token is None:
            self._reply(AUTHENTICATION_REQUIRED)
        elif expected and hmac.compare_digest(token.encode("utf-8"), expected):
            self.authenticated = self._admitted = True
            self._leave_unauthenticated()
            self.last_event = self.factory.events_made  # events reach it from now on
            self._reply(encode("response", "authenticated"))
        else:
            log.warn("Closing connection from {peer}: authentication failed", peer=self.transport.getPeer())
            self._leave_unauthenticated()
            # The connection closes once this reply is out, which with a journal may be
            # after a commit (replies keep their order); nothing more is read meanwhile.
            self.closing, self._admitted = True, False
            replies, self._replies, self._replies_size = self._replies, [], 0
            self._send([*replies, encode("error", "authentication failed")], replies=True, closing=True)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._reply(encode("error", "request longer than %d bytes" % self.MAX_LENGTH))


class RefusedProtocol(protocol.Protocol):
    """A connection beyond ``--max-connections``: one error line, then closed."""

    transport: Any  # set by makeConnection

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def connectionMade(self) -> None:
        self.transport.write(encode("error", "too many connections (limit %d)" % self.limit))
        self.transport.loseConnection()


class Event(object):
    """A message of events no command caused (a ring timeout) on its way to the clients
    connected when they happened: its text, and its events for subscribed clients."""

    __slots__ = ("clients", "events", "message", "number", "sent", "text", "with_events")

    def __init__(
        self, number: int, text: str, events: Sequence[Any], clients: "List[CallCenterServerProtocol]"
    ) -> None:
        self.number = number
        self.text = text
        self.events = events
        self.message = encode("event", text)
        self.with_events: Optional[bytes] = None  # made for the first subscribed client
        self.clients = clients
        self.sent = 0  # clients[:sent] have been through

    def message_for(self, client: "CallCenterServerProtocol") -> bytes:
        if not client.subscribed:
            return self.message
        if self.with_events is None:
            self.with_events = encode_with_events("event", self.text, self.events)
        return self.with_events


@implementer(IEventSubscriber)
class CallCenterServerFactory(protocol.Factory):
    """The one call center that every connection shares; it hears the call center's events
    and sends those no command caused to every client."""

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
        leadership: Optional[ILeadership] = None,
    ) -> None:
        """``center``: the call center every connection shares (an ``IEventSource`` too: its
        events come here);
        ``durable_output``: with a journal, what replies and events wait for;
        ``leadership``: with a replicated store, whether this server leads (every client is
        closed when it stops);
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
        self.center = center
        self.leadership = leadership
        if leadership is not None:
            leadership.when_stepping_down(self.close_all)
        self.durable_output = durable_output
        self.clients: "Set[CallCenterServerProtocol]" = set()
        self.call_later = call_later
        self.events: "Deque[Event]" = deque()  # still being sent, oldest first
        self.events_made = 0
        self._failure_logged: Optional[Failure] = None
        center.subscribe(self, commands=False)  # type: ignore[attr-defined]  # a command's are its reply

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

    def reply(self, value: Any, client: Optional[CallCenterServerProtocol] = None) -> bytes:
        """The reply line to one request, decoded (``wire.load_line``), from ``client``."""
        try:
            command, argument = request_of(value)
        except WireError as error:
            return self.error(str(error), client)
        return self.reply_to(command, argument, client)

    def reply_to(self, command: str, argument: Optional[str], client: Optional[CallCenterServerProtocol]) -> bytes:
        """The reply line to ``command`` with ``argument`` (``wire.request_of``) from ``client``."""
        if command in COMMAND_WORDS:  # the usual request first: a command that changes state
            try:
                events = self.center.execute(command, argument)
            except CallCenterError as error:
                return self.error(str(error), client)
            if client is not None and client.subscribed:
                return encode_with_events("response", text_of(events), events)
            return encode_reply(events)
        return self._reply_to_other(command, argument, client)

    def _reply_to_other(
        self, command: str, argument: Optional[str], client: Optional[CallCenterServerProtocol]
    ) -> bytes:
        """The reply to a request that changes nothing (or an unknown command)."""
        subscribed = client is not None and client.subscribed
        try:
            events: Sequence[Any] = ()
            if command == AUTH_REQUEST:
                return self.error("already authenticated" if self.auth_token else "this server takes no token", client)
            if command == SUBSCRIBE_REQUEST and argument is None and client is not None:
                client.subscribed = True
                text = "subscribed"
                if not subscribed:
                    return encode("response", text)  # the events come from the next message on
            elif command == OPERATORS_REQUEST and argument is None:
                text = "\n".join(self.center.operator_ids())
            elif command == QUEUES_REQUEST and argument is None:
                text = "\n".join(self.center.queue_names())
            elif command == ROLE_REQUEST and argument is None:
                text = "leader" if self.leadership is None else self.leadership.role_line()
            elif command in QUERIES:
                text = "\n".join(self.center.query(command, argument))
            else:
                events = self.center.execute(command, argument)
                text = text_of(events)
        except (WireError, CallCenterError) as error:
            return self.error(str(error), client)
        if subscribed:
            return encode_with_events("response", text, events)
        return encode("response", text)

    def error(self, message: str, client: Optional[CallCenterServerProtocol]) -> bytes:
        """An error line to ``client`` (with no events: nothing changed)."""
        if client is not None and client.subscribed:
            return encode_with_events("error", message, ())
        return encode("error", message)

    def log_unexpected_failure(self, failure: Failure) -> None:
        """A commit failed with something other than ChangeNotStored: a bug. Logged once,
        however many connections waited on it."""
        if failure is not self._failure_logged:
            self._failure_logged = failure
            log.failure("A commit failed unexpectedly; what waited on it was not sent", failure)

    def heard(self, events: Sequence[Any], command: Optional[str]) -> None:
        """The call center's events (``IEventSubscriber``): a command's are its reply; those
        of nothing a command asked for (a timer, the disk) go to every client."""
        if command is None:
            self.broadcast(events)

    def broadcast(self, events: Sequence[Any]) -> None:
        """A ring timed out (or the like): tell every client, ``BROADCAST_CHUNK`` clients a
        reactor turn, so that with thousands connected, requests keep being answered
        meanwhile. A client that sends a request first gets the events it is owed, so each
        client still sees events and replies in the order they happened."""
        lines = render(events)
        if not lines:
            return
        self.events_made += 1
        if self.auth_token is None:
            clients = list(self.clients)
        else:  # events tell call ids: only to clients that sent the token
            clients = [client for client in self.clients if client.authenticated]
        self.events.append(Event(self.events_made, "\n".join(lines), events, clients))
        log.info("{event} (sent to {count} clients)", event=" / ".join(lines), count=len(clients))
        if len(self.events) == 1:
            self._send_events()

    def _send_events(self) -> None:
        event = self.events[0]
        end = event.sent + BROADCAST_CHUNK
        for client in event.clients[event.sent : end]:
            if client.last_event < event.number:
                client.last_event = event.number
                client.send_event(event)
        event.sent = end
        if end >= len(event.clients):
            self.events.popleft()
        if self.events:
            self.call_later(0, self._send_events)

    def close_all(self, line: str) -> None:
        """Every client gets ``line`` as an event, after the replies it is owed, and is closed
        (this server stopped leading: the clients go to the leader)."""
        message = encode("event", line)
        clients = list(self.clients)
        log.info("Closing {count} connections: {line}", count=len(clients), line=line)
        for client in clients:
            client.close_with_event(encode_with_events("event", line, ()) if client.subscribed else message)

    def send_owed_events(self, client: CallCenterServerProtocol) -> None:
        """Before ``client``'s request is answered: the events it has not had yet."""
        for event in self.events:
            if client.last_event < event.number:
                client.last_event = event.number
                client.send_event(event)


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

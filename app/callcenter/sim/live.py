"""``callcenter simulate --connect ENDPOINT``: the simulation's traffic, played against a server.

Layer: sim. The same model as :mod:`callcenter.sim.simulate` (arrivals, answer delays, rejects,
handle times, patience), in real time scaled by ``--speed``, sent over the wire protocol as the
callers and operators would send it. The server's own rules decide (its operators, ring
timeout, service level, routing); this side subscribes (``{"command": "subscribe"}``) and
reads what happened from the events that come with each reply and each event, answers every
ring of its own calls and leaves other clients' calls alone.

Flow control: at most ``WINDOW`` requests are in flight; the rest wait here, in order, until
replies come back, and the connection stops being read while the transport's buffer is full
(Twisted's producer machinery, as the client does).
"""

import json
import random
import sys
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from twisted.internet import defer, protocol, task
from twisted.python.failure import Failure

from callcenter.cli.arguments import read_token
from callcenter.cli.servers import RotatingEndpoint, is_standby
from callcenter.core.center import CallCenterError
from callcenter.net.lines import LineReceiver
from callcenter.net.protocol import CallCenterClientFactory
from callcenter.net.wire import (
    OPERATORS_REQUEST,
    ROLE_REQUEST,
    SUBSCRIBE_REQUEST,
    WireError,
    decode_subscribed,
    encode_auth,
    encode_request,
)
from callcenter.sim.simulate import DRAIN_LIMIT, ArrivalProcess, Caller, Model, Result, Tally, replication_seed

WINDOW = 64  # requests in flight at most

# A reply's handler: (kind, text, its events' objects).
Reply = Callable[[str, str, List[Dict[str, Any]]], None]


class LiveProtocol(LineReceiver):
    """The connection: requests out; replies and events in, each with its events' objects
    once subscribed, handed to the factory's ``client`` (the opening, then the player)."""

    factory: CallCenterClientFactory
    MAX_LENGTH = 1 << 26

    def connectionMade(self) -> None:
        self.factory.client.connected(self)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.factory.client.disconnected(reason)

    def lineReceived(self, line: bytes) -> None:
        try:
            kind, text, events = decode_subscribed(line)
        except WireError as error:
            sys.stderr.write("callcenter simulate: %s\n" % error)
            return
        self.factory.client.received(kind, text, events or [])


class LiveFactory(CallCenterClientFactory):
    protocol = LiveProtocol  # type: ignore[assignment]


class LiveCaller(Caller):
    __slots__ = ("gone",)

    def __init__(self, arrived: float, tally: Optional[Tally]) -> None:
        Caller.__init__(self, arrived, tally)
        self.gone = False  # gave up: its hangup is sent


class LivePlayer(object):
    """One replication of the model, live: the client side of :class:`CallCenterClientProtocol`."""

    def __init__(
        self, reactor: Any, model: Model, seed: int, speed: float, reconnect: "Optional[Callable[[], Any]]" = None
    ) -> None:
        """``reconnect``: with several servers, a new connection to the leader (a Deferred)
        once this one is lost; without, a lost connection ends the play."""
        self.reactor = reactor
        self.reconnect = reconnect
        self.lost_replies = 0  # requests sent whose reply never came (a takeover)
        self.model = model
        self.speed = speed
        self.rng = random.Random(replication_seed(seed, 0))
        self.draw = self.rng.random
        self.arrivals = [ArrivalProcess(stream.segments, self.draw) for stream in model.streams]
        self.streaming = len(self.arrivals)  # the streams still to arrive
        self.handle = model.handle_sampler(self.rng)
        self.prefix = "sim%d-" % seed  # call ids of their own, beside other clients' calls
        self.tallies = [Tally(model.bucket_start(index), model.bucket_end(index)) for index in range(model.buckets)]
        self.callers: Dict[str, LiveCaller] = {}
        self.ringing: Dict[str, Tuple[str, str]] = {}
        self.answering: Dict[str, str] = {}  # operator -> the call its answer, sent, is for
        self.calls = 0
        self.unexpected = 0  # replies that said the server's state was not what we thought
        self.arriving = True
        self.connection: Optional[LiveProtocol] = None
        self.waiting: "Deque[Tuple[bytes, Reply]]" = deque()
        self.in_flight: "Deque[Tuple[bytes, Reply]]" = deque()
        self.finished: defer.Deferred = defer.Deferred()
        self.started = 0.0

    # Time: virtual seconds of the model, from the reactor's clock times the speed.

    def now(self) -> float:
        return self.model.start + (self.reactor.seconds() - self.started) * self.speed

    def at(self, when: float, function: Callable[[Any], None], argument: Any) -> None:
        self.reactor.callLater(max(0.0, (when - self.now()) / self.speed), function, argument)

    def start(self) -> None:
        self.started = self.reactor.seconds()
        for number, arrivals in enumerate(self.arrivals):
            first = arrivals.following(self.model.start)
            if first < self.model.end:
                self.at(first, self.arrive, (number, first))
            else:
                self._stream_ended()
        self.reactor.callLater((self.model.end - self.model.start + DRAIN_LIMIT) / self.speed, self.stop, None)

    def stop(self, _: Any) -> None:
        if not self.finished.called:
            self.finished.callback(None)

    def _finish_if_done(self) -> None:
        if not self.arriving and not self.callers and not self.in_flight and not self.waiting:
            self.stop(None)

    # Requests, at most WINDOW in flight.

    def send(self, command: str, argument: Optional[str], reply: Reply) -> None:
        self.waiting.append((encode_request(command, argument), reply))
        self._pump()

    def _pump(self) -> None:
        while self.waiting and len(self.in_flight) < WINDOW and self.connection is not None:
            request, reply = self.waiting.popleft()
            self.connection.transport.write(request)
            self.in_flight.append((request, reply))

    # LiveProtocol's side.

    def connected(self, connection: LiveProtocol) -> None:
        self.connection = connection
        self._pump()

    def disconnected(self, reason: Failure) -> None:
        self.connection = None
        if self.finished.called:
            return
        if self.reconnect is None:
            self.finished.errback(reason)
            return
        again: "List[Tuple[bytes, Reply]]" = []
        while self.in_flight:  # each said once: its effect at the server is unknown
            request, reply = self.in_flight.popleft()
            self.lost_replies += 1
            fields = json.loads(request.decode("utf-8"))
            if fields.get("command") == "answer":
                # The operator presses answer again, as a person would: the new leader rings
                # the call at the same operator, or the first press was stored and it talks.
                again.append((request, self._pressed_again(fields["id"], reply)))
                what = "; answering again"
            else:
                reply("error", "no reply", [])
                what = ""
            sys.stderr.write(
                "callcenter simulate: no reply to %s: the connection was lost; its effect is unknown%s\n"
                % (request.decode("utf-8").strip(), what)
            )
        self.waiting.extendleft(reversed(again))
        self.reconnect().addCallbacks(self._reconnected, self._cannot_reconnect)

    def _reconnected(self, connection: LiveProtocol) -> None:
        sys.stderr.write("callcenter simulate: reconnected to the leader\n")
        connection.factory.client = self
        self.connected(connection)

    def _cannot_reconnect(self, failure: Failure) -> None:
        if not self.finished.called:
            self.finished.errback(failure)

    def received(self, kind: str, text: str, events: List[Dict[str, Any]]) -> None:
        if kind == "event":  # no command caused them: a ring timeout, the end of a wrap-up
            self.heard(events)
            return
        if not self.in_flight:
            return
        self.in_flight.popleft()[1](kind, text, events)
        self._pump()
        self._finish_if_done()

    # Callers.

    def _tally(self, now: float) -> Optional[Tally]:
        if now < self.model.measured_from:
            return None
        index = self.model.bucket_of(now)
        return self.tallies[index] if 0 <= index < len(self.tallies) else None

    def _stream_ended(self) -> None:
        self.streaming -= 1
        self.arriving = self.streaming > 0

    def arrive(self, due: Tuple[int, float]) -> None:
        """A call of stream number ``stream`` due at ``now``: counted in the interval it was due
        in, whatever the reactor's lag."""
        stream, now = due
        self.calls += 1
        call_id = "%s%d" % (self.prefix, self.calls)
        caller = LiveCaller(now, self._tally(now))
        following = self.arrivals[stream].following(now)
        if following < self.model.end:
            self.at(following, self.arrive, (stream, following))
        else:
            self._stream_ended()
        self.callers[call_id] = caller
        if caller.tally is not None:
            caller.tally.offered += 1
        words = self.model.streams[stream].words()
        argument = call_id + " " + words if words else call_id
        self.send("call", argument, lambda kind, text, events: self._called(call_id, kind, events))
        if self.model.patience:
            self.at(now + self.rng.expovariate(1.0 / self.model.patience), self.give_up, call_id)

    def _called(self, call_id: str, kind: str, events: List[Dict[str, Any]]) -> None:
        if kind != "response":  # refused before it ran (a call id in use, a disk that refuses changes)
            caller = self.callers.pop(call_id, None)
            if caller is not None and caller.tally is not None:
                caller.tally.refused += 1
            return
        self.heard(events)

    def give_up(self, call_id: str) -> None:
        caller = self.callers.get(call_id)
        if caller is None or caller.operator == "" or caller.gone:
            return
        caller.gone = True
        if caller.operator is not None:
            self.ringing.pop(caller.operator, None)
        self.send("hangup", call_id, lambda kind, text, events: self._hung_up(call_id, kind, events))

    def finish(self, call_id: str) -> None:
        self.send("hangup", call_id, lambda kind, text, events: self._hung_up(call_id, kind, events))

    def _hung_up(self, call_id: str, kind: str, events: List[Dict[str, Any]]) -> None:
        """The server's word decides: an answer may have reached it before the caller gave up."""
        caller = self.callers.pop(call_id, None)
        if kind != "response":
            self.unexpected += 1
            return
        missed = any(event["event"] == "CallMissed" and event["call"] == call_id for event in events)
        if missed and caller is not None and caller.tally is not None:
            caller.tally.abandoned += 1
        self.heard(events)

    # Operators.

    def answer(self, ring: Tuple[str, str]) -> None:
        operator, call_id = ring
        if self.ringing.get(operator) is not ring:
            return
        del self.ringing[operator]
        self.answering[operator] = call_id
        self.send("answer", operator, lambda kind, text, events: self._answered(operator, call_id, kind, events))

    def _pressed_again(self, operator: str, reply: Reply) -> Reply:
        """The reply handler of an answer pressed again after a takeover. An error may mean
        that the first press reached the old leader and was stored: then the call talks at
        the new leader, and ``status`` says so; its caller hangs up after its handle time, as
        after any answer (else it would talk for ever)."""
        call_id = self.answering.get(operator)

        def replied(kind: str, text: str, events: List[Dict[str, Any]]) -> None:
            if kind == "response" or call_id is None:
                reply(kind, text, events)
                return
            self.send("status", None, lambda _, status, __: self._answer_stored(operator, call_id, status, reply, text))

        return replied

    def _answer_stored(self, operator: str, call_id: str, status: str, reply: Reply, error: str) -> None:
        caller = self.callers.get(call_id)
        talking = "Operator %s busy with call %s" % (operator, call_id)
        if (
            caller is not None
            and caller.operator != ""
            and any(line == talking or line.startswith(talking + " ") for line in status.split("\n"))
        ):
            self.answering.pop(operator, None)
            self._talking(caller, call_id, operator)
        else:
            reply("error", error, [])

    def _answered(self, operator: str, call_id: str, kind: str, events: List[Dict[str, Any]]) -> None:
        if self.answering.get(operator) == call_id:
            del self.answering[operator]
        if kind != "response":
            self.unexpected += 1  # the ring ended at the server before the answer arrived
            return
        # Another call may have rung the operator meanwhile (a ring timeout crossed the answer
        # on the wire): it is that call that is talking now.
        if any(event["event"] == "CallAnswered" and event["call"] != call_id for event in events):
            self.unexpected += 1
        self.heard(events)

    def reject(self, ring: Tuple[str, str]) -> None:
        operator = ring[0]
        if self.ringing.get(operator) is not ring:
            return
        del self.ringing[operator]
        self.send("reject", operator, self._rejected)

    def _rejected(self, kind: str, text: str, events: List[Dict[str, Any]]) -> None:
        if kind == "response":
            self.heard(events)
        else:
            self.unexpected += 1

    # What the server tells: the events of our replies, and those no command caused.

    def heard(self, events: List[Dict[str, Any]]) -> None:
        for event in events:
            name = event["event"]
            caller = self.callers.get(event.get("call"))  # type: ignore[arg-type]
            if caller is None:
                continue  # another client's call, or an event of no call
            if name == "CallRinging":
                self._ringing(caller, event["call"], event["operator"])
            elif name == "CallAnswered":
                self._talking(caller, event["call"], event["operator"])
            elif name == "CallQueued":
                caller.operator = None
                if not event["back"] and caller.tally is not None:
                    caller.tally.waited += 1
            elif name in ("RingCanceled", "CallIgnored"):
                ring = self.ringing.get(event["operator"])
                if ring is not None and ring[1] == event["call"]:
                    del self.ringing[event["operator"]]
                if name == "CallIgnored" and caller.tally is not None:
                    caller.tally.timed_out += 1
            elif name == "CallRejected":
                if caller.tally is not None:
                    caller.tally.rejected += 1
            elif name in ("CallRefused", "CallTimedOut"):
                del self.callers[event["call"]]
                if caller.tally is not None:  # turned away: the queue was full, or the wait too long
                    caller.tally.refused += 1

    def _ringing(self, caller: "LiveCaller", call_id: str, operator: str) -> None:
        if caller.operator == "":
            return  # answered already: its other rings (ring-all) end
        model = self.model
        ring = (operator, call_id)
        self.ringing[operator] = ring
        caller.operator = operator
        delay = self.rng.expovariate(1.0 / model.answer_delay) if model.answer_delay else 0.0
        rejects = model.reject_rate and self.draw() < model.reject_rate
        self.at(self.now() + delay, self.reject if rejects else self.answer, ring)

    def _talking(self, caller: "LiveCaller", call_id: str, operator: str) -> None:
        ring = self.ringing.get(operator)
        if ring is not None and ring[1] == call_id:
            del self.ringing[operator]  # a ring of it that an event told of meanwhile
        now = self.now()
        caller.operator = ""
        handle = self.handle()
        if not caller.gone:  # else its hangup is on the way, after this answer
            self.at(now + handle, self.finish, call_id)
        tally = caller.tally
        if tally is not None:
            tally.answered_after(now - caller.arrived, self.model.service_level)
            tally.busy += min(handle, max(0.0, tally.end - now))


def play(options: Any, show: Callable[[Model, Result], None]) -> None:
    """Connect (sending the token first, with ``--auth-token-file``), learn the server's operators
    (``operators``), play the day and ``show`` the figures; exit 1 if the server cannot be reached,
    refuses the token or goes away."""

    def fail(message: str) -> None:
        sys.stderr.write("callcenter simulate: %s\n" % message)
        raise SystemExit(1)

    token = None
    if options["auth-token-file"] is not None:
        try:
            token = read_token(options["auth-token-file"])
        except CallCenterError as error:
            fail(str(error))

    @defer.inlineCallbacks
    def run(reactor: Any) -> Any:
        servers = RotatingEndpoint(reactor, options["servers"])
        opening = Opening()
        try:
            connection = yield connect_to_leader(reactor, servers, token, opening)
        except Exception as error:
            fail(str(error))
        try:
            kind, text = yield opening.ask(connection, encode_request(OPERATORS_REQUEST, None))
        except Exception:
            fail("the connection to %s was lost" % (options["connect"],))
        if kind != "response":
            fail("operators: %s" % text)
        operator_ids = text.split("\n") if text else []
        if operator_ids:
            options["operators"] = operator_ids
        model = options.model()
        reconnect = None
        if servers.several:

            def reconnect() -> Any:
                return connect_to_leader(reactor, servers, token, Opening())

        player = LivePlayer(reactor, model, options["seed"], options["speed"], reconnect)
        connection.factory.client = player
        player.connected(connection)
        player.start()
        try:
            yield player.finished
        except Exception:
            fail("the connection to %s was lost" % (options["connect"],))
        if player.connection is not None:
            player.connection.transport.loseConnection()
        show(model, Result(model, [player]))
        if player.lost_replies:
            fail("%d requests got no reply (the connection was lost): their effect is unknown" % player.lost_replies)

    task.react(run)


RECONNECT_LIMIT = 60.0  # seconds of looking for a leader before giving up


@defer.inlineCallbacks
def connect_to_leader(reactor: Any, servers: RotatingEndpoint, token: Optional[str], opening: "Opening") -> Any:
    """A connection to the server that leads (the only one, with one endpoint), the token
    sent and the events subscribed to: each endpoint in turn, rounds apart by half a second,
    for ``RECONNECT_LIMIT`` seconds. Fails with a :class:`ConnectionError` saying why the
    last one would not do."""
    began = reactor.seconds()
    why = "no server"
    while True:
        for _ in servers.endpoints:
            description = servers.current
            try:
                connection = yield servers.connect(LiveFactory(opening))
            except Exception as error:
                why = "cannot connect to %s: %s" % (description, error)
                if not servers.several:
                    raise ConnectionError(why) from None
                continue
            try:
                if token is not None:
                    kind, text = yield opening.ask(connection, encode_auth(token))
                    if kind != "response":
                        raise ConnectionError("the server did not accept the token: %s" % text)
                if servers.several:
                    kind, text = yield opening.ask(connection, encode_request(ROLE_REQUEST, None))
                    if is_standby(kind, text):
                        why = "%s: %s" % (description, text)
                        connection.transport.loseConnection()
                        servers.advance()
                        continue
                kind, text = yield opening.ask(connection, encode_request(SUBSCRIBE_REQUEST, None))
                if kind != "response":
                    raise ConnectionError("subscribe: %s" % text)
                return connection
            except ConnectionError:
                raise
            except Exception:
                why = "the connection to %s was lost" % description
                if not servers.several:
                    raise ConnectionError(why) from None
                servers.advance()
        if reactor.seconds() - began > RECONNECT_LIMIT:
            raise ConnectionError("no server leads after %g s (%s)" % (RECONNECT_LIMIT, why))
        yield task.deferLater(reactor, 0.5, lambda: None)


class Opening(object):
    """The client side before the play: one request at a time, its reply as a Deferred."""

    def __init__(self) -> None:
        self.reply: Optional[defer.Deferred] = None

    def ask(self, connection: LiveProtocol, request: bytes) -> defer.Deferred:
        self.reply = defer.Deferred()
        connection.transport.write(request)
        return self.reply

    def connected(self, connection: LiveProtocol) -> None:
        pass

    def disconnected(self, reason: Failure) -> None:
        if self.reply is not None and not self.reply.called:
            self.reply.errback(reason)

    def received(self, kind: str, text: str, events: List[Dict[str, Any]]) -> None:
        if kind != "event" and self.reply is not None and not self.reply.called:
            self.reply.callback((kind, text))  # events before the play are no news

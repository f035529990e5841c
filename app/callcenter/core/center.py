"""The call center queue manager: a pure state machine.

Layer: core. It provides ``interfaces.ICallCenter`` (what the protocols use),
``interfaces.IEventSource`` (whom it tells what happened) and
``interfaces.ICallCenterObserver`` (what ``--metrics`` and ``--web`` read).

No I/O and no Twisted here. Each command returns the events it made
(:mod:`callcenter.core.events`), in order, and tells them to the subscribers of its
:class:`EventBus` once it has taken effect, as does each timer (a ring timeout, the end of
a wrap-up, a wait that timed out); :mod:`callcenter.core.rendering` words them as the
assignment's lines. Time enters through an injected ``call_later`` (``reactor.callLater``
or a ``task.Clock``) and an injected ``now`` (``reactor.seconds`` or ``Clock.seconds``).
Bad input raises :class:`CallCenterError` before anything changes.

:class:`CallCenter` holds the command words, the transitions and the timers; what can live
apart does: its objects (model.py, waiting.py), the routing set-up (routing.py), the read-outs
of ``status``, ``stats`` and the wallboard (readouts.py), whom a call rings (strategies.py), the
state as data (state.py, which drives :meth:`CallCenter.resume`).

Every command is O(1) or O(log n) whatever the queue length and the operator count:
the queue is a ``WaitingCalls`` (one ``CallQueue`` per priority: append, pop-first and
removal from anywhere are O(1), a waiting call's position O(log n)) and the available
operators live in the ring strategies, which the core asks whom a call rings (``ring-all``:
O(operators it rings)). The routing rules are documented in docs/routing.md.
"""

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from zope.interface import implementer

from callcenter.core import readouts, routing
from callcenter.core.bus import EventBus, Report
from callcenter.core.events import (
    ANSWERED_ELSEWHERE,
    CALLER,
    HUNG_UP,
    LOGGED_OUT_WHILE_RINGING,
    OPERATOR,
    PAUSED_WHILE_RINGING,
    THEN_AVAILABLE,
    THEN_WRAP_UP,
    CallAnswered,
    CallFinished,
    CallIgnored,
    CallMissed,
    CallQueued,
    CallReceived,
    CallRefused,
    CallRejected,
    CallRinging,
    CallTimedOut,
    Event,
    LogoutCalledOff,
    OperatorLevelChanged,
    OperatorLoggedIn,
    OperatorLoggedOut,
    OperatorPaused,
    OperatorUnpaused,
    OperatorWillLogOut,
    OperatorWillPause,
    PauseCalledOff,
    RingCanceled,
    WrapUpEnded,
    WrapUpStarted,
)
from callcenter.core.model import (
    ANSWERED,
    AVAILABLE,
    BUSY,
    ENDED,
    LOGGED_OUT,
    MAX_ID_LENGTH,
    PAUSED,
    QUEUED,
    RINGING,
    WRAP_UP,
    Call,
    CallCenterError,
    Operator,
    check_id,
    check_reason,
    parse_priority,
)
from callcenter.core.queues import QueueConfig, operator_ids_of, parse_level
from callcenter.core.routing import Queue
from callcenter.core.stats import QueueFigures
from callcenter.core.strategies import LINEAR
from callcenter.interfaces import ICallCenter, ICallCenterObserver, IEventSource

# The events of every call, built by their classes' ``new`` (no ``type.__call__``), each read
# once here: an event class's attribute is looked up through its metaclass at every read.
new_call_received = CallReceived.new
new_call_ringing = CallRinging.new
new_call_answered = CallAnswered.new
new_call_finished = CallFinished.new

DEFAULT_RING_TIMEOUT = 10.0
DEFAULT_SERVICE_LEVEL = 20.0  # seconds, as Asterisk's servicelevel
QUERIES = ("status", "stats")  # the commands that only read the state
# The commands that change state (CallCenter.commands has one handler each).
COMMANDS = ("call", "answer", "reject", "hangup", "pause", "unpause", "login", "logout", "finish", "level")
# Calls received within this many seconds of each other share one received-at time (one
# float object): a burst that fills a long queue then costs 8 bytes a call, not 32.
RECEIVED_AT_RESOLUTION = 0.001
CALL_OPTIONS = ("priority", "queue")  # call <id> priority=N queue=NAME
LEVEL_USAGE = "level <operator id> <level> [queue=NAME]"
NO_ANSWER = "no answer"  # the reason of an auto-pause (--max-no-answer)
# The core's timers, by the name a durable center journals each firing under; each fires
# into its public operation: ring_timed_out(operator id), wrap_up_ended(operator id),
# waits_ended() (the wait timer's operator id is "").
RING_TIMER = "timeout"
WRAP_UP_TIMER = "wrapped"
WAIT_TIMER = "waited"
# A timer firing this close after its deadline counts as on time (float sums of delays).
EPSILON = 1e-9

Lines = List[str]
Events = List[Event]
# reactor.callLater's shape: (seconds, callable, *args) -> an IDelayedCall with cancel().
CallLater = Callable[..., Any]
# reactor.seconds's shape: the time now, in seconds.
Now = Callable[[], float]


def no_time() -> float:
    """The clock of a call center that was given none: time stands still at 0."""
    return 0.0


def operator_names(count: int) -> List[str]:
    """The first ``count`` operator ids: A to Z, then AA, AB, ... like spreadsheet columns."""
    names = []
    for number in range(1, count + 1):
        name = ""
        while number:
            number, digit = divmod(number - 1, 26)
            name = chr(ord("A") + digit) + name
        names.append(name)
    return names


def parse_operators(text: str) -> List[str]:
    """Parse ``--operators``: a comma-separated list of ids (``A,B``) or a count (``5``)."""
    text = text.strip()
    if text.isdigit():
        count = int(text)
        if count < 1:
            raise CallCenterError("the operator count must be at least 1")
        return operator_names(count)
    ids = [part.strip() for part in text.split(",")]
    for operator_id in ids:
        check_id("operator", operator_id)
    if len(set(ids)) != len(ids):
        raise CallCenterError("operator ids must be unique: %s" % text)
    return ids


@implementer(ICallCenter, IEventSource, ICallCenterObserver)
class CallCenter(object):
    """Operators, calls and the queue, driven by the commands of the assignment (``call``,
    ``answer``, ``reject``, ``hangup``), the operator's end of its call (``finish``), the
    presence commands (``pause``, ``unpause``, ``login``, ``logout``) and the levels
    (``level``); ``status`` and ``stats`` tell the state.

    Each command returns its events and tells them to the subscribers (:meth:`subscribe`);
    ``report`` is told of a subscriber that raised (the bus's default logs it).
    ``now`` is the clock the figures of ``stats`` are measured with (``reactor.seconds``;
    without one, time stands still); ``service_level`` is the answer time, in seconds,
    within which an answered call counts towards the service level.

    Routing (docs/routing.md): ``strategy`` is one of strategies.STRATEGIES (``seed``
    makes ``random`` reproducible); ``wrap_up`` seconds an operator stays unavailable
    after an answered call; ``max_no_answer`` ring timeouts in a row pause an operator
    (0: never); ``max_queue`` waiting calls refuse a new one (0: no limit); ``max_wait``
    seconds after its arrival a waiting call leaves the queue (0: never). With their
    defaults the call center is exactly the assignment's.
    """

    def __init__(
        self,
        operator_ids: Sequence[str] = ("A", "B"),
        call_later: Optional[CallLater] = None,
        ring_timeout: float = DEFAULT_RING_TIMEOUT,
        now: Optional[Now] = None,
        service_level: float = DEFAULT_SERVICE_LEVEL,
        strategy: str = LINEAR,
        seed: Optional[int] = None,
        wrap_up: float = 0.0,
        max_no_answer: int = 0,
        max_queue: int = 0,
        max_wait: float = 0.0,
        queues: Optional[Sequence[QueueConfig]] = None,
        report: Optional[Report] = None,
    ) -> None:
        if queues is not None:
            operator_ids = operator_ids_of(queues)
        if not operator_ids:
            raise CallCenterError("at least one operator is needed")
        if ring_timeout < 0:
            raise CallCenterError("the ring timeout cannot be negative")
        for name, seconds in (("ring timeout", ring_timeout), ("wrap-up", wrap_up), ("maximum wait", max_wait)):
            if not 0 <= seconds < float("inf"):
                raise CallCenterError("the %s must be 0 or a positive number of seconds" % name)
            if seconds and call_later is None:
                raise CallCenterError("a %s needs a call_later to schedule it" % name)
        if not 0 <= service_level < float("inf"):
            raise CallCenterError("the service level must be 0 or a positive number of seconds")
        if max_no_answer < 0 or max_queue < 0:
            raise CallCenterError("the maximum no-answer count and queue length cannot be negative")
        self.now = now or no_time
        self.service_level = service_level
        self.bus = EventBus(report)
        self._publish = self.bus.publish
        self._told = False  # whether a subscriber hears the events of commands (the bus's hears_commands)
        self._defer_rings = False  # _told with a ring timeout: ring timers are armed at the command's end
        self._fire = self._timer_fired  # bound once: the ring timer is armed at every ring
        self._unarmed: List[Operator] = []  # operators whose ring began in this command
        self.figures = QueueFigures()
        started = self.now()
        self._received_at = started  # the last received-at time handed out
        self.operators = [Operator(operator_id, index, started) for index, operator_id in enumerate(operator_ids)]
        self._operators_by_id = {operator.id: operator for operator in self.operators}
        if len(self._operators_by_id) != len(self.operators):
            raise CallCenterError("operator ids must be unique")
        self.dynamic: List[str] = []  # ids that joined with login, in that order
        self.calls: "Dict[str, Call]" = {}
        self._call_later = call_later
        self.ring_timeout = ring_timeout
        self.wrap_up = wrap_up
        self.max_no_answer = max_no_answer
        self.max_queue = max_queue  # the one queue's, without --queues
        self.max_wait = max_wait
        self._arrivals = 0  # calls received, with several queues: each call's order
        self.queues: List[Queue] = []
        self.use_routing(strategy, seed, queues)
        self._wait_timer: Any = None  # fires at the deadline of the call waiting longest
        self._wait_deadline = 0.0
        # The commands that change state, by name: each takes the words after the name.
        self.commands: "Dict[str, Callable[[str], Events]]" = {
            "call": self._call_words,
            "answer": self.answer,
            "reject": self.reject,
            "hangup": self.hangup,
            "pause": self._pause_words,
            "unpause": self.unpause,
            "login": self.login,
            "logout": self.logout,
            "finish": self.finish,
            "level": self._level_words,
        }
        self.queries: "Dict[str, Callable[[], Lines]]" = {"status": self.status, "stats": self.stats}

    # Whom the events are told to (IEventSource).

    def subscribe(self, subscriber: Any, commands: bool = True) -> None:
        """``subscriber`` (``interfaces.IEventSubscriber``) hears every event from now on (with
        ``commands`` False, only those no command caused)."""
        self.bus.subscribe(subscriber, commands)
        self._told = self.bus.hears_commands
        self._defer_rings = self._told and bool(self.ring_timeout)

    def unsubscribe(self, subscriber: Any) -> None:
        self.bus.unsubscribe(subscriber)
        self._told = self.bus.hears_commands
        self._defer_rings = self._told and bool(self.ring_timeout)

    # The commands. Each validates first, then changes state; each returns its events.

    def execute(self, command: str, argument: Optional[str]) -> Events:
        """Run a command that changes state by name with the words after it: an id, then
        ``call`` takes ``key=value`` words (``priority=3``) and ``pause`` a reason
        (``lunch``). Its events, which its subscribers have heard by then."""
        handler = self.commands.get(command)
        if handler is None:
            if command in self.queries:
                raise CallCenterError("%s changes nothing: ask it as a query" % (command,))
            raise CallCenterError("unknown command %r" % (command[:80],))
        if argument is None:
            raise CallCenterError("%s needs an id" % (command,))
        return handler(argument)

    def query(self, command: str, argument: Optional[str] = None) -> Lines:
        """The lines of a query (``status``, ``stats``), which takes no argument."""
        query = self.queries.get(command)
        if query is None:
            raise CallCenterError("unknown query %r" % (command[:80],))
        if argument is not None:
            raise CallCenterError("%s takes no argument" % (command,))
        return query()

    def _call_words(self, argument: str) -> Events:
        """``call <id> [priority=N] [queue=NAME]``."""
        if " " not in argument:
            return self.call(argument)
        words = argument.split(" ")
        options = {}
        for word in words[1:]:
            key, equals, value = word.partition("=")
            if not equals or not key:
                check_id("call", argument)  # the assignment's message for an id with spaces
            if key not in CALL_OPTIONS:
                raise CallCenterError("unknown call option %r: use priority=N or queue=NAME" % (key[:80],))
            options[key] = value
        priority = parse_priority(options["priority"]) if "priority" in options else 0
        return self.call(words[0], priority, options.get("queue"))

    def _pause_words(self, argument: str) -> Events:
        """``pause <operator> [reason...]``: the words after the id, one space apart."""
        operator_id, _, reason = argument.partition(" ")
        return self.pause(operator_id, " ".join(reason.split()) or None)

    def _level_words(self, argument: str) -> Events:
        """``level <operator> <level> [queue=NAME]``."""
        words = argument.split(" ")
        if len(words) < 2:
            raise CallCenterError("level needs an operator id and a level: %s" % LEVEL_USAGE)
        queue_name = None
        for word in words[2:]:
            key, equals, value = word.partition("=")
            if key != "queue" or not equals or queue_name is not None:
                raise CallCenterError("unknown level option %r: %s" % (word[:80], LEVEL_USAGE))
            queue_name = value
        return self.set_level(words[0], parse_level(words[1]), queue_name)

    def call(self, call_id: str, priority: int = 0, queue_name: Optional[str] = None) -> Events:
        """A call arrives in ``queue_name`` (None: the default queue): it rings whom the
        queue's strategy offers it to at the lowest level with an available member, or waits
        in the queue (refused when its ``max_queue`` calls wait already). ``priority`` 0 to
        9: waiting calls of higher priority are offered first."""
        if call_id in self.calls:
            raise CallCenterError("call %s is already in progress" % (call_id,))
        if not call_id or len(call_id) > MAX_ID_LENGTH or not call_id.isprintable() or " " in call_id:
            check_id("call", call_id)  # raises: check_id's rule, written out for the valid ids
        if priority:
            priority = parse_priority(priority)
        queue = self.queues[0] if queue_name is None else self._queue(queue_name)
        now = self.now()
        # The totals, and with several queues the queue's own (its tallies, written out: the hot
        # commands count without a loop, whose iterator costs an object).
        self.figures.received += 1
        if self._several:
            queue.figures.received += 1
        events: Events = [new_call_received(now, call_id, queue.name, priority)]
        # Whom the strategy offers it to, at the lowest level with anyone (a queue has a level at
        # least; the first asked without a loop, whose iterator costs an object).
        levels = queue.levels
        offered: Sequence[int] = levels[0].offer()
        if not offered and len(levels) > 1:
            for free in levels[1:]:
                offered = free.offer()
                if offered:
                    break
        if not offered and queue.max_queue and len(queue.waiting) >= queue.max_queue:
            for figures in queue.tallies:
                figures.refused += 1
            events.append(CallRefused(now, call_id, queue.name, queue.label == "", len(queue.waiting)))
            return self._conclude(events, "call", now)
        if not 0 <= now - self._received_at < RECEIVED_AT_RESOLUTION:
            self._received_at = now
        call = Call(call_id, self._received_at, priority, queue)
        if self._several:
            self._arrivals += 1
            call.order = self._arrivals
        self.calls[call_id] = call
        if not offered:
            position = call.first_position = queue.waiting.append(call)
            events.append(
                CallQueued(now, call_id, queue.name, queue.label == "", priority, position, queue.waiting.count, False)
            )
            if queue.max_wait:
                self._watch_wait(call, now)
        elif len(offered) == 1:
            self._ring(call, self.operators[offered[0]], events, now)
        else:
            self._ring_each(call, offered, events, now)
        if self._told:  # _conclude, written out: the 3 calls of it cost +2.4 % instructions a simulated call
            self._publish(events, "call")
        if self._unarmed:
            self._arm_rings(now)
        return events

    def answer(self, operator_id: str) -> Events:
        """The operator picks up the call ringing for it and becomes busy (the others that
        rang for it, if any, are free again)."""
        # _ringing_operator and _stop_timer, written out: answer runs for every simulated call, and
        # calling them costs +0.9 % and +0.7 % instructions a simulated call (callgrind).
        operator = self._operators_by_id.get(operator_id)
        if operator is None or operator.state is not RINGING:
            raise self._not_ringing(operator_id)
        call = operator.call
        assert call is not None
        now = self.now()
        timer = operator.timer
        if timer is not None:
            timer.cancel()
            operator.timer = None
        unarmed = self._unarmed
        if unarmed and unarmed[-1] is operator:
            unarmed.pop()  # answered before its ring timer was armed: it needs none
        wait = now - call.received_at
        queue = call.queue
        self.figures.answered_after(wait, self.service_level)  # its tallies, without a loop as in call
        if self._several:
            queue.figures.answered_after(wait, self.service_level)
        events: Events = [new_call_answered(now, call.id, operator.id, queue.name, wait, now - operator.since)]
        operator.state = BUSY
        operator.since = now
        operator.answered += 1
        operator.no_answer = 0
        call.state = ANSWERED
        if call.ringers is not None:
            others, call.ringers = call.ringers, None
            call.operator = operator
            for other in others:
                if other is not operator:
                    events.append(self._end_ring(other, ANSWERED_ELSEWHERE, now))
                    self._release(other, events, now)
        if self._told:  # _conclude, written out: the 3 calls of it cost +2.4 % instructions a simulated call
            self._publish(events, "answer")
        if self._unarmed:
            self._arm_rings(now)
        return events

    def reject(self, operator_id: str) -> Events:
        """The operator declines: it becomes available and the call is offered again."""
        operator = self._ringing_operator(operator_id)
        call = operator.call
        assert call is not None
        operator.rejected += 1
        for figures in call.queue.tallies:
            figures.rejected += 1
        now = self.now()
        events: Events = [CallRejected(now, call.id, operator.id, call.queue.name, now - operator.since)]
        self._end_ring(operator, None, now)
        operator.state = AVAILABLE
        operator.since = now
        self._offer_again(call, operator, events, now)
        return self._conclude(events, "reject", now)

    def hangup(self, call_id: str) -> Events:
        """The caller hangs up: missed if not answered yet, finished if answered; the
        operator then takes the next call, or goes to wrap-up or to its pending pause."""
        call = self.calls.pop(call_id, None)  # one hash lookup: at scale, each is a cache miss
        if call is None:
            raise CallCenterError("no call %s in progress" % (check_id("call", call_id),))
        state, call.state = call.state, ENDED
        now = self.now()
        events: Events
        if state == QUEUED:
            queue = call.queue
            position = queue.waiting.removed(call)
            for figures in queue.tallies:
                figures.missed += 1
            events = [CallMissed(now, call_id, queue.name, now - call.received_at, position, call.first_position)]
            return self._conclude(events, "hangup", now)
        operator = call.operator
        assert operator is not None
        if state == RINGING:
            queue = call.queue
            for figures in queue.tallies:
                figures.missed += 1
            events = [CallMissed(now, call_id, queue.name, now - call.received_at, None, call.first_position or None)]
            for ringer in call.ringers or (operator,):
                events.append(RingCanceled(now, call_id, ringer.id, queue.name, now - ringer.since, HUNG_UP))
                self._release(ringer, events, now)
            return self._conclude(events, "hangup", now)
        events = self._finish(call, operator, CALLER, now)
        if self._told:  # _conclude, written out: the 3 calls of it cost +2.4 % instructions a simulated call
            self._publish(events, "hangup")
        if self._unarmed:
            self._arm_rings(now)
        return events

    def finish(self, operator_id: str) -> Events:
        """The operator ends the call it talks on (Asterisk's agent hanging up): as when its
        caller hangs up, it then takes the next call, or goes to wrap-up or to its pending
        pause."""
        operator = self._operator(operator_id)
        call = operator.call
        if operator.state is not BUSY or call is None:
            raise CallCenterError("operator %s is %s, not on a call" % (operator.id, operator.state))
        del self.calls[call.id]
        call.state = ENDED
        now = self.now()
        events = self._finish(call, operator, OPERATOR, now)
        return self._conclude(events, "finish", now)

    def _finish(self, call: Call, operator: Operator, ended_by: str, now: float) -> Events:
        """The answered ``call`` (ENDED now) ended, ``ended_by`` its caller or its operator:
        the operator takes the next call, or goes to wrap-up or to its pending presence."""
        call_id = call.id
        queue = call.queue
        self.figures.finished += 1  # its tallies, written out as in call
        if self._several:
            queue.figures.finished += 1
        talk = now - operator.since
        operator.talk_time += talk
        wait = operator.since - call.received_at
        pending = operator.pending
        events: Events
        if pending is not None:
            events = [new_call_finished(now, call_id, operator.id, queue.name, wait, talk, ended_by, pending)]
            reason = operator.pending_reason
            self._absent(operator, pending, reason, now)
            if pending is PAUSED:
                events.append(OperatorPaused(now, operator.id, reason, call_id))
            else:
                events.append(OperatorLoggedOut(now, operator.id, call_id))
        elif self.wrap_up:
            events = [
                new_call_finished(now, call_id, operator.id, queue.name, wait, talk, ended_by, THEN_WRAP_UP),
                WrapUpStarted(now, operator.id, call_id, self.wrap_up),
            ]
            operator.state = WRAP_UP
            operator.since = now
            operator.call = None
            assert self._call_later is not None
            operator.timer = self._call_later(self.wrap_up, self._timer_fired, WRAP_UP_TIMER, operator.id)
        else:
            events = [new_call_finished(now, call_id, operator.id, queue.name, wait, talk, ended_by, THEN_AVAILABLE)]
            self._release(operator, events, now)
        return events

    # Presence: the operator's own status (Asterisk's paused members, FreeSWITCH's agent
    # status) beside its state. None of it happens unless these commands are used.

    def pause(self, operator_id: str, reason: Optional[str] = None) -> Events:
        """The operator takes no calls until ``unpause``. A ringing one stops ringing (the
        call is offered again, or goes back to the head of the queue); a busy one pauses
        when its call ends; one in wrap-up pauses now."""
        operator = self._operator(operator_id)
        if reason is not None:
            check_reason(reason)
        if operator.state == PAUSED:
            raise CallCenterError("operator %s is already paused" % operator.id)
        if operator.state == LOGGED_OUT:
            raise CallCenterError("operator %s is logged out" % operator.id)
        return self._leave(operator, PAUSED, reason, "pause")

    def unpause(self, operator_id: str) -> Events:
        """The paused operator is available again and takes the next waiting call; for a
        busy one about to pause, the pause is called off."""
        operator = self._operator(operator_id)
        if operator.state == BUSY and operator.pending == PAUSED:
            return self._call_off_pending(operator, PauseCalledOff, "unpause")
        if operator.state != PAUSED:
            raise CallCenterError("operator %s is not paused" % operator.id)
        now = self.now()
        return self._back(operator, [OperatorUnpaused(now, operator.id)], now, "unpause")

    def logout(self, operator_id: str) -> Events:
        """The operator leaves: like ``pause``, and it stays in ``status`` as logged out."""
        operator = self._operator(operator_id)
        if operator.state == LOGGED_OUT:
            raise CallCenterError("operator %s is already logged out" % operator.id)
        return self._leave(operator, LOGGED_OUT, None, "logout")

    def login(self, operator_id: str) -> Events:
        """A logged-out operator is available again; an id not known yet joins, after the
        last operator (Asterisk's dynamic members); for a busy one about to log out, the
        logout is called off."""
        operator = self._operators_by_id.get(operator_id)
        if operator is None:
            check_id("operator", operator_id)
            now = self.now()
            operator = Operator(operator_id, len(self.operators), now)
            self.operators.append(operator)
            self.dynamic.append(operator_id)
            self._operators_by_id[operator_id] = operator
            default = self.queues[0]  # a dynamic member serves the default queue, at its first level
            for free in default.levels:  # every level: a level change may move it to any
                free.reserve(len(self.operators))
            routing.join_default(default, operator)
            events: Events = [OperatorLoggedIn(now, operator_id, default.name)]
            self._release(operator, events, now)
            return self._conclude(events, "login", now)
        if operator.state == BUSY and operator.pending == LOGGED_OUT:
            return self._call_off_pending(operator, LogoutCalledOff, "login")
        if operator.state != LOGGED_OUT:
            raise CallCenterError("operator %s is already logged in" % operator.id)
        now = self.now()
        return self._back(operator, [OperatorLoggedIn(now, operator.id, None)], now, "login")

    def set_level(self, operator_id: str, level: int, queue_name: Optional[str] = None) -> Events:
        """The operator serves ``queue_name`` (None: every queue it serves) at ``level`` from
        now on (Asterisk's QueuePenalty): among a queue's available members, a call rings
        those of the lowest level first. One event for each queue whose level changed;
        CallCenterError when it is at that level already, or not a member of that queue."""
        operator = self._operator(operator_id)
        level = parse_level(level)
        if queue_name is None:
            queues = [queue for queue, _ in operator.serves]
        else:
            queue = self._queue(queue_name)
            if not any(served is queue for served, _ in operator.serves):
                raise CallCenterError("operator %s does not serve queue %s" % (operator.id, queue.name))
            queues = [queue]
        changed = [queue for queue in queues if queue.members[operator.id] != level]
        if not changed:
            where = "" if queue_name is None else " in queue %s" % queues[0].name
            raise CallCenterError("operator %s is at level %d already%s" % (operator.id, level, where))
        now = self.now()
        events: Events = []
        for queue in changed:
            previous = queue.members[operator.id]
            routing.move_to_level(queue, operator, level, self.operators)
            events.append(OperatorLevelChanged(now, operator.id, queue.name, queue.label == "", level, previous))
        return self._conclude(events, "level", now)

    def _conclude(self, events: Events, command: str, now: float) -> Events:
        """The end of every command: its events told to the subscribers that hear commands,
        then the rings it began armed (after: a subscriber may answer a ring as it hears it)."""
        if self._told:
            self._publish(events, command)
        if self._unarmed:
            self._arm_rings(now)
        return events

    # The core's timers: each fires into the public operation for it (a durable center
    # journals the firing under the timer's name and replays it through the same call).

    def ring_timed_out(self, operator_id: str) -> Events:
        """The ring timer of ``operator_id`` fired: the operator neither answered nor rejected
        in time, and the call is offered again; after ``max_no_answer`` of these in a row the
        operator is paused. CallCenterError when that operator is not ringing."""
        operator = self._ringing_operator(operator_id)
        call = operator.call
        assert call is not None
        operator.ignored += 1
        for figures in call.queue.tallies:
            figures.ignored += 1
        operator.no_answer += 1
        now = self.now()
        events: Events = [CallIgnored(now, call.id, operator.id, call.queue.name, now - operator.since)]
        self._end_ring(operator, None, now)
        if self.max_no_answer and operator.no_answer >= self.max_no_answer:
            events.append(OperatorPaused(now, operator.id, NO_ANSWER, None))
            self._absent(operator, PAUSED, NO_ANSWER, now)
        else:
            operator.state = AVAILABLE
            operator.since = now
        self._offer_again(call, operator, events, now)
        self._publish(events, None)
        if self._unarmed:
            self._arm_rings(now)
        return events

    def wrap_up_ended(self, operator_id: str) -> Events:
        """The wrap-up timer of ``operator_id`` fired: the operator is available and takes the
        next waiting call. CallCenterError when that operator is not in wrap-up."""
        operator = self._operator(operator_id)
        if operator.state != WRAP_UP:
            raise CallCenterError("operator %s is %s, not in wrap-up" % (operator.id, operator.state))
        now = self.now()
        spent = now - operator.since
        operator.wrap_up_time += spent
        events: Events = [WrapUpEnded(now, operator.id, spent)]
        self._release(operator, events, now)
        self._publish(events, None)
        if self._unarmed:
            self._arm_rings(now)
        return events

    def waits_ended(self) -> Events:
        """The wait timer fired: every call that has waited ``max_wait`` leaves the queue, and
        the timer waits for the one waiting longest now."""
        if self._wait_timer is not None:
            self._wait_timer.cancel()
            self._wait_timer = None
        events: Events = []
        if not self._max_waits:
            return events
        now = self.now()
        for queue in self.queues:
            if not queue.max_wait:
                continue
            oldest = queue.waiting.oldest()
            while oldest is not None and now - oldest.received_at + EPSILON >= queue.max_wait:
                oldest.state = ENDED
                self._time_out(oldest, queue.waiting.removed(oldest), events, now)
                oldest = queue.waiting.oldest()
        self._rearm_wait(now)
        if events:
            self._publish(events, None)
        return events

    def _timer_fired(self, timer: str, operator_id: str) -> None:
        """A timer ran (it has nothing left to cancel): the public operation it names."""
        if timer == WAIT_TIMER:
            self._wait_timer = None
            self.waits_ended()
            return
        self._operators_by_id[operator_id].timer = None
        if timer == RING_TIMER:
            self.ring_timed_out(operator_id)
        else:
            self.wrap_up_ended(operator_id)

    # What a saved state holds that only the center keeps: core/state.py reads it here, and
    # hands it back to resume() once it has put the operators, calls and queues back.

    def _wait_again(self, call: Call) -> None:
        """A restored call waits in its queue again; where it waits now is where it first
        waited, as far as this center knows."""
        position = call.queue.waiting.append(call)
        if not call.first_position:
            call.first_position = position

    def own_state(self) -> "Tuple[int, float, Optional[float]]":
        """The calls received so far (each call's order, with several queues), the last
        received-at time handed out, and the deadline of the wait timer (None: not running)."""
        return self._arrivals, self._received_at, self._wait_deadline if self._wait_timer is not None else None

    def resume(
        self,
        waiting: "Sequence[Sequence[Call]]",
        arrivals: int,
        received_at: float,
        timers: "Sequence[Tuple[str, str, float]]",
    ) -> None:
        """The end of a restore, once state.py has put the operators (their states, calls and
        figures), the calls, the figures and the strategies' memory back: the available
        operators that hold no call are members of their queues' strategies again; the
        ``waiting`` calls of each queue (in :attr:`queues` order, each in offer order) wait
        again, or, when an operator is free in their queue (the operators changed), ring in
        order of arrival as new calls would; the ``timers`` (name, operator id, deadline) run
        to their deadlines; a ringing operator without one rings a full ring timeout, a
        wrap-up without one ends ``wrap_up`` after it began, and the wait timer without one
        waits for the call waiting longest."""
        now = self.now()
        self._arrivals, self._received_at = arrivals, received_at
        for operator in self.operators:
            for _, free in operator.serves:
                free.discard(operator.index)
                if operator.state is AVAILABLE and operator.call is None:
                    free.add(operator.index)
        if any(calls and any(len(free) for free in queue.levels) for queue, calls in zip(self.queues, waiting)):
            for call in sorted((call for calls in waiting for call in calls), key=lambda call: call.order):
                offered: Sequence[int] = ()
                for free in call.queue.levels:
                    offered = free.offer()
                    if offered:
                        break
                if offered:
                    self._ring_each(call, offered, [], now)
                else:
                    self._wait_again(call)
        else:
            for calls in waiting:
                for call in calls:
                    self._wait_again(call)
        if self._call_later is None:
            return  # no timers: none can have been saved
        for timer, operator_id, deadline in timers:
            if timer == WAIT_TIMER:
                if self._max_waits and self._wait_timer is None:
                    self._wait_deadline = deadline
                    self._wait_timer = self._call_later(max(deadline - now, 0.0), self._timer_fired, WAIT_TIMER, "")
                continue
            operator = self._operators_by_id[operator_id]
            ringing = timer == RING_TIMER and operator.state is RINGING and self.ring_timeout
            if operator.timer is None and (ringing or (timer == WRAP_UP_TIMER and operator.state is WRAP_UP)):
                operator.timer = self._call_later(max(deadline - now, 0.0), self._timer_fired, timer, operator_id)
        for operator in self.operators:
            if operator.timer is not None:
                continue
            if operator.state is RINGING and self.ring_timeout:
                operator.timer = self._call_later(self.ring_timeout, self._timer_fired, RING_TIMER, operator.id)
            elif operator.state is WRAP_UP:
                left = max(operator.since + self.wrap_up - now, 0.0)
                operator.timer = self._call_later(left, self._timer_fired, WRAP_UP_TIMER, operator.id)
        if self._wait_timer is None:
            self._rearm_wait(now)
        del self._unarmed[:]  # armed above, each a full ring timeout from now

    def operator_ids(self) -> List[str]:
        """Every operator's id in configured order, those that joined with ``login`` last."""
        return [operator.id for operator in self.operators]

    # The read-outs (readouts.py): they change nothing.

    def status(self) -> Lines:
        """Every operator with its state and call, then the queued calls in offer order."""
        return readouts.status(self)

    def stats(self) -> Lines:
        """The figures since the start (docs/stats.md)."""
        return readouts.stats(self)

    def snapshot(self, waiting_limit: int = 100) -> Dict[str, Any]:
        """The state as plain data, for observers that show it (the wallboard)."""
        return readouts.snapshot(self, waiting_limit)

    def use_routing(
        self, strategy: str, seed: Optional[int] = None, queues: Optional[Sequence[QueueConfig]] = None
    ) -> None:
        """Route with ``strategy`` (one queue of every operator, with ``max_queue`` and
        ``max_wait``) or with ``queues`` from now on (routing.py builds them); the available
        operators stay available. No call may be waiting."""
        if self.queues and len(self.queue):
            raise CallCenterError("the queues cannot change while calls wait")
        configs = routing.queue_configs(self.operators, strategy, self.max_queue, self.max_wait, queues)
        self.queues = routing.build_queues(
            configs, self.operators, self._operators_by_id, seed, self._call_later is not None
        )
        for call in self.calls.values():
            call.queue = self.queues[0]
        self.queue_configs = None if queues is None else configs
        self.strategy, self.seed = strategy, seed
        self._index_queues()
        self._tally()

    def _index_queues(self) -> None:
        self._queues_by_name, self.queue, self._max_waits, self._several = routing.index_queues(self.queues)

    def _tally(self) -> None:
        routing.tally(self.queues, self.figures)

    def _queue(self, name: str) -> Queue:
        queue = self._queues_by_name.get(name)
        if queue is None:
            shown = name[:80] if name else "named"  # queue= with no name
            raise CallCenterError("no queue %s: use one of %s" % (shown, ", ".join(self._queues_by_name)))
        return queue

    def queue_names(self) -> List[str]:
        """The queues' names, the default one first."""
        return [queue.name for queue in self.queues]

    # The transitions every command shares: the routing rules, in one place.

    def _ring(self, call: Call, operator: Operator, events: Events, now: float) -> None:
        """Deliver ``call`` to the available ``operator`` and start its ring timer; it is
        no longer available in any queue it serves."""
        index, queue = operator.index, call.queue
        serves = operator.serves
        if len(serves) == 1:  # one queue: the call's
            serves[0][1].ringing(index)  # round-robin remembers whom its queue offered a call
        else:
            for served, free in serves:
                if served is queue:
                    free.ringing(index)
                else:
                    free.discard(index)
        operator.state = RINGING
        operator.since = now
        operator.call = call
        call.state = RINGING
        call.operator = operator
        if self._defer_rings:  # a subscriber may answer it as it hears it: arm it after
            self._unarmed.append(operator)
        elif self.ring_timeout:
            assert self._call_later is not None
            operator.timer = self._call_later(self.ring_timeout, self._fire, RING_TIMER, operator.id)
        events.append(new_call_ringing(now, call.id, operator.id, queue.name, self.ring_timeout))

    def _ring_each(self, call: Call, offered: Sequence[int], events: Events, now: float) -> None:
        """Ring ``call`` at each operator the strategy ``offered`` it to (by index), in that
        order; with several, they are its ringers."""
        if len(offered) == 1:
            self._ring(call, self.operators[offered[0]], events, now)
            return
        ringers = [self.operators[index] for index in offered]
        for operator in ringers:
            self._ring(call, operator, events, now)
        call.ringers = ringers

    def _arm_rings(self, now: float) -> None:
        """The ring timers of the rings this command began, once its subscribers have heard its
        events (when none hears a command's events, each is armed as its ring begins): a ring
        answered meanwhile (the simulator's operators answer in the same instant) needs none.
        Each runs ``ring_timeout`` from its ring's start, as if armed then."""
        unarmed, self._unarmed = self._unarmed, []
        assert self._call_later is not None
        for operator in unarmed:
            if operator.state is RINGING and operator.timer is None:
                delay = self.ring_timeout - (now - operator.since)
                operator.timer = self._call_later(delay, self._fire, RING_TIMER, operator.id)

    def _release(self, operator: Operator, events: Events, now: float) -> None:
        """Make ``operator`` available; it takes, among the queues it serves, the waiting call
        of the highest weight, then the highest priority, then the longest wait, if any."""
        timer = operator.timer  # _stop_timer, written out: a call of it costs +0.75 % instructions a simulated call
        if timer is not None:
            timer.cancel()
            operator.timer = None
        operator.state = AVAILABLE
        operator.since = now
        operator.call = None
        serves = operator.serves
        if len(serves) == 1:  # one queue: the head of its queue
            waiting = serves[0][0].waiting
            if waiting.count:
                self._ring(waiting.popleft(), operator, events, now)
            else:
                serves[0][1].add(operator.index)
            return
        best: Optional[Queue] = None
        best_key: Any = None
        for queue, _ in serves:
            head = queue.waiting.head()
            if head is not None:
                key = (queue.weight, head.priority, -head.received_at, -head.order)
                if best is None or key > best_key:
                    best, best_key = queue, key
        if best is not None:
            self._ring(best.waiting.popleft(), operator, events, now)
        else:
            for _, free in serves:
                free.add(operator.index)

    def _end_ring(self, operator: Operator, reason: Optional[str], now: float) -> Any:
        """``operator`` stops ringing (its call is still that call's to place); with a
        ``reason``, the :class:`RingCanceled` that tells it (else the caller's own event does)."""
        self._stop_timer(operator)
        call = operator.call
        assert call is not None
        operator.call = None
        if call.ringers is not None:
            call.ringers.remove(operator)
        if reason is None:
            return None
        return RingCanceled(now, call.id, operator.id, call.queue.name, now - operator.since, reason)

    def _offer_again(self, call: Call, decliner: Operator, events: Events, now: float) -> None:
        """``call`` stopped ringing at ``decliner`` (rejected, ignored, or its operator paused
        or logged out: then it is not AVAILABLE). While it rings at others, that is all.
        Else it goes at once, before any queued call, to whom the strategy offers it among
        the available operators other than the decliner, at the lowest level with anyone
        (linear: the next available after it, going round; ring-all: every one). Failing
        that, back to the decliner when it is available, else to the head of the queue."""
        free = decliner.state is AVAILABLE
        if call.ringers:  # still ringing elsewhere
            if free:
                self._release(decliner, events, now)
            return
        call.ringers = None
        offered: Sequence[int] = ()
        for level in call.queue.levels:
            offered = level.offer_after(decliner.index)
            if offered:
                break
        if offered:
            self._ring_each(call, offered, events, now)
            if free:
                # Somebody else was free, so this queue is empty; another it serves may not be.
                self._release(decliner, events, now)
        elif free:
            self._ring(call, decliner, events, now)
        else:
            self._requeue(call, events, now)

    def _leave(self, operator: Operator, presence: str, reason: Optional[str], command: str) -> Events:
        """``pause`` or ``logout`` of an operator that is not in that presence yet."""
        state = operator.state
        now = self.now()
        events: Events
        if state == BUSY:
            call = operator.call
            assert call is not None
            if operator.pending == presence:
                raise CallCenterError(
                    "operator %s will already %s after call %s" % (operator.id, VERBS[presence], call.id)
                )
            operator.pending, operator.pending_reason = presence, reason
            if presence is PAUSED:
                events = [OperatorWillPause(now, operator.id, call.id, reason)]
            else:
                events = [OperatorWillLogOut(now, operator.id, call.id)]
            return self._conclude(events, command, now)
        if presence is PAUSED:
            events = [OperatorPaused(now, operator.id, reason, None)]
        else:
            events = [OperatorLoggedOut(now, operator.id, None)]
        if state == RINGING:
            call = operator.call
            assert call is not None
            ended = PAUSED_WHILE_RINGING if presence is PAUSED else LOGGED_OUT_WHILE_RINGING
            events.append(self._end_ring(operator, ended, now))
            self._absent(operator, presence, reason, now)
            self._offer_again(call, operator, events, now)
        else:
            self._end_presence(operator, now)
            self._absent(operator, presence, reason, now)
        return self._conclude(events, command, now)

    def _absent(self, operator: Operator, presence: str, reason: Optional[str], now: float) -> None:
        """``operator`` (holding no call now) goes PAUSED or LOGGED_OUT."""
        self._stop_timer(operator)  # a wrap-up timer
        for _, free in operator.serves:
            free.discard(operator.index)
        operator.state = presence
        operator.reason = reason
        operator.since = now
        operator.call = None
        operator.pending = operator.pending_reason = None

    def _back(self, operator: Operator, events: Events, now: float, command: str) -> Events:
        """``unpause`` or ``login``: available again, and the next waiting call rings it."""
        self._end_presence(operator, now)
        operator.reason = None
        operator.no_answer = 0
        self._release(operator, events, now)
        return self._conclude(events, command, now)

    def _call_off_pending(self, operator: Operator, kind: Any, command: str) -> Events:
        operator.pending = operator.pending_reason = None
        call = operator.call
        assert call is not None
        now = self.now()
        return self._conclude([kind(now, operator.id, call.id)], command, now)

    def _end_presence(self, operator: Operator, now: float) -> None:
        """Add the time of the presence ``operator`` leaves (if any) to its figures."""
        spent = now - operator.since
        if operator.state == PAUSED:
            reason = operator.reason or ""
            operator.paused_time[reason] = operator.paused_time.get(reason, 0.0) + spent
        elif operator.state == LOGGED_OUT:
            operator.logged_out_time += spent
        elif operator.state == WRAP_UP:
            operator.wrap_up_time += spent

    # Waiting times (--max-wait): one timer, for the call waiting longest.

    def _requeue(self, call: Call, events: Events, now: float) -> None:
        """A call nobody can take now goes back to the head of the queue (always kept, even
        past ``max_queue``), or leaves at once when it has waited past ``max_wait``."""
        call.operator = None
        queue = call.queue
        if queue.max_wait and now - call.received_at + EPSILON >= queue.max_wait:
            call.state = ENDED
            self._time_out(call, None, events, now)
            return
        call.state = QUEUED
        position = queue.waiting.appendleft(call)
        if not call.first_position:
            call.first_position = position
        events.append(
            CallQueued(now, call.id, queue.name, queue.label == "", call.priority, position, queue.waiting.count, True)
        )
        if queue.max_wait:
            self._watch_wait(call, now)

    def _watch_wait(self, call: Call, now: float) -> None:
        deadline = call.received_at + call.queue.max_wait
        if self._wait_timer is not None:
            if deadline >= self._wait_deadline:
                return
            self._wait_timer.cancel()
        assert self._call_later is not None
        self._wait_deadline = deadline
        self._wait_timer = self._call_later(max(deadline - now, 0.0), self._timer_fired, WAIT_TIMER, "")

    def _rearm_wait(self, now: float) -> None:
        """The wait timer again, for the first deadline of the calls waiting longest in each
        queue with a maximum wait (after their times changed)."""
        if self._wait_timer is not None:
            self._wait_timer.cancel()
            self._wait_timer = None
        for queue in self.queues:
            oldest = queue.waiting.oldest()
            if queue.max_wait and oldest is not None:
                self._watch_wait(oldest, now)

    def _time_out(self, call: Call, position: Optional[int], events: Events, now: float) -> None:
        """``call`` (ENDED now) waited past its queue's ``max_wait``; ``position``: where it
        waited (None: it was coming back from a ring)."""
        del self.calls[call.id]
        queue = call.queue
        for figures in queue.tallies:
            figures.timed_out += 1
        wait, first = now - call.received_at, call.first_position or None
        events.append(CallTimedOut(now, call.id, queue.name, queue.label == "", wait, position, first))

    # Helpers.

    def _stop_timer(self, operator: Operator) -> None:
        if operator.timer is not None:
            operator.timer.cancel()
            operator.timer = None

    def _operator(self, operator_id: str) -> Operator:
        operator = self._operators_by_id.get(operator_id)
        if operator is None:
            raise CallCenterError("no operator %s" % (check_id("operator", operator_id),))
        return operator

    def _ringing_operator(self, operator_id: str) -> Operator:
        operator = self._operators_by_id.get(operator_id)
        if operator is None or operator.state is not RINGING:
            raise self._not_ringing(operator_id)
        return operator

    def _not_ringing(self, operator_id: str) -> CallCenterError:
        """Why a command for a ringing operator cannot be done for ``operator_id`` (raised by the
        command itself: an exception costs a step of traceback a frame it leaves)."""
        operator = self._operator(operator_id)  # no such operator: raises that
        return CallCenterError("operator %s is %s, not ringing" % (operator.id, operator.state))


# "Operator A will pause after call 3", "... will log out after ...".
VERBS = {PAUSED: "pause", LOGGED_OUT: "log out"}

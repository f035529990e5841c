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

Every command is O(1) or O(log n) whatever the queue length and the operator count:
the queue is a :class:`WaitingCalls` (one :class:`CallQueue` per priority: append,
pop-first and removal from anywhere are O(1), a waiting call's position O(log n)) and the
available operators live in the ring strategies (see strategies.py), which the core asks
whom a call rings (``ring-all``: O(operators it rings)). The routing rules are documented in
docs/routing.md.
"""

from collections import deque
from itertools import islice
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Sequence, Tuple

from zope.interface import implementer

from callcenter.core.bus import EventBus, Report
from callcenter.core.events import (
    ANSWERED_ELSEWHERE,
    CALLER,
    HUNG_UP,
    LOGGED_OUT_WHILE_RINGING,
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
from callcenter.core.queues import DEFAULT_QUEUE, QueueConfig, operator_ids_of
from callcenter.core.states import AVAILABLE, BUSY, LOGGED_OUT, PAUSED, RINGING, WRAP_UP
from callcenter.core.stats import QueueFigures, presence_lines, queue_line, stats_table
from callcenter.core.strategies import LINEAR, make_strategy
from callcenter.interfaces import ICallCenter, ICallCenterObserver, IEventSource

QUEUED = "queued"
ANSWERED = "answered"
ENDED = "ended"

DEFAULT_RING_TIMEOUT = 10.0
DEFAULT_SERVICE_LEVEL = 20.0  # seconds, as Asterisk's servicelevel
QUERIES = ("status", "stats")  # the commands that only read the state
# Calls received within this many seconds of each other share one received-at time (one
# float object): a burst that fills a long queue then costs 8 bytes a call, not 32.
RECEIVED_AT_RESOLUTION = 0.001
MAX_ID_LENGTH = 64
MAX_REASON_LENGTH = 64
PRIORITIES = 10  # 0 (the default) to 9: a waiting call of higher priority is offered first
CALL_OPTIONS = ("priority", "queue")  # call <id> priority=N queue=NAME
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


class CallCenterError(Exception):
    """Bad input: the message is one line for the user; nothing changed."""


class Call(object):
    # operator: the one it rings or talks to; ringers: every one it rings when it rings
    # several at once (ring-all), else None. order: its place in the order of arrival, which
    # breaks ties of received_at between queues (0 with one queue, where each queue's FIFO
    # order says it). ticket: its place in its lane's deque (CallQueue); first_position:
    # where it first waited (0: it never waited).
    __slots__ = (
        "first_position",
        "id",
        "operator",
        "order",
        "priority",
        "queue",
        "received_at",
        "ringers",
        "state",
        "ticket",
    )

    def __init__(self, call_id: str, received_at: float, priority: int, queue: "Queue") -> None:
        self.id = call_id
        self.state = QUEUED
        self.operator: Optional[Operator] = None
        self.received_at = received_at
        self.priority = priority
        self.queue = queue
        self.order = 0
        self.ringers: "Optional[List[Operator]]" = None
        self.ticket = 0
        self.first_position = 0


class Operator(object):
    # since: when it entered its state (when a ring began, when it answered); pending: the
    # presence (PAUSED or LOGGED_OUT) a busy operator takes when its call ends; timer: its
    # ring timer or its wrap-up timer (never both); no_answer: ring timeouts in a row. The
    # rest are its figures for ``stats``.
    __slots__ = (
        "answered",
        "call",
        "id",
        "ignored",
        "index",
        "joined",
        "logged_out_time",
        "no_answer",
        "paused_time",
        "pending",
        "pending_reason",
        "reason",
        "rejected",
        "serves",
        "since",
        "state",
        "talk_time",
        "timer",
        "wrap_up_time",
    )

    def __init__(self, operator_id: str, index: int, since: float) -> None:
        self.id = operator_id
        self.index = index
        self.state = AVAILABLE
        self.call: Optional[Call] = None
        self.timer: Any = None
        self.since = since
        self.reason: Optional[str] = None  # why it is paused
        self.pending: Optional[str] = None
        self.pending_reason: Optional[str] = None
        self.no_answer = 0
        self.answered = 0
        self.rejected = 0
        self.ignored = 0
        self.talk_time = 0.0  # of its finished calls
        self.joined = since  # when it first logged in
        self.paused_time: Dict[str, float] = {}  # by reason ("" for none), ended pauses
        self.wrap_up_time = 0.0  # ended wrap-ups
        self.logged_out_time = 0.0  # ended log-outs
        # (queue, the strategy of its level there) for each queue it serves: while it is
        # available it is a member of each of these strategies.
        self.serves: "List[Tuple[Queue, Any]]" = []


class Marks(object):
    """A Fenwick tree counting the marked tickets from ``base`` on: mark and count in
    O(log n). The calls hung up while waiting in one lane, to tell a waiting call's place."""

    __slots__ = ("base", "tree")

    def __init__(self, base: int, marked: "Sequence[int]", size: int) -> None:
        self.base = base
        tree = [0] * (size + 1)
        for ticket in marked:
            tree[ticket - base + 1] += 1
        for index in range(1, size + 1):  # the sums in O(size), each node into its parent
            parent = index + (index & -index)
            if parent <= size:
                tree[parent] += tree[index]
        self.tree = tree

    def covers(self, ticket: int) -> bool:
        return 0 <= ticket - self.base < len(self.tree) - 1

    def add(self, ticket: int, by: int) -> None:
        tree = self.tree
        index, size = ticket - self.base + 1, len(tree)
        while index < size:
            tree[index] += by
            index += index & -index

    def below(self, ticket: int) -> int:
        """How many marked tickets are below ``ticket``."""
        tree = self.tree
        index = min(ticket - self.base, len(tree) - 1)
        total = 0
        while index > 0:
            total += tree[index]
            index -= index & -index
        return total


class CallQueue(object):
    """A FIFO of waiting calls: append, pop-first and removal from anywhere, all O(1), and
    the place of a call that leaves from anywhere in O(log n).

    A call hung up while waiting is not searched for: its state is no longer QUEUED
    and it stays in the deque, skipped, until it reaches the head or the deque is
    compacted (once it holds as many such calls as waiting ones, so each removal
    pays for one copy at most). One deque slot a call, and no hashing, keeps a long
    queue cheap in memory and in cache misses.

    Each call in the deque has a ticket, its place: the tickets of the deque run without a
    gap from the head's (``ticket - head's ticket`` calls are before it, hung-up ones
    included), and :class:`Marks` counts the hung-up ones among them.
    """

    __slots__ = ("_calls", "_marks", "_next", "_waiting")

    def __init__(self) -> None:
        self._calls: "Deque[Call]" = deque()
        self._waiting = 0
        self._next = 0  # the ticket of the next call appended
        self._marks: Optional[Marks] = None  # made at the first hang-up that needs it

    def __len__(self) -> int:
        return self._waiting

    def __iter__(self) -> Iterator[str]:
        """The ids of the waiting calls, head first."""
        return (call.id for call in self._calls if call.state is QUEUED)

    def calls(self) -> Iterator[Call]:
        return (call for call in self._calls if call.state is QUEUED)

    def append(self, call: "Call") -> int:
        """``call`` waits at the tail; its position (from 1)."""
        call.ticket = self._next
        self._next += 1
        self._calls.append(call)
        self._waiting += 1
        return self._waiting

    def appendleft(self, call: "Call") -> None:
        """Back to the head: a call that was ringing for an operator who paused."""
        calls = self._calls
        if calls:
            ticket = calls[0].ticket - 1
            marks = self._marks
            if marks is not None and marks.covers(ticket) and marks.below(ticket + 1) - marks.below(ticket):
                marks.add(ticket, -1)  # the mark of a hung-up call popped from that place
        else:
            ticket = self._next
            self._next += 1
        call.ticket = ticket
        calls.appendleft(call)
        self._waiting += 1

    def popleft(self) -> "Call":
        """The call at the head; the queue must not be empty."""
        calls = self._calls
        call = calls.popleft()
        while call.state is not QUEUED:
            call = calls.popleft()
        self._waiting -= 1
        return call

    def head(self) -> "Optional[Call]":
        """The call at the head (the one waiting longest), or None; it stays queued."""
        calls = self._calls
        while calls and calls[0].state is not QUEUED:
            calls.popleft()  # a call hung up while waiting: skipped now rather than later
        return calls[0] if calls else None

    def first(self, count: int) -> "List[Call]":
        """The first ``count`` waiting calls, head first, without walking the rest."""
        return list(islice((call for call in self._calls if call.state is QUEUED), count))

    def removed(self, call: "Call") -> int:
        """``call``, which was waiting, has left the queue (its state says so already); the
        position it had (from 1)."""
        calls = self._calls
        ticket = call.ticket
        head = calls[0].ticket
        marks = self._marks
        before = ticket - head
        if before and marks is not None:
            before -= marks.below(ticket) - marks.below(head)
        self._waiting -= 1
        if len(calls) > 2 * self._waiting + 64:
            self._calls = calls = deque(call for call in calls if call.state is QUEUED)
            for index, waiting in enumerate(calls):
                waiting.ticket = index
            self._next, self._marks = len(calls), None
        elif marks is not None and marks.covers(ticket):
            marks.add(ticket, 1)
        else:  # made anew from the deque's first ticket: its size grows with the deque, not with time
            marked = [gone.ticket for gone in calls if gone.state is not QUEUED]  # ``call`` included
            self._marks = Marks(head, marked, max(64, 2 * (self._next - head)))
        return before + 1


class WaitingCalls(object):
    """The queue: one :class:`CallQueue` per priority, the highest offered first, FIFO
    within one. ``_top`` is at least the highest priority with a waiting call, so that
    with priority 0 alone (the assignment) each operation looks at one lane.

    Within a lane the head is also the call received first: a call leaves a lane only
    from its head, or arrives when nothing of its priority waits, and goes back to the
    head when it comes back. So the call waiting longest is among the lanes' heads."""

    __slots__ = ("_lanes", "_top", "_waiting")

    def __init__(self) -> None:
        self._lanes = [CallQueue() for _ in range(PRIORITIES)]
        self._top = 0
        self._waiting = 0

    def __len__(self) -> int:
        return self._waiting

    def __iter__(self) -> Iterator[str]:
        """The ids of the waiting calls in the order they will be offered."""
        for lane in reversed(self._lanes):
            yield from lane

    def calls(self) -> Iterator[Call]:
        for lane in reversed(self._lanes):
            yield from lane.calls()

    def first(self, count: int) -> List[Call]:
        """The first ``count`` waiting calls in offer order, without walking the rest."""
        return list(islice(self.calls(), count))

    def append(self, call: Call) -> int:
        """``call`` waits after the calls of its priority and above; its position (from 1)."""
        priority = call.priority
        position = self._lanes[priority].append(call)
        self._waiting += 1
        if priority > self._top:
            self._top = priority
        elif priority < self._top:
            position += self._above(priority)
        return position

    def appendleft(self, call: Call) -> int:
        """``call`` goes back to the head of its priority; its position (from 1)."""
        priority = call.priority
        self._lanes[priority].appendleft(call)
        self._waiting += 1
        if priority > self._top:
            self._top = priority
        return 1 + self._above(priority)

    def _above(self, priority: int) -> int:
        """The calls waiting at a higher priority than ``priority``."""
        return sum(len(lane) for lane in self._lanes[priority + 1 : self._top + 1])

    def popleft(self) -> Call:
        """The next call to offer; the queue must not be empty."""
        lanes, top = self._lanes, self._top
        while not lanes[top]:
            top -= 1
        self._top = top
        self._waiting -= 1
        return lanes[top].popleft()

    def head(self) -> Optional[Call]:
        """The next call to offer, or None; it stays queued."""
        for lane in reversed(self._lanes[: self._top + 1]):
            if lane:
                return lane.head()
        return None

    def oldest(self) -> Optional[Call]:
        """The call received first among those waiting, or None (O(priorities))."""
        oldest = None
        for lane in self._lanes[: self._top + 1]:
            call = lane.head() if lane else None
            if call is not None and (oldest is None or call.received_at < oldest.received_at):
                oldest = call
        return oldest

    def removed(self, call: Call) -> int:
        """``call``, which was waiting, has left the queue (its state says so already); the
        position it had (from 1)."""
        self._waiting -= 1
        return self._lanes[call.priority].removed(call) + self._above(call.priority)


class Queue(object):
    """One queue of calls (``--queues``; without it, one queue of every operator): its waiting
    calls, its members by level, each level's ring strategy over its available members, its
    limits, its weight against the other queues, and its figures.

    ``levels`` holds one strategy a level, the lowest level first: a new call rings at the
    first level with an available member. ``tallies`` is what a call of this queue counts
    in: the call center's figures, and this queue's own when there are several."""

    __slots__ = (
        "figures",
        "label",
        "levels",
        "max_queue",
        "max_wait",
        "name",
        "tallies",
        "waiting",
        "weight",
    )

    def __init__(self, name: str, label: str, max_queue: int, max_wait: float, weight: int) -> None:
        self.name = name
        self.label = label  # "" for the default queue, " sales" for the others: "waiting in queue sales"
        self.waiting = WaitingCalls()
        self.levels: List[Any] = []
        self.max_queue = max_queue
        self.max_wait = max_wait
        self.weight = weight
        self.figures = QueueFigures()
        self.tallies: "Tuple[QueueFigures, ...]" = ()


class AllWaiting(object):
    """The waiting calls of several queues, read as one: what ``CallCenter.queue`` is when
    there is more than one queue (with one, it is that queue's :class:`WaitingCalls`)."""

    __slots__ = ("_queues",)

    def __init__(self, queues: "Sequence[Queue]") -> None:
        self._queues = queues

    def __len__(self) -> int:
        return sum(len(queue.waiting) for queue in self._queues)

    def __iter__(self) -> Iterator[str]:
        """The ids of the waiting calls, queue by queue, each in offer order."""
        for queue in self._queues:
            yield from queue.waiting

    def calls(self) -> Iterator[Call]:
        for queue in self._queues:
            yield from queue.waiting.calls()

    def first(self, count: int) -> List[Call]:
        return list(islice(self.calls(), count))

    def oldest(self) -> Optional[Call]:
        """The call waiting longest in any queue (O(queues x priorities))."""
        oldest = None
        for queue in self._queues:
            call = queue.waiting.oldest()
            if call is not None and (
                oldest is None or (call.received_at, call.order) < (oldest.received_at, oldest.order)
            ):
                oldest = call
        return oldest


def check_id(kind: str, value: str) -> str:
    """Return ``value`` if it is a valid id: one token of 1 to 64 printable characters."""
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable() or " " in value:
        raise CallCenterError(
            "invalid %s id %r: use 1 to %d printable characters, no spaces" % (kind, value[:80], MAX_ID_LENGTH)
        )
    return value


def check_reason(reason: str) -> str:
    if len(reason) > MAX_REASON_LENGTH or not reason.isprintable():
        raise CallCenterError("a pause reason is 1 to %d printable characters" % MAX_REASON_LENGTH)
    return reason


def parse_priority(text: Any) -> int:
    """A call's priority: a whole number from 0 to 9 (in words, ``priority=N``)."""
    if isinstance(text, str) and text.isdigit() and len(text) < 3:
        priority = int(text)
    elif isinstance(text, int) and not isinstance(text, bool):
        priority = text
    else:
        priority = -1
    if not 0 <= priority < PRIORITIES:
        raise CallCenterError("priority must be a whole number from 0 to %d, not %s" % (PRIORITIES - 1, str(text)[:20]))
    return priority


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
    ``answer``, ``reject``, ``hangup``) and the presence commands (``pause``, ``unpause``,
    ``login``, ``logout``); ``status`` and ``stats`` tell the state.

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
        }
        self.queries: "Dict[str, Callable[[], Lines]]" = {"status": self.status, "stats": self.stats}

    # Whom the events are told to (IEventSource).

    def subscribe(self, subscriber: Any) -> None:
        """``subscriber`` (``interfaces.IEventSubscriber``) hears every event from now on."""
        self.bus.subscribe(subscriber)

    def unsubscribe(self, subscriber: Any) -> None:
        self.bus.unsubscribe(subscriber)

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

    def call(self, call_id: str, priority: int = 0, queue_name: Optional[str] = None) -> Events:
        """A call arrives in ``queue_name`` (None: the default queue): it rings whom the
        queue's strategy offers it to at the lowest level with an available member, or waits
        in the queue (refused when its ``max_queue`` calls wait already). ``priority`` 0 to
        9: waiting calls of higher priority are offered first."""
        if call_id in self.calls:
            raise CallCenterError("call %s is already in progress" % (call_id,))
        check_id("call", call_id)
        if priority:
            priority = parse_priority(priority)
        queue = self.queues[0] if queue_name is None else self._queue(queue_name)
        now = self.now()
        for figures in queue.tallies:
            figures.received += 1
        events: Events = [CallReceived(now, call_id, queue.name, priority)]
        offered: Sequence[int] = ()  # whom the strategy offers it to, at the lowest level with anyone
        for free in queue.levels:
            offered = free.offer()
            if offered:
                break
        if not offered and queue.max_queue and len(queue.waiting) >= queue.max_queue:
            for figures in queue.tallies:
                figures.refused += 1
            events.append(CallRefused(now, call_id, queue.name, queue.label == "", len(queue.waiting)))
            self.bus.publish(events, "call")
            return events
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
                CallQueued(now, call_id, queue.name, queue.label == "", priority, position, len(queue.waiting), False)
            )
            if queue.max_wait:
                self._watch_wait(call, now)
        else:
            self._ring_each(call, offered, events, now)
        self.bus.publish(events, "call")
        return events

    def answer(self, operator_id: str) -> Events:
        """The operator picks up the call ringing for it and becomes busy (the others that
        rang for it, if any, are free again)."""
        operator = self._ringing_operator(operator_id)
        call = operator.call
        assert call is not None
        now = self.now()
        self._stop_timer(operator)
        wait = now - call.received_at
        for figures in call.queue.tallies:  # written out here, not in a method: answer is the cheapest command
            figures.answered += 1
            figures.wait_total += wait
            if wait > figures.wait_longest:
                figures.wait_longest = wait
            if wait <= self.service_level:
                figures.answered_in_service_level += 1
        events: Events = [CallAnswered(now, call.id, operator.id, call.queue.name, wait, now - operator.since)]
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
        self.bus.publish(events, "answer")
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
        self.bus.publish(events, "reject")
        return events

    def hangup(self, call_id: str) -> Events:
        """The caller hangs up: missed if not answered yet, finished if answered; the
        operator then takes the next call, or goes to wrap-up or to its pending pause."""
        call = self.calls.pop(call_id, None)  # one hash lookup: at scale, each is a cache miss
        if call is None:
            raise CallCenterError("no call %s in progress" % (check_id("call", call_id),))
        state, call.state = call.state, ENDED
        queue = call.queue
        tallies = queue.tallies
        now = self.now()
        events: Events
        if state == QUEUED:
            position = queue.waiting.removed(call)
            for figures in tallies:
                figures.missed += 1
            events = [CallMissed(now, call_id, queue.name, now - call.received_at, position, call.first_position)]
            self.bus.publish(events, "hangup")
            return events
        operator = call.operator
        assert operator is not None
        if state == RINGING:
            for figures in tallies:
                figures.missed += 1
            events = [CallMissed(now, call_id, queue.name, now - call.received_at, None, call.first_position or None)]
            for ringer in call.ringers or (operator,):
                events.append(RingCanceled(now, call_id, ringer.id, queue.name, now - ringer.since, HUNG_UP))
                self._release(ringer, events, now)
            self.bus.publish(events, "hangup")
            return events
        for figures in tallies:
            figures.finished += 1
        talk = now - operator.since
        operator.talk_time += talk
        wait = operator.since - call.received_at
        pending = operator.pending
        if pending is not None:
            events = [CallFinished(now, call_id, operator.id, queue.name, wait, talk, CALLER, pending)]
            reason = operator.pending_reason
            self._absent(operator, pending, reason, now)
            if pending is PAUSED:
                events.append(OperatorPaused(now, operator.id, reason, call_id))
            else:
                events.append(OperatorLoggedOut(now, operator.id, call_id))
        elif self.wrap_up:
            events = [
                CallFinished(now, call_id, operator.id, queue.name, wait, talk, CALLER, THEN_WRAP_UP),
                WrapUpStarted(now, operator.id, call_id, self.wrap_up),
            ]
            operator.state = WRAP_UP
            operator.since = now
            operator.call = None
            assert self._call_later is not None
            operator.timer = self._call_later(self.wrap_up, self._timer_fired, WRAP_UP_TIMER, operator.id)
        else:
            events = [CallFinished(now, call_id, operator.id, queue.name, wait, talk, CALLER, THEN_AVAILABLE)]
            self._release(operator, events, now)
        self.bus.publish(events, "hangup")
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
            default.levels[0].reserve(len(self.operators))
            operator.serves.append((default, default.levels[0]))
            events: Events = [OperatorLoggedIn(now, operator_id, default.name)]
            self._release(operator, events, now)
            self.bus.publish(events, "login")
            return events
        if operator.state == BUSY and operator.pending == LOGGED_OUT:
            return self._call_off_pending(operator, LogoutCalledOff, "login")
        if operator.state != LOGGED_OUT:
            raise CallCenterError("operator %s is already logged in" % operator.id)
        now = self.now()
        return self._back(operator, [OperatorLoggedIn(now, operator.id, None)], now, "login")

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
        self.bus.publish(events, None)
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
        self.bus.publish(events, None)
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
            self.bus.publish(events, None)
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

    def operator_ids(self) -> List[str]:
        """Every operator's id in configured order, those that joined with ``login`` last."""
        return [operator.id for operator in self.operators]

    def status(self) -> Lines:
        """Every operator with its state and call, then the queued calls in the order they
        will be offered (with their priority, when not 0); with several queues, that queue
        by queue under a ``Queue NAME`` line, an operator under each queue it serves."""
        if len(self.queues) == 1:
            return self._status_lines(self.operators, self.queue.calls())
        lines = []
        for queue in self.queues:
            lines.append("Queue %s" % queue.name)
            members = [operator for operator in self.operators if any(served is queue for served, _ in operator.serves)]
            lines.extend(self._status_lines(members, queue.waiting.calls()))
        return lines

    def _status_lines(self, operators: Sequence[Operator], waiting: Iterator[Call]) -> Lines:
        lines = []
        for operator in operators:
            state = operator.state
            if operator.call is not None:
                lines.append("Operator %s %s with call %s" % (operator.id, state, operator.call.id))
            elif state is AVAILABLE:
                lines.append("Operator %s available" % operator.id)
            elif state is WRAP_UP:
                lines.append("Operator %s in wrap-up" % operator.id)
            else:
                lines.append(presence_line(operator.id, state, operator.reason))
        for call in waiting:
            if call.priority:
                lines.append("Queued call %s (priority %d)" % (call.id, call.priority))
            else:
                lines.append("Queued call %s" % call.id)
        return lines

    def stats(self) -> Lines:
        """The figures since the start: calls by outcome, waits, service level, and per operator
        its answers, rejects, ignores, talk time and how long it has been in its state (the
        table is documented in docs/stats.md); then, once presence was used, per operator its
        time paused (by reason), in wrap-up and logged in."""
        oldest = self.queue.oldest()
        now = self.now()
        ringing = sum(1 for call in self.calls.values() if call.state is RINGING)
        lines = stats_table(
            self.figures,
            self.operators,
            now,
            self.service_level,
            waiting=len(self.queue),
            oldest_waiting=None if oldest is None else oldest.received_at,
            ringing=ringing,
            limits=any(queue.max_queue or queue.max_wait for queue in self.queues),
        )
        lines.extend(presence_lines(self.operators, now))
        if len(self.queues) > 1:
            rings = {queue.name: 0 for queue in self.queues}
            for call in self.calls.values():
                if call.state is RINGING:
                    rings[call.queue.name] += 1
            for queue in self.queues:
                head = queue.waiting.oldest()
                lines.append(
                    queue_line(
                        queue.name,
                        queue.figures,
                        now,
                        self.service_level,
                        len(queue.waiting),
                        None if head is None else head.received_at,
                        rings[queue.name],
                    )
                )
        return lines

    # The state as plain data, for observers that show it (the wallboard).

    def snapshot(self, waiting_limit: int = 100) -> Dict[str, Any]:
        """Operators in configured order and the first ``waiting_limit`` waiting calls, head
        first, with the figures of ``stats``: plain dicts, lists and numbers, a copy.

        An operator is ``{"id", "state", "call" (its call's id or None), "reason" (a pause's
        reason, else None), "since" (when it entered its state)}``; a
        waiting call ``{"call", "received_at"}``; times are readings of ``now``. It costs
        O(operators + waiting_limit), whatever the length of the queue.

        With several queues (``--queues``), ``"queues"`` holds each queue, in order:
        ``{"name", "waiting" (its first ``waiting_limit`` calls), "waiting_count",
        "oldest_received_at" (of its call waiting longest, or None), "figures", "ringing"
        (its operators ringing)}``: O(operators + queues x waiting_limit) more; else ``[]``.
        """
        return {
            "now": self.now(),
            "operators": [
                {
                    "id": operator.id,
                    "state": operator.state,
                    "call": None if operator.call is None else operator.call.id,
                    "reason": operator.reason,
                    "since": operator.since,
                }
                for operator in self.operators
            ],
            "waiting": [{"call": call.id, "received_at": call.received_at} for call in self.queue.first(waiting_limit)],
            "waiting_count": len(self.queue),
            "figures": self.figures.to_dict(),
            "service_level": self.service_level,
            "queues": self._queues_snapshot(waiting_limit) if self._several else [],
        }

    def _queues_snapshot(self, waiting_limit: int) -> List[Dict[str, Any]]:
        ringing = {queue.name: 0 for queue in self.queues}
        for operator in self.operators:  # the operators, not the calls: ring-all rings one call at several
            if operator.state is RINGING and operator.call is not None:
                ringing[operator.call.queue.name] += 1
        queues = []
        for queue in self.queues:
            oldest = queue.waiting.oldest()
            first = queue.waiting.first(waiting_limit)
            queues.append(
                {
                    "name": queue.name,
                    "waiting": [{"call": call.id, "received_at": call.received_at} for call in first],
                    "waiting_count": len(queue.waiting),
                    "oldest_received_at": None if oldest is None else oldest.received_at,
                    "figures": queue.figures.to_dict(),
                    "ringing": ringing[queue.name],
                }
            )
        return queues

    # The figures' state, for saving and restoring them.

    def stats_state(self) -> Dict[str, Any]:
        """The state of the ``stats`` figures as a plain JSON-serialisable dict.

        It holds the counters and sums of :class:`QueueFigures` under ``"figures"``, per
        operator id (``"operators"``) its counters, finished talk time and ``since`` (when
        it entered its present state), and per call in progress (``"received_at"``) when it
        arrived; times are readings of the injected ``now``. It does not hold the calls,
        the queue or the operators' states: those are the call center's own state, saved
        and restored (or replayed) apart. The dict is a copy: changing it changes nothing.
        """
        state = {
            "version": 1,
            "figures": self.figures.to_dict(),
            "operators": {
                operator.id: {
                    "answered": operator.answered,
                    "rejected": operator.rejected,
                    "ignored": operator.ignored,
                    "talk_time": operator.talk_time,
                    "since": operator.since,
                }
                for operator in self.operators
            },
            "received_at": {call.id: call.received_at for call in self.calls.values()},
        }
        if len(self.queues) > 1:
            state["queues"] = {queue.name: queue.figures.to_dict() for queue in self.queues}
        return state

    def restore_stats(self, state: Dict[str, Any]) -> None:
        """Put back figures that :meth:`stats_state` returned, on the same clock.

        Call it once the calls and the operators' states are back (restored or replayed):
        it only sets figures and timestamps. Operators and calls the state names that this
        call center does not have (another ``--operators``, a call that has ended) are left
        out; operators and calls it does not name keep what they have. A state that is not
        such a dict raises :class:`CallCenterError` and changes nothing.
        """
        try:
            if state.get("version") != 1:
                raise ValueError("version %r" % (state.get("version"),))
            figures = QueueFigures.from_dict(state["figures"])
            operators = {}
            for operator_id, saved in state["operators"].items():
                operator = self._operators_by_id.get(operator_id)
                if operator is not None:
                    operators[operator] = (
                        int(saved["answered"]),
                        int(saved["rejected"]),
                        int(saved["ignored"]),
                        float(saved["talk_time"]),
                        float(saved["since"]),
                    )
            received = {
                self.calls[call_id]: float(received_at)
                for call_id, received_at in state["received_at"].items()
                if call_id in self.calls
            }
            by_queue = {
                name: QueueFigures.from_dict(saved)
                for name, saved in (state.get("queues") or {}).items()
                if name in self._queues_by_name
            }
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise CallCenterError("the saved stats cannot be read: %s" % (error,)) from None
        self.figures = figures
        for name, queue_figures in by_queue.items():
            self._queues_by_name[name].figures = queue_figures
        self._tally()
        for operator, (answered, rejected, ignored, talk_time, since) in operators.items():
            operator.answered, operator.rejected, operator.ignored = answered, rejected, ignored
            operator.talk_time, operator.since = talk_time, since
        for call, received_at in received.items():
            call.received_at = received_at

        self._refresh_free()
        self._rearm_wait(self.now())

    # The routing state, for saving and restoring it.

    def routing_state(self) -> Dict[str, Any]:
        """What presence, priorities and the strategy keep beyond the calls and the
        operators' call states, as a plain JSON-serialisable dict: per operator not simply
        logged in (``"presence"``) its state, reason, pending presence, ring timeouts in a
        row and presence times; the dynamic members; the priority of each call that has one;
        the strategy's memory; every operator each ring-all call rings (``"ringers"``, in
        the order it rang them). Give it to :meth:`restore_routing` once the calls are back."""
        presence = {}
        for operator in self.operators:
            if operator.state in (PAUSED, LOGGED_OUT, WRAP_UP) or operator.pending or operator.no_answer:
                presence[operator.id] = {
                    "state": operator.state,
                    "since": operator.since,
                    "reason": operator.reason,
                    "pending": operator.pending,
                    "pending_reason": operator.pending_reason,
                    "no_answer": operator.no_answer,
                }
            if operator.paused_time or operator.wrap_up_time or operator.logged_out_time:
                presence.setdefault(operator.id, {}).update(
                    paused_time=operator.paused_time,
                    wrap_up_time=operator.wrap_up_time,
                    logged_out_time=operator.logged_out_time,
                    joined=operator.joined,
                )
        state = {
            "version": 1,
            "presence": presence,
            "dynamic": list(self.dynamic),
            "priorities": {call.id: call.priority for call in self.calls.values() if call.priority},
            "ringers": {
                call.id: [ringer.id for ringer in call.ringers] for call in self.calls.values() if call.ringers
            },
            "strategy": self.strategy,
            "memory": self.queues[0].levels[0].state(),
        }
        if self.queue_configs is not None:
            default = self.queues[0]
            state["queues"] = {
                "config": [config.to_dict() for config in self.queue_configs],
                "calls": {
                    call.id: [call.queue.name, call.order]
                    for call in self.calls.values()
                    if call.queue is not default or call.order
                },
                "memory": {queue.name: [free.state() for free in queue.levels] for queue in self.queues},
            }
        return state

    @staticmethod
    def saved_queues(state: Optional[Dict[str, Any]]) -> "Tuple[Optional[List[QueueConfig]], Dict[str, str]]":
        """From a :meth:`routing_state`: the queues it was made with (None: no --queues), and
        the queue of each call in a queue other than the default one. CallCenterError when
        they cannot be read."""
        saved = (state or {}).get("queues")
        if saved is None:
            return None, {}
        try:
            configs = [QueueConfig.from_dict(config) for config in saved["config"]]
            calls = {str(call_id): str(name) for call_id, (name, _) in saved["calls"].items()}
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise CallCenterError("the saved queues cannot be read: %s" % (error,)) from None
        return configs, calls

    def restore_routing(self, state: Dict[str, Any]) -> None:
        """Put back what :meth:`routing_state` returned, on the same clock, once the calls and
        operators are back with every operator that holds no call available (and after
        :meth:`restore_stats`). Operators and calls it names that are not here are left out.
        A wrap-up restarts with what is left of it (none when it is over); the queue's wait
        timer restarts from the calls' received-at times. A ring-all call, back ringing at
        one of its ringers, rings again at the others it rang that are available and serve
        its queue, each with a ring timer of its own (one saved without ``"ringers"`` rings at
        that one only). CallCenterError when ``state`` is not such a dict."""
        now = self.now()
        try:
            if state.get("version") != 1:
                raise ValueError("version %r" % (state.get("version"),))
            changes = []
            for operator_id, saved in state["presence"].items():
                operator = self._operators_by_id.get(operator_id)
                if operator is None:
                    continue
                # The core's own strings: states are compared by identity.
                presence = PRESENCES.get(saved.get("state"), operator.state)
                if presence in (PAUSED, LOGGED_OUT, WRAP_UP) and operator.call is not None:
                    raise ValueError("operator %s is %s but holds call %s" % (operator_id, presence, operator.call.id))
                pending = saved.get("pending")
                if pending is not None:
                    pending = {PAUSED: PAUSED, LOGGED_OUT: LOGGED_OUT}[pending]
                changes.append((operator, presence, saved, pending))
            priorities = {
                self.calls[call_id]: parse_priority(priority)
                for call_id, priority in state["priorities"].items()
                if call_id in self.calls
            }
            dynamic = [str(operator_id) for operator_id in state["dynamic"]]
            ringers = {
                self.calls[call_id]: [str(operator_id) for operator_id in operator_ids]
                for call_id, operator_ids in (state.get("ringers") or {}).items()
                if call_id in self.calls
            }
            saved_queues = state.get("queues") or {}
            placed = {}
            for call_id, (name, order) in (saved_queues.get("calls") or {}).items():
                call = self.calls.get(call_id)
                if call is not None:
                    placed[call] = (self._queue(name), int(order))
            memories = {name: list(memory) for name, memory in (saved_queues.get("memory") or {}).items()}
        except (AttributeError, KeyError, TypeError, ValueError, CallCenterError) as error:
            raise CallCenterError("the saved routing cannot be read: %s" % (error,)) from None
        self.dynamic = [operator_id for operator_id in dynamic if operator_id in self._operators_by_id]
        for call, (queue, order) in placed.items():
            if call.state is QUEUED and call.queue is not queue:
                raise CallCenterError("call %s waits in queue %s, not %s" % (call.id, call.queue.name, queue.name))
            call.queue, call.order = queue, order
            self._arrivals = max(self._arrivals, order)
        for call, priority in priorities.items():
            call.priority = priority
        for queue in self.queues:
            waiting = list(queue.waiting.calls())
            queue.waiting = WaitingCalls()  # again, by priority, in the same order
            for call in waiting:
                queue.waiting.append(call)
        self._index_queues()
        for operator, presence, saved, pending in changes:
            operator.no_answer = int(saved.get("no_answer", 0))
            if "paused_time" in saved:
                operator.paused_time = {str(k): float(v) for k, v in saved["paused_time"].items()}
                operator.wrap_up_time = float(saved["wrap_up_time"])
                operator.logged_out_time = float(saved["logged_out_time"])
                operator.joined = float(saved["joined"])
            if presence in (PAUSED, LOGGED_OUT, WRAP_UP):
                self._absent(operator, presence, saved.get("reason"), now)
                operator.state = presence
                operator.since = float(saved.get("since", now))
                if presence == WRAP_UP:
                    assert self._call_later is not None
                    left = max(operator.since + self.wrap_up - now, 0.0)
                    operator.timer = self._call_later(left, self._timer_fired, WRAP_UP_TIMER, operator.id)
            operator.pending, operator.pending_reason = pending, saved.get("pending_reason")
        for call in self.calls.values():
            if call.state is RINGING and call.ringers is None and len(ringers.get(call, ())) > 1:
                self._ring_again(call, ringers[call], now)
        try:
            if self.queue_configs is None:
                if state.get("strategy") == self.strategy and state.get("memory") is not None:
                    self.queues[0].levels[0].restore(state["memory"])
            else:
                for queue, config in zip(self.queues, self.queue_configs):
                    memory = memories.get(queue.name)
                    if memory is not None and len(memory) == len(queue.levels) and self._saved_config(state, config):
                        for free, saved_memory in zip(queue.levels, memory):
                            if saved_memory is not None:
                                free.restore(saved_memory)
        except (TypeError, ValueError) as error:
            raise CallCenterError("the saved strategy memory cannot be read: %s" % (error,)) from None
        self._rearm_wait(now)

    @staticmethod
    def _saved_config(state: Dict[str, Any], config: QueueConfig) -> bool:
        """Whether the saved routing had ``config`` as it is now (its strategy memory applies)."""
        return config.to_dict() in (state.get("queues") or {}).get("config", [])

    def use_routing(
        self, strategy: str, seed: Optional[int] = None, queues: Optional[Sequence[QueueConfig]] = None
    ) -> None:
        """Route with ``strategy`` (one queue of every operator, with ``max_queue`` and
        ``max_wait``) or with ``queues`` from now on; the available operators stay available.
        For the constructor, and for a restore that loads calls with ``linear`` into one queue
        and then routes as configured; no call may be waiting. Operators no queue names (those
        that joined with ``login``) serve the first queue at its first level."""
        if self.queues and len(self.queue):
            raise CallCenterError("the queues cannot change while calls wait")
        configs = (
            list(queues)
            if queues is not None
            else [
                QueueConfig(
                    DEFAULT_QUEUE,
                    [(operator.id, 0) for operator in self.operators],
                    strategy,
                    self.max_queue,
                    self.max_wait,
                )
            ]
        )
        if len({config.name for config in configs}) != len(configs):
            raise CallCenterError("queue names must be unique")
        built = []
        for position, config in enumerate(configs):
            if config.max_wait and self._call_later is None:
                raise CallCenterError("a maximum wait needs a call_later to schedule it")
            if not config.members:
                raise CallCenterError("queue %s has no operators" % config.name)
            queue = Queue(
                config.name,
                "" if position == 0 else " " + config.name,
                config.max_queue,
                config.max_wait,
                config.weight,
            )
            # Each queue's random draws of its own: the seed moved along by its place.
            queue_seed = seed if seed is None else seed + position
            levels = sorted({level for _, level in config.members})
            try:
                by_level = {level: make_strategy(config.strategy, self.operators, queue_seed) for level in levels}
            except ValueError as error:
                raise CallCenterError(str(error)) from None
            queue.levels = [by_level[level] for level in levels]
            built.append((queue, by_level, config.members))
        for operator in self.operators:
            operator.serves = []
        for queue, by_level, members in built:
            for operator_id, level in members:
                member = self._operators_by_id.get(operator_id)
                if member is None:
                    raise CallCenterError("queue %s names operator %s, who is not here" % (queue.name, operator_id))
                member.serves.append((queue, by_level[level]))
        self.queues = [queue for queue, _, _ in built]
        default = self.queues[0]
        for operator in self.operators:
            if not operator.serves:
                operator.serves.append((default, default.levels[0]))
            if operator.state is AVAILABLE and operator.call is None:
                for _, free in operator.serves:
                    free.add(operator.index)
        for call in self.calls.values():
            call.queue = default
        self.queue_configs = None if queues is None else configs
        self.strategy, self.seed = strategy, seed
        self._index_queues()
        self._tally()

    def _index_queues(self) -> None:
        self._queues_by_name = {queue.name: queue for queue in self.queues}
        self.queue: Any = self.queues[0].waiting if len(self.queues) == 1 else AllWaiting(self.queues)
        self._max_waits = any(queue.max_wait for queue in self.queues)
        self._several = len(self.queues) > 1

    def _tally(self) -> None:
        """What each queue's calls count in: the totals, and with several queues its own too."""
        for queue in self.queues:
            queue.tallies = (self.figures,) if len(self.queues) == 1 else (self.figures, queue.figures)

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
        for served, free in operator.serves:
            if served is queue:
                free.ringing(index)  # round-robin remembers whom its queue offered a call
            else:
                free.discard(index)
        operator.state = RINGING
        operator.since = now
        operator.call = call
        call.state = RINGING
        call.operator = operator
        if self.ring_timeout:
            assert self._call_later is not None
            operator.timer = self._call_later(self.ring_timeout, self._timer_fired, RING_TIMER, operator.id)
        events.append(CallRinging(now, call.id, operator.id, queue.name, self.ring_timeout))

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

    def _ring_again(self, call: Call, operator_ids: Sequence[str], now: float) -> None:
        """A restore: ``call``, ringing at one operator, rings again at the others of
        ``operator_ids`` (those it rang, in that order) that are available in its queue."""
        first = call.operator
        assert first is not None
        ringers: List[Operator] = []
        for operator_id in operator_ids:
            operator = self._operators_by_id.get(operator_id)
            if operator is None or operator in ringers:
                continue
            if operator is first:
                ringers.append(operator)
            elif operator.state is AVAILABLE and any(
                served is call.queue and operator.index in free for served, free in operator.serves
            ):
                self._ring(call, operator, [], now)
                ringers.append(operator)
        if first not in ringers:
            ringers.insert(0, first)
        call.ringers = ringers if len(ringers) > 1 else None

    def _release(self, operator: Operator, events: Events, now: float) -> None:
        """Make ``operator`` available; it takes, among the queues it serves, the waiting call
        of the highest weight, then the highest priority, then the longest wait, if any."""
        self._stop_timer(operator)
        operator.state = AVAILABLE
        operator.since = now
        operator.call = None
        serves = operator.serves
        if len(serves) == 1:  # one queue: the head of its queue
            waiting = serves[0][0].waiting
            if waiting:
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
            self.bus.publish(events, command)
            return events
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
        self.bus.publish(events, command)
        return events

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
        self.bus.publish(events, command)
        return events

    def _call_off_pending(self, operator: Operator, kind: Any, command: str) -> Events:
        operator.pending = operator.pending_reason = None
        call = operator.call
        assert call is not None
        events: Events = [kind(self.now(), operator.id, call.id)]
        self.bus.publish(events, command)
        return events

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
            CallQueued(now, call.id, queue.name, queue.label == "", call.priority, position, len(queue.waiting), True)
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

    def _refresh_free(self) -> None:
        """Put the available operators back in the strategy with their figures as they are
        now (after a restore changed them: longest-idle and the like order by them)."""
        for operator in self.operators:
            for _, free in operator.serves:
                if operator.index in free:
                    free.discard(operator.index)
                    free.add(operator.index)

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
        operator = self._operator(operator_id)
        if operator.state != RINGING:
            raise CallCenterError("operator %s is %s, not ringing" % (operator.id, operator.state))
        return operator


PRESENCES = {PAUSED: PAUSED, LOGGED_OUT: LOGGED_OUT, WRAP_UP: WRAP_UP}
# "Operator A will pause after call 3", "... will log out after ...".
VERBS = {PAUSED: "pause", LOGGED_OUT: "log out"}


def presence_line(operator_id: str, presence: str, reason: Optional[str]) -> str:
    """``Operator A paused``, ``Operator A paused: lunch`` or ``Operator A logged out``."""
    if reason:
        return "Operator %s %s: %s" % (operator_id, presence, reason)
    return "Operator %s %s" % (operator_id, presence)

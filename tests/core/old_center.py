"""The core as it was before events (commit 7c71cce), frozen: what the property test of
test_rendering.py compares the rendered events with. Its commands return the assignment's lines
and its timers hand theirs to ``on_event``; its save/restore and read-outs are left out. Do not
change it: it is the old behaviour the new core must keep, line for line.
"""

from collections import deque
from itertools import islice
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Sequence, Tuple

from old_strategies import LINEAR, RING_ALL, make_strategy

from callcenter.core.model import AVAILABLE, BUSY, LOGGED_OUT, PAUSED, RINGING, WRAP_UP
from callcenter.core.queues import DEFAULT_QUEUE, QueueConfig, operator_ids_of
from callcenter.core.stats import QueueFigures

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
# reactor.callLater's shape: (seconds, callable, *args) -> an IDelayedCall with cancel().
CallLater = Callable[..., Any]
# reactor.seconds's shape: the time now, in seconds.
Now = Callable[[], float]
# What a timing observer gets: ("wait", seconds) when a call is answered, ("ring", seconds)
# when a ring ends (answered, rejected, ignored or hung up).
OnTiming = Callable[[str, float], None]


def no_time() -> float:
    """The clock of a call center that was given none: time stands still at 0."""
    return 0.0


class CallCenterError(Exception):
    """Bad input: the message is one line for the user; nothing changed."""


class Call(object):
    # operator: the one it rings or talks to; with ring-all, ringers are all it rings. order:
    # its place in the order of arrival, which breaks ties of received_at between queues (0
    # with one queue, where each queue's FIFO order says it).
    __slots__ = ("id", "operator", "order", "priority", "queue", "received_at", "ringers", "state")

    def __init__(self, call_id: str, received_at: float, priority: int, queue: "Queue") -> None:
        self.id = call_id
        self.state = QUEUED
        self.operator: Optional[Operator] = None
        self.received_at = received_at
        self.priority = priority
        self.queue = queue
        self.order = 0
        self.ringers: "Optional[List[Operator]]" = None


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


class CallQueue(object):
    """A FIFO of waiting calls: append, pop-first and removal from anywhere, all O(1).

    A call hung up while waiting is not searched for: its state is no longer QUEUED
    and it stays in the deque, skipped, until it reaches the head or the deque is
    compacted (once it holds as many such calls as waiting ones, so each removal
    pays for one copy at most). One deque slot a call, and no hashing, keeps a long
    queue cheap in memory and in cache misses.
    """

    __slots__ = ("_calls", "_waiting")

    def __init__(self) -> None:
        self._calls: "Deque[Call]" = deque()
        self._waiting = 0

    def __len__(self) -> int:
        return self._waiting

    def __iter__(self) -> Iterator[str]:
        """The ids of the waiting calls, head first."""
        return (call.id for call in self._calls if call.state is QUEUED)

    def calls(self) -> Iterator[Call]:
        return (call for call in self._calls if call.state is QUEUED)

    def append(self, call: "Call") -> None:
        self._calls.append(call)
        self._waiting += 1

    def appendleft(self, call: "Call") -> None:
        """Back to the head: a call that was ringing for an operator who paused."""
        self._calls.appendleft(call)
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

    def removed(self, call: "Call") -> None:
        """``call``, which was waiting, has left the queue (its state says so already)."""
        self._waiting -= 1
        if len(self._calls) > 2 * self._waiting + 64:
            self._calls = deque(call for call in self._calls if call.state is QUEUED)


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

    def append(self, call: Call) -> None:
        priority = call.priority
        self._lanes[priority].append(call)
        self._waiting += 1
        if priority > self._top:
            self._top = priority

    def appendleft(self, call: Call) -> None:
        priority = call.priority
        self._lanes[priority].appendleft(call)
        self._waiting += 1
        if priority > self._top:
            self._top = priority

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

    def removed(self, call: Call) -> None:
        """``call``, which was waiting, has left the queue (its state says so already)."""
        self._lanes[call.priority].removed(call)
        self._waiting -= 1


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
        "ring_all",
        "tallies",
        "waiting",
        "weight",
    )

    def __init__(self, name: str, label: str, max_queue: int, max_wait: float, weight: int, ring_all: bool) -> None:
        self.name = name
        self.label = label  # "" for the default queue, " sales" for the others: "waiting in queue sales"
        self.waiting = WaitingCalls()
        self.levels: List[Any] = []
        self.max_queue = max_queue
        self.max_wait = max_wait
        self.weight = weight
        self.ring_all = ring_all
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


class CallCenter(object):
    """Operators, calls and the queue, driven by the commands of the assignment (``call``,
    ``answer``, ``reject``, ``hangup``) and the presence commands (``pause``, ``unpause``,
    ``login``, ``logout``); ``status`` and ``stats`` tell the state.

    ``now`` is the clock the figures of ``stats`` are measured with (``reactor.seconds``;
    without one, time stands still); ``service_level`` is the answer time, in seconds,
    within which an answered call counts towards the service level; ``on_timing``, if
    given, hears every wait and ring time as it is measured (the server's histograms).

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
        on_event: Optional[Callable[[Lines], None]] = None,
        now: Optional[Now] = None,
        service_level: float = DEFAULT_SERVICE_LEVEL,
        on_timing: Optional[OnTiming] = None,
        strategy: str = LINEAR,
        seed: Optional[int] = None,
        wrap_up: float = 0.0,
        max_no_answer: int = 0,
        max_queue: int = 0,
        max_wait: float = 0.0,
        queues: Optional[Sequence[QueueConfig]] = None,
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
        self.on_timing = on_timing
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
        self.on_event = on_event
        # The commands that change state, by name: each takes the words after the name.
        self.commands: "Dict[str, Callable[[str], Lines]]" = {
            "call": self._call_words,
            "answer": self.answer,
            "reject": self.reject,
            "hangup": self.hangup,
            "pause": self._pause_words,
            "unpause": self.unpause,
            "login": self.login,
            "logout": self.logout,
        }
        self.queries: "Dict[str, Callable[[], Lines]]" = {}  # the read-outs are left out

    # The commands. Each validates first, then changes state; each returns its lines.

    def execute(self, command: str, argument: Optional[str]) -> Lines:
        """Run a command by name with the words after it: ``status`` and ``stats`` take
        none, the others an id, then ``call`` takes ``key=value`` words (``priority=3``)
        and ``pause`` a reason (``lunch``)."""
        query = self.queries.get(command)
        if query is not None:
            if argument is not None:
                raise CallCenterError("%s takes no argument" % (command,))
            return query()
        handler = self.commands.get(command)
        if handler is None:
            raise CallCenterError("unknown command %r" % (command[:80],))
        if argument is None:
            raise CallCenterError("%s needs an id" % (command,))
        return handler(argument)

    def _call_words(self, argument: str) -> Lines:
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

    def _pause_words(self, argument: str) -> Lines:
        """``pause <operator> [reason...]``: the words after the id, one space apart."""
        operator_id, _, reason = argument.partition(" ")
        return self.pause(operator_id, " ".join(reason.split()) or None)

    def call(self, call_id: str, priority: int = 0, queue_name: Optional[str] = None) -> Lines:
        """A call arrives in ``queue_name`` (None: the default queue): ring the available
        operator the queue's strategy picks among those of its lowest level with one free
        (every one of that level with ring-all), or wait in the queue (refused when its
        ``max_queue`` calls wait already). ``priority`` 0 to 9: waiting calls of higher
        priority are offered first."""
        if call_id in self.calls:
            raise CallCenterError("call %s is already in progress" % (call_id,))
        check_id("call", call_id)
        if priority:
            priority = parse_priority(priority)
        queue = self.queues[0] if queue_name is None else self._queue(queue_name)
        now = self.now()
        for figures in queue.tallies:
            figures.received += 1
        lines = ["Call %s received" % call_id]
        first = None  # the strategy's pick at the lowest level with an available member
        for free in queue.levels:
            first = free.pick()
            if first is not None:
                break
        if first is None and queue.max_queue and len(queue.waiting) >= queue.max_queue:
            for figures in queue.tallies:
                figures.refused += 1
            lines.append("Call %s refused: queue%s full" % (call_id, queue.label))
            return lines
        if not 0 <= now - self._received_at < RECEIVED_AT_RESOLUTION:
            self._received_at = now
        call = Call(call_id, self._received_at, priority, queue)
        if self._several:
            self._arrivals += 1
            call.order = self._arrivals
        self.calls[call_id] = call
        if first is None:
            queue.waiting.append(call)
            lines.append("Call %s waiting in queue%s" % (call_id, queue.label))
            if queue.max_wait:
                self._watch_wait(call, now)
        elif queue.ring_all:
            self._ring_every_free(call, lines, now)
        else:
            self._ring(call, self.operators[first], lines, now)
        return lines

    def answer(self, operator_id: str) -> Lines:
        """The operator picks up the call ringing for it and becomes busy (with ring-all,
        the others that rang for it are free again)."""
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
        if self.on_timing is not None:
            self.on_timing("ring", now - operator.since)
            self.on_timing("wait", wait)
        operator.state = BUSY
        operator.since = now
        operator.answered += 1
        operator.no_answer = 0
        call.state = ANSWERED
        lines = ["Call %s answered by operator %s" % (call.id, operator.id)]
        if call.ringers is not None:
            others, call.ringers = call.ringers, None
            call.operator = operator
            for other in others:
                if other is not operator:
                    self._end_ring(other, now)
                    self._release(other, lines, now)
        return lines

    def reject(self, operator_id: str) -> Lines:
        """The operator declines: it becomes available and the call is offered again."""
        operator = self._ringing_operator(operator_id)
        call = operator.call
        assert call is not None
        lines = ["Call %s rejected by operator %s" % (call.id, operator.id)]
        operator.rejected += 1
        for figures in call.queue.tallies:
            figures.rejected += 1
        now = self.now()
        self._end_ring(operator, now)
        operator.state = AVAILABLE
        operator.since = now
        self._offer_again(call, operator, lines, now)
        return lines

    def hangup(self, call_id: str) -> Lines:
        """The caller hangs up: missed if not answered yet, finished if answered; the
        operator then takes the next call, or goes to wrap-up or to its pending pause."""
        call = self.calls.pop(call_id, None)  # one hash lookup: at scale, each is a cache miss
        if call is None:
            raise CallCenterError("no call %s in progress" % (check_id("call", call_id),))
        state, call.state = call.state, ENDED
        tallies = call.queue.tallies
        if state == QUEUED:
            call.queue.waiting.removed(call)
            for figures in tallies:
                figures.missed += 1
            return ["Call %s missed" % call_id]
        operator = call.operator
        assert operator is not None
        now = self.now()
        if state == RINGING:
            for figures in tallies:
                figures.missed += 1
            lines = ["Call %s missed" % call_id]
            for ringer in call.ringers or (operator,):
                if self.on_timing is not None:
                    self.on_timing("ring", now - ringer.since)
                self._release(ringer, lines, now)
            return lines
        for figures in tallies:
            figures.finished += 1
        operator.talk_time += now - operator.since
        if operator.pending is not None:
            lines = ["Call %s finished and operator %s %s" % (call_id, operator.id, operator.pending)]
            self._absent(operator, operator.pending, operator.pending_reason, now)
        elif self.wrap_up:
            lines = ["Call %s finished and operator %s in wrap-up" % (call_id, operator.id)]
            operator.state = WRAP_UP
            operator.since = now
            operator.call = None
            assert self._call_later is not None
            operator.timer = self._call_later(self.wrap_up, self._timer_fired, WRAP_UP_TIMER, operator.id)
        else:
            lines = ["Call %s finished and operator %s available" % (call_id, operator.id)]
            self._release(operator, lines, now)
        return lines

    # Presence: the operator's own status (Asterisk's paused members, FreeSWITCH's agent
    # status) beside its state. None of it happens unless these commands are used.

    def pause(self, operator_id: str, reason: Optional[str] = None) -> Lines:
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
        return self._leave(operator, PAUSED, reason)

    def unpause(self, operator_id: str) -> Lines:
        """The paused operator is available again and takes the next waiting call; for a
        busy one about to pause, the pause is called off."""
        operator = self._operator(operator_id)
        if operator.state == BUSY and operator.pending == PAUSED:
            return self._call_off_pending(operator)
        if operator.state != PAUSED:
            raise CallCenterError("operator %s is not paused" % operator.id)
        return self._back(operator)

    def logout(self, operator_id: str) -> Lines:
        """The operator leaves: like ``pause``, and it stays in ``status`` as logged out."""
        operator = self._operator(operator_id)
        if operator.state == LOGGED_OUT:
            raise CallCenterError("operator %s is already logged out" % operator.id)
        return self._leave(operator, LOGGED_OUT, None)

    def login(self, operator_id: str) -> Lines:
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
            lines = ["Operator %s available" % operator_id]
            self._release(operator, lines, now)
            return lines
        if operator.state == BUSY and operator.pending == LOGGED_OUT:
            return self._call_off_pending(operator)
        if operator.state != LOGGED_OUT:
            raise CallCenterError("operator %s is already logged in" % operator.id)
        return self._back(operator)

    # The core's timers: each fires into the public operation for it (a durable center
    # journals the firing under the timer's name and replays it through the same call).

    def ring_timed_out(self, operator_id: str) -> None:
        """The ring timer of ``operator_id`` fired: the operator neither answered nor rejected
        in time, and the call is offered again; after ``max_no_answer`` of these in a row the
        operator is paused. The lines go to ``on_event``. CallCenterError when that operator
        is not ringing."""
        operator = self._ringing_operator(operator_id)
        call = operator.call
        assert call is not None
        lines = ["Call %s ignored by operator %s" % (call.id, operator.id)]
        operator.ignored += 1
        for figures in call.queue.tallies:
            figures.ignored += 1
        operator.no_answer += 1
        now = self.now()
        self._end_ring(operator, now)
        if self.max_no_answer and operator.no_answer >= self.max_no_answer:
            lines.append(presence_line(operator.id, PAUSED, NO_ANSWER))
            self._absent(operator, PAUSED, NO_ANSWER, now)
        else:
            operator.state = AVAILABLE
            operator.since = now
        self._offer_again(call, operator, lines, now)
        self._send(lines)

    def wrap_up_ended(self, operator_id: str) -> None:
        """The wrap-up timer of ``operator_id`` fired: the operator is available and takes the
        next waiting call; the lines go to ``on_event``. CallCenterError when that operator is
        not in wrap-up."""
        operator = self._operator(operator_id)
        if operator.state != WRAP_UP:
            raise CallCenterError("operator %s is %s, not in wrap-up" % (operator.id, operator.state))
        now = self.now()
        operator.wrap_up_time += now - operator.since
        lines = ["Operator %s available" % operator.id]
        self._release(operator, lines, now)
        self._send(lines)

    def waits_ended(self) -> None:
        """The wait timer fired: every call that has waited ``max_wait`` leaves the queue (the
        lines go to ``on_event``), and the timer waits for the one waiting longest now."""
        if self._wait_timer is not None:
            self._wait_timer.cancel()
            self._wait_timer = None
        if not self._max_waits:
            return
        now = self.now()
        lines: Lines = []
        for queue in self.queues:
            if not queue.max_wait:
                continue
            oldest = queue.waiting.oldest()
            while oldest is not None and now - oldest.received_at + EPSILON >= queue.max_wait:
                oldest.state = ENDED
                queue.waiting.removed(oldest)
                self._time_out(oldest, lines)
                oldest = queue.waiting.oldest()
        self._rearm_wait(now)
        if lines:
            self._send(lines)

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
                config.strategy == RING_ALL,
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

    def _ring(self, call: Call, operator: Operator, lines: Lines, now: float) -> None:
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
        lines.append("Call %s ringing for operator %s" % (call.id, operator.id))

    def _ring_every_free(self, call: Call, lines: Lines, now: float) -> bool:
        """ring-all: ring ``call`` at every available operator, in configured order; False
        when none is."""
        ringers: List[Operator] = []
        for free in call.queue.levels:
            ringers = [self.operators[index] for index in free.members()]
            if ringers:
                break
        for operator in ringers:
            self._ring(call, operator, lines, now)
        call.ringers = ringers or None
        return bool(ringers)

    def _ring_again(self, call: Call, operator_ids: Sequence[str], now: float) -> None:
        """A restore: the ring-all ``call``, ringing at one operator, rings again at the others
        of ``operator_ids`` (those it rang, in that order) that are available in its queue."""
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
        call.ringers = ringers

    def _release(self, operator: Operator, lines: Lines, now: float) -> None:
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
                self._ring(waiting.popleft(), operator, lines, now)
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
            self._ring(best.waiting.popleft(), operator, lines, now)
        else:
            for _, free in serves:
                free.add(operator.index)

    def _end_ring(self, operator: Operator, now: float) -> None:
        """``operator`` stops ringing (its call is still that call's to place)."""
        self._stop_timer(operator)
        if self.on_timing is not None:
            self.on_timing("ring", now - operator.since)
        call = operator.call
        operator.call = None
        if call is not None and call.ringers is not None:
            call.ringers.remove(operator)

    def _offer_again(self, call: Call, decliner: Operator, lines: Lines, now: float) -> None:
        """``call`` stopped ringing at ``decliner`` (rejected, ignored, or its operator paused
        or logged out: then it is not AVAILABLE). The call goes at once, before any queued
        call, to the operator the strategy picks among the available ones other than the
        decliner (linear: the next available after it, going round); with ring-all it rings
        on at the others, or once none rings it, at every available one but the decliner.
        Failing that, back to the decliner when it is available, else to the head of the
        queue."""
        free = decliner.state is AVAILABLE
        if call.ringers:  # ring-all, still ringing elsewhere
            if free:
                self._release(decliner, lines, now)
            return
        queue = call.queue
        if queue.ring_all:
            offered = self._ring_every_free(call, lines, now)
        else:
            following = None
            for level in queue.levels:
                following = level.pick_after(decliner.index)
                if following is not None:
                    break
            offered = following is not None
            if offered:
                self._ring(call, self.operators[following], lines, now)  # type: ignore[index]
        if offered:
            if free:
                # Somebody else was free, so this queue is empty; another it serves may not be.
                self._release(decliner, lines, now)
        elif free:
            self._ring(call, decliner, lines, now)
            if queue.ring_all:
                call.ringers = [decliner]
        else:
            call.ringers = None
            self._requeue(call, lines, now)

    def _leave(self, operator: Operator, presence: str, reason: Optional[str]) -> Lines:
        """``pause`` or ``logout`` of an operator that is not in that presence yet."""
        state = operator.state
        if state == BUSY:
            if operator.pending == presence:
                raise CallCenterError(
                    "operator %s will already %s after call %s" % (operator.id, VERBS[presence], operator.call.id)  # type: ignore[union-attr]
                )
            operator.pending, operator.pending_reason = presence, reason
            return ["Operator %s will %s after call %s" % (operator.id, VERBS[presence], operator.call.id)]  # type: ignore[union-attr]
        now = self.now()
        lines = [presence_line(operator.id, presence, reason)]
        if state == RINGING:
            call = operator.call
            assert call is not None
            self._end_ring(operator, now)
            self._absent(operator, presence, reason, now)
            self._offer_again(call, operator, lines, now)
        else:
            self._end_presence(operator, now)
            self._absent(operator, presence, reason, now)
        return lines

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

    def _back(self, operator: Operator) -> Lines:
        """``unpause`` or ``login``: available again, and the next waiting call rings it."""
        now = self.now()
        self._end_presence(operator, now)
        operator.reason = None
        operator.no_answer = 0
        lines = ["Operator %s available" % operator.id]
        self._release(operator, lines, now)
        return lines

    def _call_off_pending(self, operator: Operator) -> Lines:
        operator.pending = operator.pending_reason = None
        return ["Operator %s busy with call %s" % (operator.id, operator.call.id)]  # type: ignore[union-attr]

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

    def _requeue(self, call: Call, lines: Lines, now: float) -> None:
        """A call nobody can take now goes back to the head of the queue (always kept, even
        past ``max_queue``), or leaves at once when it has waited past ``max_wait``."""
        call.operator = None
        queue = call.queue
        if queue.max_wait and now - call.received_at + EPSILON >= queue.max_wait:
            self._time_out(call, lines)
            return
        call.state = QUEUED
        queue.waiting.appendleft(call)
        lines.append("Call %s waiting in queue%s" % (call.id, queue.label))
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

    def _time_out(self, call: Call, lines: Lines) -> None:
        call.state = ENDED
        del self.calls[call.id]
        for figures in call.queue.tallies:
            figures.timed_out += 1
        lines.append("Call %s timed out in queue%s" % (call.id, call.queue.label))

    # Helpers.

    def _send(self, lines: Lines) -> None:
        if self.on_event is not None:
            self.on_event(lines)

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

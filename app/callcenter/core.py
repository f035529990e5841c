"""The call center queue manager: a pure state machine.

Layer: core. It provides ``interfaces.ICallCenter`` (what the protocols use) and
``interfaces.ICallCenterObserver`` (what ``--metrics`` reads and hears).

No I/O and no Twisted here. Commands return the lines the assignment prints; time
enters through an injected ``call_later`` (``reactor.callLater`` or a
``task.Clock``) and an injected ``now`` (``reactor.seconds`` or ``Clock.seconds``),
and the lines a ring timeout produces go to ``on_event``.
Bad input raises :class:`CallCenterError` before anything changes.

Every command is O(1) whatever the queue length and the operator count: the
queue is a :class:`CallQueue` (append, pop-first and removal from anywhere are
O(1)) and free operators live in an :class:`IndexSet`.
"""

from collections import deque
from itertools import islice
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Sequence

from zope.interface import implementer

from callcenter.bitset import IndexSet
from callcenter.interfaces import ICallCenter, ICallCenterObserver
from callcenter.states import AVAILABLE, BUSY, RINGING
from callcenter.stats import QueueFigures, stats_table

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
    __slots__ = ("id", "operator", "received_at", "state")

    def __init__(self, call_id: str, received_at: float) -> None:
        self.id = call_id
        self.state = QUEUED
        self.operator: Optional[Operator] = None
        self.received_at = received_at


class Operator(object):
    # since: when it entered its state (when a ring began, when it answered); the rest are
    # its figures for ``stats``.
    __slots__ = ("answered", "call", "id", "ignored", "index", "rejected", "since", "state", "talk_time", "timer")

    def __init__(self, operator_id: str, index: int, since: float) -> None:
        self.id = operator_id
        self.index = index
        self.state = AVAILABLE
        self.call: Optional[Call] = None
        self.timer: Any = None
        self.since = since
        self.answered = 0
        self.rejected = 0
        self.ignored = 0
        self.talk_time = 0.0  # of its finished calls


class CallQueue(object):
    """The FIFO of waiting calls: append, pop-first and removal from anywhere, all O(1).

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

    def append(self, call: "Call") -> None:
        self._calls.append(call)
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


def check_id(kind: str, value: str) -> str:
    """Return ``value`` if it is a valid id: one token of 1 to 64 printable characters."""
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable() or " " in value:
        raise CallCenterError(
            "invalid %s id %r: use 1 to %d printable characters, no spaces" % (kind, value[:80], MAX_ID_LENGTH)
        )
    return value


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


@implementer(ICallCenter, ICallCenterObserver)
class CallCenter(object):
    """Operators, calls and the FIFO queue, driven by the four commands of the assignment.

    ``now`` is the clock the figures of ``stats`` are measured with (``reactor.seconds``;
    without one, time stands still); ``service_level`` is the answer time, in seconds,
    within which an answered call counts towards the service level; ``on_timing``, if
    given, hears every wait and ring time as it is measured (the server's histograms).
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
    ) -> None:
        if not operator_ids:
            raise CallCenterError("at least one operator is needed")
        if ring_timeout < 0:
            raise CallCenterError("the ring timeout cannot be negative")
        if ring_timeout and call_later is None:
            raise CallCenterError("a ring timeout needs a call_later to schedule it")
        if not 0 <= service_level < float("inf"):
            raise CallCenterError("the service level must be 0 or a positive number of seconds")
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
        self._available = IndexSet(len(self.operators))
        for operator in self.operators:
            self._available.add(operator.index)
        self.calls: "Dict[str, Call]" = {}
        self.queue = CallQueue()
        self._call_later = call_later
        self.ring_timeout = ring_timeout
        self.on_event = on_event
        self.commands: "Dict[str, Callable[[str], Lines]]" = {
            "call": self.call,
            "answer": self.answer,
            "reject": self.reject,
            "hangup": self.hangup,
        }
        self.queries: "Dict[str, Callable[[], Lines]]" = {"status": self.status, "stats": self.stats}

    # The commands. Each validates first, then changes state; each returns its lines.

    def execute(self, command: str, argument: Optional[str]) -> Lines:
        """Run a command by name: the four of the assignment take an id, ``status`` and ``stats`` none."""
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

    def call(self, call_id: str) -> Lines:
        """A call arrives: ring the first available operator, or wait in the queue."""
        if call_id in self.calls:
            raise CallCenterError("call %s is already in progress" % (call_id,))
        check_id("call", call_id)
        now = self.now()
        if not 0 <= now - self._received_at < RECEIVED_AT_RESOLUTION:
            self._received_at = now
        call = Call(call_id, self._received_at)
        self.calls[call_id] = call
        self.figures.received += 1
        lines = ["Call %s received" % call_id]
        first = self._available.first()
        if first is None:
            self.queue.append(call)
            lines.append("Call %s waiting in queue" % call_id)
        else:
            self._ring(call, self.operators[first], lines, now)
        return lines

    def answer(self, operator_id: str) -> Lines:
        """The operator picks up the call ringing for it and becomes busy."""
        operator = self._ringing_operator(operator_id)
        call = operator.call
        assert call is not None
        now = self.now()
        self._stop_ring_timer(operator)
        wait = now - call.received_at
        figures = self.figures  # written out here, not in a method: answer is the cheapest command
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
        call.state = ANSWERED
        return ["Call %s answered by operator %s" % (call.id, operator.id)]

    def reject(self, operator_id: str) -> Lines:
        """The operator declines: it becomes available and the call is offered again."""
        operator = self._ringing_operator(operator_id)
        call = operator.call
        assert call is not None
        lines = ["Call %s rejected by operator %s" % (call.id, operator.id)]
        operator.rejected += 1
        self.figures.rejected += 1
        self._offer_again(operator, lines, self.now())
        return lines

    def hangup(self, call_id: str) -> Lines:
        """The caller hangs up: missed if not answered yet, finished if answered."""
        call = self.calls.pop(call_id, None)  # one hash lookup: at scale, each is a cache miss
        if call is None:
            raise CallCenterError("no call %s in progress" % (check_id("call", call_id),))
        state, call.state = call.state, ENDED
        figures = self.figures
        if state == QUEUED:
            self.queue.removed(call)
            figures.missed += 1
            return ["Call %s missed" % call_id]
        operator = call.operator
        assert operator is not None
        now = self.now()
        if state == RINGING:
            figures.missed += 1
            if self.on_timing is not None:
                self.on_timing("ring", now - operator.since)
            lines = ["Call %s missed" % call_id]
        else:
            figures.finished += 1
            operator.talk_time += now - operator.since
            lines = ["Call %s finished and operator %s available" % (call_id, operator.id)]
        self._release(operator, lines, now)
        return lines

    def ring_timed_out(self, operator_id: str) -> None:
        """The ring timer of ``operator_id`` fired: the operator neither answered nor rejected
        in time, and the call is offered again; the lines go to ``on_event``. Its ring timer
        calls it (a journal replays it); CallCenterError when that operator is not ringing."""
        operator = self._ringing_operator(operator_id)
        call = operator.call
        assert call is not None
        lines = ["Call %s ignored by operator %s" % (call.id, operator.id)]
        operator.ignored += 1
        self.figures.ignored += 1
        self._offer_again(operator, lines, self.now())
        if self.on_event is not None:
            self.on_event(lines)

    def _ring_timer_fired(self, operator_id: str) -> None:
        self._operators_by_id[operator_id].timer = None  # it has run: nothing to cancel
        self.ring_timed_out(operator_id)

    def operator_ids(self) -> List[str]:
        return [operator.id for operator in self.operators]

    def status(self) -> Lines:
        """Every operator with its state and call, then the queued calls in order."""
        lines = []
        for operator in self.operators:
            if operator.call is None:
                lines.append("Operator %s available" % operator.id)
            else:
                lines.append("Operator %s %s with call %s" % (operator.id, operator.state, operator.call.id))
        lines.extend("Queued call %s" % call_id for call_id in self.queue)
        return lines

    def stats(self) -> Lines:
        """The figures since the start: calls by outcome, waits, service level, and per operator
        its answers, rejects, ignores, talk time and how long it has been in its state (the
        table is documented in docs/stats.md)."""
        head = self.queue.head()
        return stats_table(
            self.figures,
            self.operators,
            self.now(),
            self.service_level,
            waiting=len(self.queue),
            oldest_waiting=None if head is None else head.received_at,
        )

    # The state as plain data, for observers that show it (the wallboard).

    def snapshot(self, waiting_limit: int = 100) -> Dict[str, Any]:
        """Operators in configured order and the first ``waiting_limit`` waiting calls, head
        first, with the figures of ``stats``: plain dicts, lists and numbers, a copy.

        An operator is ``{"id", "state", "call" (its call's id or None), "reason" (None:
        no state of this call center has one), "since" (when it entered its state)}``; a
        waiting call ``{"call", "received_at"}``; times are readings of ``now``. It costs
        O(operators + waiting_limit), whatever the length of the queue.
        """
        return {
            "now": self.now(),
            "operators": [
                {
                    "id": operator.id,
                    "state": operator.state,
                    "call": None if operator.call is None else operator.call.id,
                    "reason": None,
                    "since": operator.since,
                }
                for operator in self.operators
            ],
            "waiting": [{"call": call.id, "received_at": call.received_at} for call in self.queue.first(waiting_limit)],
            "waiting_count": len(self.queue),
            "figures": self.figures.to_dict(),
            "service_level": self.service_level,
        }

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
        return {
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
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise CallCenterError("the saved stats cannot be read: %s" % (error,)) from None
        self.figures = figures
        for operator, (answered, rejected, ignored, talk_time, since) in operators.items():
            operator.answered, operator.rejected, operator.ignored = answered, rejected, ignored
            operator.talk_time, operator.since = talk_time, since
        for call, received_at in received.items():
            call.received_at = received_at

    # The transitions every command shares.

    def _ring(self, call: Call, operator: Operator, lines: Lines, now: float) -> None:
        """Deliver ``call`` to the available ``operator`` and start its ring timer."""
        self._available.discard(operator.index)
        operator.state = RINGING
        operator.since = now
        operator.call = call
        call.state = RINGING
        call.operator = operator
        if self.ring_timeout:
            assert self._call_later is not None
            operator.timer = self._call_later(self.ring_timeout, self._ring_timer_fired, operator.id)
        lines.append("Call %s ringing for operator %s" % (call.id, operator.id))

    def _release(self, operator: Operator, lines: Lines, now: float) -> None:
        """Make ``operator`` available; it takes the call at the head of the queue, if any."""
        self._stop_ring_timer(operator)
        operator.state = AVAILABLE
        operator.since = now
        operator.call = None
        if self.queue:
            call = self.queue.popleft()
            self._ring(call, operator, lines, now)
        else:
            self._available.add(operator.index)

    def _offer_again(self, operator: Operator, lines: Lines, now: float) -> None:
        """After a reject or a ring timeout: the declining operator becomes available and
        the call goes at once, before any queued call, to the next available operator
        after it, going round (the same operator when it is the only one free)."""
        call = operator.call
        assert call is not None
        self._stop_ring_timer(operator)
        if self.on_timing is not None:
            self.on_timing("ring", now - operator.since)
        operator.state = AVAILABLE
        operator.since = now
        operator.call = None
        self._available.add(operator.index)
        following = self._available.next_after(operator.index)
        assert following is not None  # the declining operator itself is available
        self._ring(call, self.operators[following], lines, now)

    def _stop_ring_timer(self, operator: Operator) -> None:
        if operator.timer is not None:
            operator.timer.cancel()
            operator.timer = None

    def _ringing_operator(self, operator_id: str) -> Operator:
        operator = self._operators_by_id.get(operator_id)
        if operator is None:
            raise CallCenterError("no operator %s" % (check_id("operator", operator_id),))
        if operator.state != RINGING:
            raise CallCenterError("operator %s is %s, not ringing" % (operator.id, operator.state))
        return operator

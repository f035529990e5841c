"""The core's timers on one reactor call: a heap of light entries, the reactor armed for the first.

Layer: wiring (Twisted's public ``IReactorTime`` only: ``callLater`` and ``seconds``).

Every ring starts a timer that its answer (or reject) nearly always cancels. A reactor
``DelayedCall`` a timer costs a Python object of ten attributes, a ``seconds()`` call and, once
on the reactor's heap, comparisons through ``DelayedCall.__lt__``. :class:`ReactorTimers`
gives the core the same ``call_later`` with cheaper timers: each an entry on its own heap,
ordered by (deadline, order of scheduling), and one reactor call armed for the earliest
deadline, armed again only when a new timer is due before it. A cancelled timer leaves its
entry behind, skipped when it comes up and swept out once such entries are half the heap.

When the armed call fires, the timers due by then run in order of deadline, then of
scheduling, each as the reactor runs a delayed call: one that raises is logged and the
others still run; a timer scheduled meanwhile waits for the next turn of the reactor, even if
it is due already.
"""

import heapq
import itertools
from typing import Any, Callable, List, Tuple

from twisted.internet.error import AlreadyCalled, AlreadyCancelled
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from zope.interface import implementer

log = Logger()

# Cancelled (or moved) entries are swept out once there are this many and they are half the heap.
SWEEP_AT = 1024
NEVER = float("inf")


@implementer(IDelayedCall)
class Timer(object):
    """One pending call of :class:`ReactorTimers`, with a reactor ``DelayedCall``'s behaviour."""

    __slots__ = ("args", "called", "cancelled", "func", "kw", "order", "owner", "time")

    def __init__(self, owner: "ReactorTimers", time: float, order: int, func: Callable[..., Any], args: Any, kw: Any):
        self.owner = owner
        self.time = time
        self.order = order  # that of its live entry on the heap
        self.func = func
        self.args = args
        self.kw = kw
        self.called = 0
        self.cancelled = 0

    def getTime(self) -> float:
        return self.time

    def active(self) -> bool:
        return not (self.cancelled or self.called)

    def cancel(self) -> None:
        if self.cancelled:
            raise AlreadyCancelled
        if self.called:
            raise AlreadyCalled
        self.cancelled = 1
        owner = self.owner
        owner.stale += 1  # its entry will be skipped
        if owner.stale > SWEEP_AT:
            owner.sweep()

    def reset(self, secondsFromNow: float) -> None:
        """Due ``secondsFromNow`` from now."""
        self._move(self.owner.seconds() + secondsFromNow)

    def delay(self, secondsLater: float) -> None:
        self._move(self.time + secondsLater)

    def _move(self, time: float) -> None:
        if self.cancelled:
            raise AlreadyCancelled
        if self.called:
            raise AlreadyCalled
        owner = self.owner
        owner.stale += 1  # the entry it leaves
        owner.push(self, time)
        if owner.stale > SWEEP_AT:
            owner.sweep()

    def __repr__(self) -> str:
        return "<Timer at %s: %r%r%s>" % (
            self.time,
            self.func,
            self.args,
            " cancelled" if self.cancelled else " called" if self.called else "",
        )


class ReactorTimers(object):
    """``call_later`` (``reactor.callLater``'s shape) on a heap, with one reactor call armed
    for its earliest deadline: ``call_later`` and ``seconds`` are the reactor's."""

    def __init__(self, call_later: Callable[..., Any], seconds: Callable[[], float]) -> None:
        self._reactor_call_later = call_later
        self.seconds = seconds
        self._heap: "List[Tuple[float, int, Timer]]" = []
        self._order = itertools.count()
        self._armed: Any = None  # the reactor's IDelayedCall, due at _armed_time
        self._armed_time = NEVER
        self.stale = 0  # entries on the heap that will be skipped (cancelled, or moved since)

    def call_later(self, delay: float, func: Callable[..., Any], *args: Any, **kw: Any) -> Timer:
        """``func(*args, **kw)`` in ``delay`` seconds, as ``reactor.callLater`` would."""
        time = self.seconds() + delay
        order = next(self._order)
        timer = Timer(self, time, order, func, args, kw)
        heapq.heappush(self._heap, (time, order, timer))
        if time < self._armed_time:
            self._arm(time)
        return timer

    def pending(self) -> int:
        """Timers still to run."""
        return len(self._heap) - self.stale

    def push(self, timer: Timer, time: float) -> None:
        timer.time = time
        timer.order = order = next(self._order)
        heapq.heappush(self._heap, (time, order, timer))
        if time < self._armed_time:
            self._arm(time)

    def sweep(self) -> None:
        """Drop the entries that will be skipped once they are half the heap."""
        if self.stale * 2 > len(self._heap):
            kept = [entry for entry in self._heap if entry[1] == entry[2].order and entry[2].active()]
            heapq.heapify(kept)
            self._heap[:] = kept  # in place: _run_due holds the list
            self.stale = 0

    def _arm(self, time: float) -> None:
        if self._armed is not None:
            self._armed.cancel()
        self._armed_time = time
        self._armed = self._reactor_call_later(max(time - self.seconds(), 0.0), self._run_due)

    def _run_due(self) -> None:
        """The armed call: every timer due by now, then the call armed for the next."""
        self._armed, self._armed_time = None, NEVER
        now = self.seconds()
        heap = self._heap
        scheduled_before = next(self._order)  # those scheduled from here on wait for the next call
        while heap and heap[0][0] <= now and heap[0][1] < scheduled_before:
            _, order, timer = heapq.heappop(heap)
            if order != timer.order or not timer.active():
                self.stale -= 1
                continue
            timer.called = 1
            try:
                timer.func(*timer.args, **timer.kw)
            except Exception:
                log.failure("Unhandled error in a timer: {timer!r}", timer=timer)
        self._arm_next()

    def _arm_next(self) -> None:
        heap = self._heap
        while heap and not (heap[0][1] == heap[0][2].order and heap[0][2].active()):
            heapq.heappop(heap)
            self.stale -= 1
        if heap and heap[0][0] < self._armed_time:
            self._arm(heap[0][0])

"""The core's timers on one reactor call: a heap of light entries, the reactor armed for the first.

Layer: wiring (Twisted's public ``IReactorTime`` only: ``callLater`` and ``seconds``).

Every ring starts a timer that its answer (or reject) nearly always cancels. A reactor
``DelayedCall`` a timer costs a Python object of ten attributes, a ``seconds()`` call and, once
on the reactor's heap, comparisons through ``DelayedCall.__lt__``. :class:`ReactorTimers`
gives the core the same ``call_later`` with cheaper timers: each an entry on its own heap,
ordered by (deadline, order of scheduling), and one reactor call armed for the earliest
deadline, armed again only when a new timer is due before it. A cancelled timer leaves its
entry behind, skipped when it comes up and swept out once such entries are half the heap.
Its timers are the virtual clock's delayed calls (``sim/heapclock.py``), on a heap of their own
that follows the reactor's time.

When the armed call fires, the timers due by then run in order of deadline, then of
scheduling, each as the reactor runs a delayed call: one that raises is logged and the
others still run; a timer scheduled meanwhile waits for the next turn of the reactor, even if
it is due already.
"""

import heapq
import itertools
from typing import Any, Callable, List, Tuple

from twisted.logger import Logger

from callcenter.sim.heapclock import SWEEP_AT, HeapDelayedCall

log = Logger()

NEVER = float("inf")


class Timer(HeapDelayedCall):
    """One pending call of :class:`ReactorTimers`: a :class:`HeapDelayedCall` (its ``clock``
    the timers) whose entry goes on the timers' heap at once and whose stale entries are
    counted and swept there."""

    __slots__ = ()

    def cancel(self) -> None:
        if self.cancelled or self.called:
            self._check_active()
        self.cancelled = 1
        timers = self.clock
        timers.stale += 1  # its entry will be skipped
        if timers.stale > SWEEP_AT:
            timers.sweep()

    def _move(self, time: float) -> None:
        timers = self.clock
        timers.stale += 1  # the entry it leaves
        timers.push(self, time)
        if timers.stale > SWEEP_AT:
            timers.sweep()


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
        timer = Timer(self, 0.0, 0, func, args, kw)  # its time and order: push's
        self.push(timer, self.seconds() + delay)
        return timer

    def pending(self) -> int:
        """Timers still to run."""
        return len(self._heap) - self.stale

    def push(self, timer: Timer, time: float) -> None:
        """``timer`` onto the heap, due at ``time``, scheduled now (the reactor armed for it if it
        comes first)."""
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

"""A virtual clock on a binary heap: Twisted's ``IReactorTime`` for simulated time.

Layer: sim (pure: Twisted's interface, no reactor).

``task.Clock`` keeps its pending calls in a list that it sorts again on every
``callLater`` and every step, which is quadratic over a simulated day. This clock
keeps them on a heap ordered by (time, order of scheduling), so calls due at the
same time run first-scheduled first, as with ``task.Clock``; a reset or delayed call
counts as scheduled anew. A cancelled or reset call leaves its old heap entry
behind, skipped when it comes up (and swept out once such entries are half the
heap), so cancel is O(1) and reset O(log n). Calls scheduled while a call runs reach
the heap only once it returns, so one cancelled before then (a ring timer that an
answer at the same instant stops) costs no heap operation at all.

Two differences from ``task.Clock``. While :meth:`advance` runs the calls that
have come due, ``seconds()`` is each call's own time, as on a real reactor, where
``task.Clock`` shows the end of the whole step; stepping to each due time in turn,
the two agree. And between calls due at the same time, a reset one takes its new
place of scheduling, where ``task.Clock`` keeps whatever place its last sort left.

:meth:`schedule` is the simulator's own fast path: an absolute time, a function and
one argument straight on the same heap, with no call object.
"""

import heapq
import itertools
from typing import Any, Callable, List, Tuple

from twisted.internet.error import AlreadyCalled, AlreadyCancelled
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from zope.interface import implementer

# (time, order, function, argument): order breaks ties first-scheduled first and is unique;
# a delayed call's argument is (call, order), stale once the call has been reset since.
Entry = Tuple[float, int, Callable[[Any], Any], Any]

# Stale entries are swept out once there are this many and they are half the heap.
SWEEP_AT = 1024


@implementer(IDelayedCall)
class HeapDelayedCall(object):
    """A pending call of :class:`HeapClock`, with ``task.Clock``'s DelayedCall behaviour
    (``clock`` its HeapClock; the server's timers, ``wiring.timers``, subclass it on a heap of
    their own)."""

    # queued: it has an entry on the heap (else it is fresh: in the clock's fresh list only).
    __slots__ = ("args", "called", "cancelled", "clock", "func", "kw", "order", "queued", "time")

    def __init__(self, clock: Any, time: float, order: int, func: Callable[..., Any], args: Any, kw: Any):
        self.clock = clock
        self.time = time
        self.order = order
        self.func = func
        self.args = args
        self.kw = kw
        self.called = 0
        self.cancelled = 0
        self.queued = 0

    def getTime(self) -> float:
        return self.time

    def active(self) -> bool:
        return not (self.cancelled or self.called)

    def _check_active(self) -> None:
        if self.cancelled:
            raise AlreadyCancelled
        if self.called:
            raise AlreadyCalled

    def cancel(self) -> None:
        if self.cancelled or self.called:
            self._check_active()
        self.cancelled = 1
        if self.queued:  # its heap entry will be skipped (a fresh one never gets one)
            self.clock._went_stale()

    def reset(self, secondsFromNow: float) -> None:
        """Due ``secondsFromNow`` from now, after the calls already scheduled for that time."""
        self._check_active()
        self._move(self.clock.seconds() + secondsFromNow)

    def delay(self, secondsLater: float) -> None:
        self._check_active()
        self._move(self.time + secondsLater)

    def _move(self, time: float) -> None:
        clock = self.clock
        queued = self.queued
        self.time = time
        self.order = next(clock._order)
        self.queued = 1
        heapq.heappush(clock.heap, (time, self.order, clock._run_delayed, (self, self.order)))
        if queued:
            clock._went_stale()  # the entry it leaves

    def __repr__(self) -> str:
        return "<%s at %s: %r%r%s>" % (
            type(self).__name__,
            self.time,
            self.func,
            self.args,
            " cancelled" if self.cancelled else " called" if self.called else "",
        )


@implementer(IReactorTime)
class HeapClock(object):
    """Simulated time that moves only when told to: ``advance``, ``run_until``."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.heap: "List[Entry]" = []
        self._order = itertools.count()
        # The order of the next entry (schedule's second item), for a caller that builds its
        # entries and pushes them onto ``heap`` itself: the simulator, for each call.
        self.order = self._order.__next__
        self._stale = 0  # entries on the heap (or fresh) that will be skipped
        # Calls scheduled by the call running now: they go on the heap once it returns, so that
        # one cancelled at once (a ring timer the answer stops) never costs a push and a pop.
        self._fresh: "List[HeapDelayedCall]" = []

    # IReactorTime.

    def seconds(self) -> float:
        return self.now

    def callLater(self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any) -> HeapDelayedCall:
        call = HeapDelayedCall(self, self.now + delay, next(self._order), callable, args, kw)
        self._fresh.append(call)
        return call

    def getDelayedCalls(self) -> List[HeapDelayedCall]:
        """The calls still pending, in the order they will run."""
        run_delayed = self._run_delayed
        live = [entry[3][0] for entry in self._live_entries(self.heap) if entry[2] == run_delayed]
        live.extend(call for call in self._fresh if call.active() and not call.queued)
        return sorted(live, key=lambda call: (call.time, call.order))

    # The simulator's side.

    def schedule(self, time: float, function: Callable[[Any], Any], argument: Any) -> None:
        """Run ``function(argument)`` at the absolute ``time`` (not before now); it cannot be cancelled."""
        heapq.heappush(self.heap, (time, next(self._order), function, argument))

    def advance(self, amount: float) -> None:
        """Move time on by ``amount``, running every call due by then, each at its own time."""
        self.run_until(self.now + amount)

    def run_until(self, end: float) -> None:
        """Run every call due at or before ``end``, in order; then the time is ``end``."""
        heap = self.heap
        pop = heapq.heappop
        fresh = self._fresh
        if fresh:
            self._flush()
        while heap and heap[0][0] <= end:
            time, _, function, argument = pop(heap)
            self.now = time
            function(argument)
            if fresh:
                self._flush()
        if end > self.now:
            self.now = end

    def pending(self) -> int:
        """Entries on the heap that will still run (a cheap count for memory checks)."""
        return len(self.heap) - self._stale + sum(1 for call in self._fresh if not (call.cancelled or call.queued))

    def _flush(self) -> None:
        """The fresh calls onto the heap, but for those cancelled or reset (queued) already."""
        heap = self.heap
        run_delayed = self._run_delayed
        for call in self._fresh:
            if not (call.cancelled or call.queued):
                call.queued = 1
                heapq.heappush(heap, (call.time, call.order, run_delayed, (call, call.order)))
        del self._fresh[:]

    def _went_stale(self) -> None:
        """One more heap entry that will be skipped: once they are many and half the heap, they go."""
        self._stale += 1
        if self._stale > SWEEP_AT and self._stale * 2 > len(self.heap):
            self._sweep()

    def _run_delayed(self, ticket: "Tuple[HeapDelayedCall, int]") -> None:
        call, order = ticket
        if call.order != order or call.cancelled or call.called:
            self._stale -= 1  # a cancelled call, or the place a reset call left
            return
        call.called = 1
        call.func(*call.args, **call.kw)

    def _live_entries(self, entries: "List[Entry]") -> List[Entry]:
        """``entries`` without the stale ones."""
        run_delayed = self._run_delayed
        kept = []
        for entry in entries:
            if entry[2] == run_delayed:
                call, order = entry[3]
                if call.order != order or not call.active():
                    continue
            kept.append(entry)
        return kept

    def _sweep(self) -> None:
        """Drop the stale entries, in place: run_until holds the list."""
        kept = self._live_entries(self.heap)
        heapq.heapify(kept)
        self.heap[:] = kept
        self._stale = 0

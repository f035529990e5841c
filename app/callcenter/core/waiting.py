"""The waiting lines: the calls of a queue in the order they will be offered.

Layer: core (pure). Append, pop-first and removal from anywhere are O(1) and a waiting call's
position O(log n) (:class:`CallQueue`), one lane a priority (:class:`WaitingCalls`), and several
queues read as one (:class:`AllWaiting`).
"""

from collections import deque
from itertools import islice
from typing import TYPE_CHECKING, Deque, Iterator, List, Optional, Sequence

from callcenter.core.model import PRIORITIES, QUEUED, Call

if TYPE_CHECKING:
    from callcenter.core.routing import Queue


class Marks(object):
    """A Fenwick tree counting the marked tickets from ``base`` on: mark and count in
    O(log n). The calls hung up while waiting in one lane, to tell a waiting call's place."""

    __slots__ = ("base", "size", "tree")

    def __init__(self, base: int, marked: "Sequence[int]", size: int) -> None:
        self.base = base
        self.size = size
        self.tree = tree = [0] * (size + 1)
        if len(marked) * size.bit_length() < size:  # few: each added in O(log n)
            for ticket in marked:
                self.add(ticket, 1)
            return
        for ticket in marked:
            tree[ticket - base + 1] += 1
        for index in range(1, size + 1):  # the sums in O(size), each node into its parent
            parent = index + (index & -index)
            if parent <= size:
                tree[parent] += tree[index]

    def covers(self, ticket: int) -> bool:
        return 0 <= ticket - self.base < self.size

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

    def between(self, low: int, high: int) -> int:
        """How many marked tickets are from ``low`` (included) to ``high`` (excluded),
        ``low`` <= ``high`` (either may be below ``base``: a call put back at the head): the
        two prefix sums in one call, the shared part of their paths not walked."""
        tree = self.tree
        last = len(tree) - 1
        # Both as prefix lengths within the tree: none is marked below base, nor past it.
        index = min(max(high - self.base, 0), last)
        other = min(max(low - self.base, 0), last)
        total = 0
        while index > other:
            total += tree[index]
            index -= index & -index
        while other > index:
            total -= tree[other]
            other -= other & -other
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
        self._waiting -= 1
        if calls[-1] is call:  # the last in: no call after it needs its ticket counted
            calls.pop()
            self._next -= 1
            return self._waiting + 1
        ticket = call.ticket
        head = calls[0].ticket
        marks = self._marks
        before = ticket - head
        if before and marks is not None:
            before -= marks.between(head, ticket)
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

    __slots__ = ("_lanes", "_top", "count")

    def __init__(self) -> None:
        self._lanes = [CallQueue() for _ in range(PRIORITIES)]
        self._top = 0
        self.count = 0

    def __len__(self) -> int:
        return self.count  # also a plain attribute: the transitions read it without a call

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
        self.count += 1
        if priority > self._top:
            self._top = priority
        elif priority < self._top:
            position += self._above(priority)
        return position

    def appendleft(self, call: Call) -> int:
        """``call`` goes back to the head of its priority; its position (from 1)."""
        priority = call.priority
        self._lanes[priority].appendleft(call)
        self.count += 1
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
        self.count -= 1
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
        self.count -= 1
        priority = call.priority
        if priority < self._top:
            return self._lanes[priority].removed(call) + self._above(priority)
        return self._lanes[priority].removed(call)


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

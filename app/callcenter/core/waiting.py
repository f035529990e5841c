"""The waiting lines: the calls of a queue in the order they will be offered.

Layer: core (pure). Append, pop-first and removal from anywhere are O(1) (:class:`CallQueue`),
one lane a priority (:class:`WaitingCalls`), and several queues read as one (:class:`AllWaiting`).
"""

from collections import deque
from itertools import islice
from typing import TYPE_CHECKING, Deque, Iterator, List, Optional, Sequence

from callcenter.core.model import PRIORITIES, QUEUED, Call

if TYPE_CHECKING:
    from callcenter.core.routing import Queue


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

"""The ring strategies as they were before events (commit 7c71cce), frozen for old_center.py.

Ring strategies: which available operator a call is offered to (``--strategy``).

Layer: core (pure, like the core). Each strategy holds the set of available operators (by their
index, the configured order) and answers, in O(1) or O(log n):

``add(index)``          the operator became available (its figures are current)
``discard(index)``      it is no longer available (paused, logged out, ringing)
``ringing(index)``      it was offered a call: no longer available, and for
                        ``round-robin`` the operator offered "the previous call"
``pick()``              whom a new call rings, or None when nobody is available
``pick_after(index)``   whom a call declined by operator ``index`` (not in the set)
                        rings, or None; the core falls back to the decliner itself
``reserve(capacity)``   make room for indexes below ``capacity`` (dynamic logins)

Ties go to the configured order (the lower index). ``ring-all`` rings every member:
it is a :class:`Linear` whose members the core walks with ``members()``.
"""

import heapq
import random
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

from zope.interface import Attribute, Interface, implementer

from callcenter.core.bitset import IndexSet

LINEAR = "linear"
ROUND_ROBIN = "round-robin"
LONGEST_IDLE = "longest-idle"
FEWEST_CALLS = "fewest-calls"
LEAST_TALK_TIME = "least-talk-time"
RANDOM = "random"
RING_ALL = "ring-all"
STRATEGIES = (LINEAR, ROUND_ROBIN, LONGEST_IDLE, FEWEST_CALLS, LEAST_TALK_TIME, RANDOM, RING_ALL)


class IRingStrategy(Interface):
    """The set of available operators (by index) that picks whom a call rings. (zope's
    interface methods take no ``self``.)"""

    ringing = Attribute("ringing(index): it was offered a call (no longer available)")

    def __len__():
        """How many operators are available."""

    def __contains__(index):  # noqa: N805
        """Whether operator ``index`` is available."""

    def add(index):  # noqa: N805
        """The operator became available, its figures current."""

    def discard(index):  # noqa: N805
        """It is no longer available."""

    def pick():
        """Whom a new call rings; None when nobody is available."""

    def pick_after(index):  # noqa: N805
        """Whom a call declined by ``index`` (not a member) rings; None when nobody else is free."""

    def reserve(capacity):  # noqa: N805
        """Make room for the indexes below ``capacity``."""

    def state():
        """Its memory as plain JSON-serialisable data, or None."""

    def restore(state):  # noqa: N805
        """Take back the memory of ``state()``."""


@implementer(IRingStrategy)
class Linear(IndexSet):
    """The assignment's rule: the first available operator in configured order; a declined
    call goes to the next available one after the decliner, going round. Its methods are
    IndexSet's own, so the default strategy costs nothing over the assignment's code."""

    __slots__ = ()

    def __init__(self, capacity: int) -> None:
        IndexSet.__init__(self, capacity)

    pick = IndexSet.first
    ringing = IndexSet.discard

    def pick_after(self, index: int) -> Optional[int]:
        return self.next_after(index)

    def members(self) -> Iterator[int]:
        """The members in order (ring-all rings them all: O(members))."""
        found = self.first()
        while found is not None:
            yield found
            found = self.first_from(found + 1)

    def state(self) -> Any:
        """The strategy's memory, for the snapshot (None: it has none)."""
        return None

    def restore(self, state: Any) -> None:
        pass


@implementer(IRingStrategy)
class RoundRobin(Linear):
    """Asterisk's ``rrmemory``: the next available operator after the one offered the
    previous call, going round."""

    __slots__ = ("last",)

    def __init__(self, capacity: int) -> None:
        Linear.__init__(self, capacity)
        self.last = -1  # the operator offered the previous call; -1: none yet

    def ringing(self, index: int) -> None:
        self.discard(index)
        self.last = index

    def pick(self) -> Optional[int]:
        return self.first() if self.last < 0 else self.next_after(self.last)

    def pick_after(self, index: int) -> Optional[int]:
        return self.pick()

    def state(self) -> Any:
        return self.last

    def restore(self, state: Any) -> None:
        self.last = int(state)


@implementer(IRingStrategy)
class Ordered(object):
    """The available operator with the smallest ``key(index)``, ties to the lower index: a
    heap with lazy deletion. An entry is current while its operator is available with that
    same key; others are dropped when they reach the top, and the heap is rebuilt once it
    holds as many stale entries as current ones (each add pays for one copy at most). An
    operator's key must not change while it is available (its figures change only while it
    rings or talks)."""

    __slots__ = ("_heap", "_key", "_keys", "_size")

    def __init__(self, capacity: int, key: "Callable[[int], Any]") -> None:
        self._key = key
        self._keys: "List[Any]" = [None] * capacity  # the current key of each member; None: not one
        self._heap: "List[Tuple[Any, int]]" = []
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, index: int) -> bool:
        return self._keys[index] is not None

    def reserve(self, capacity: int) -> None:
        self._keys.extend([None] * (capacity - len(self._keys)))

    def add(self, index: int) -> None:
        if self._keys[index] is not None:
            return
        key = self._key(index)
        self._keys[index] = key
        self._size += 1
        heapq.heappush(self._heap, (key, index))
        if len(self._heap) > 2 * self._size + 64:
            self._heap = [(key, index) for index, key in enumerate(self._keys) if key is not None]
            heapq.heapify(self._heap)

    def discard(self, index: int) -> None:
        if self._keys[index] is not None:
            self._keys[index] = None
            self._size -= 1

    ringing = discard

    def pick(self) -> Optional[int]:
        heap, keys = self._heap, self._keys
        while heap:
            key, index = heap[0]
            if keys[index] == key:
                return index
            heapq.heappop(heap)
        return None

    def pick_after(self, index: int) -> Optional[int]:
        return self.pick()

    def state(self) -> Any:
        return None

    def restore(self, state: Any) -> None:
        pass


@implementer(IRingStrategy)
class Random(object):
    """Uniform among the available operators: the k-th of them in configured order, k drawn
    from the generator. A Fenwick tree of the members makes add, discard and finding the
    k-th O(log n); the choice depends only on who is available and the generator's state,
    never on the order they became so, which a restore could not reproduce."""

    __slots__ = ("_high", "_present", "_random", "_size", "_tree")

    def __init__(self, capacity: int, seed: Optional[int]) -> None:
        self._random = random.Random(seed)
        self._size = 0
        self._allocate(max(capacity, 1))

    def _allocate(self, capacity: int) -> None:
        members = [index for index, present in enumerate(getattr(self, "_present", b"")) if present]
        self._present = bytearray(capacity)
        self._tree = [0] * (capacity + 1)  # 1-based: _tree[j] counts members in (j - (j & -j), j]
        self._high = 1 << (capacity.bit_length() - 1)  # the largest power of 2 <= capacity
        self._size = 0
        for index in members:
            self.add(index)

    def __len__(self) -> int:
        return self._size

    def __contains__(self, index: int) -> bool:
        return bool(self._present[index])

    def reserve(self, capacity: int) -> None:
        if capacity > len(self._present):
            self._allocate(max(capacity, 2 * len(self._present)))  # doubling: O(1) amortised

    def _change(self, index: int, by: int) -> None:
        tree, size = self._tree, len(self._present)
        position = index + 1
        while position <= size:
            tree[position] += by
            position += position & -position

    def add(self, index: int) -> None:
        if not self._present[index]:
            self._present[index] = 1
            self._size += 1
            self._change(index, 1)

    def discard(self, index: int) -> None:
        if self._present[index]:
            self._present[index] = 0
            self._size -= 1
            self._change(index, -1)

    ringing = discard

    def pick(self) -> Optional[int]:
        if not self._size:
            return None
        remaining = self._random.randrange(self._size) + 1  # the k-th member, from 1
        tree, size = self._tree, len(self._present)
        position, step = 0, self._high
        while step:
            following = position + step
            if following <= size and tree[following] < remaining:
                position = following
                remaining -= tree[following]
            step >>= 1
        return position  # members before it: k - 1; it is the k-th, 0-based index position

    def pick_after(self, index: int) -> Optional[int]:
        return self.pick()

    def state(self) -> Any:
        """The generator's state, so that a restored server draws what this one would have."""
        version, internal, gauss = self._random.getstate()
        return [version, list(internal), gauss]

    def restore(self, state: Any) -> None:
        version, internal, gauss = state
        self._random.setstate((version, tuple(internal), gauss))


def make_strategy(name: str, operators: Sequence[Any], seed: Optional[int] = None) -> Any:
    """The strategy called ``name`` over ``operators`` (the core's list, which may grow: keys
    read it when an operator becomes available). ValueError for an unknown name."""
    capacity = len(operators)
    if name in (LINEAR, RING_ALL):
        return Linear(capacity)
    if name == ROUND_ROBIN:
        return RoundRobin(capacity)
    if name == LONGEST_IDLE:
        return Ordered(capacity, lambda index: operators[index].since)
    if name == FEWEST_CALLS:
        return Ordered(capacity, lambda index: operators[index].answered)
    if name == LEAST_TALK_TIME:
        return Ordered(capacity, lambda index: operators[index].talk_time)
    if name == RANDOM:
        return Random(capacity, seed)
    raise ValueError("unknown strategy %r: use one of %s" % (name[:80], ", ".join(STRATEGIES)))

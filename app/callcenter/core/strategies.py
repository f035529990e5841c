"""Ring strategies: whom a call rings among the available operators (``--strategy``).

Layer: core (pure, like the core). A strategy is a class registered under its name
(:func:`strategy`); the core makes one per queue and level (``make_strategy``) and asks it,
through :class:`IRingStrategy`, everything it needs: it holds the set of available
operators (by their index, the configured order) and answers, in O(1) or O(log n)
(``ring-all``: O(operators it rings)):

``add(index)``           the operator became available (its figures are current)
``discard(index)``       it is no longer available (paused, logged out, ringing elsewhere)
``ringing(index)``       it was offered a call: no longer available, and for
                         ``round-robin`` the operator offered "the previous call"
``offer()``              whom a new call rings: the indexes, in ringing order; () when
                         nobody is available
``offer_after(index)``   whom a call declined by operator ``index`` (not in the set)
                         rings, or (); the core falls back to the decliner itself
``reserve(capacity)``    make room for indexes below ``capacity`` (dynamic logins)
``state()``, ``restore(state)``  its memory, for the snapshot

Ties go to the configured order (the lower index). docs/design.md says how to add one.
"""

import heapq
import random
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from zope.interface import Attribute, Interface, implementer

from callcenter.core.bitset import WORD, IndexSet

LINEAR = "linear"
ROUND_ROBIN = "round-robin"
LONGEST_IDLE = "longest-idle"
FEWEST_CALLS = "fewest-calls"
LEAST_TALK_TIME = "least-talk-time"
RANDOM = "random"
RING_ALL = "ring-all"

# Every strategy's class by its name, and the names in the order they were registered (the
# order the options list them).
REGISTRY: "Dict[str, Any]" = {}
STRATEGIES: List[str] = []

NOBODY: Tuple[int, ...] = ()


def strategy(name: str) -> "Callable[[Any], Any]":
    """A class decorator: the class is the strategy called ``name``. It is made as
    ``cls(operators, seed)`` (the core's list of operators, which may grow: read their figures
    when an operator becomes available; ``seed``: for its random draws, or None) and must
    provide :class:`IRingStrategy`."""

    def register(cls: Any) -> Any:
        if name not in REGISTRY:
            STRATEGIES.append(name)
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return register


class IRingStrategy(Interface):
    """The set of available operators (by index) that says whom a call rings. (zope's
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

    def offer():
        """Whom a new call rings: a sequence of indexes in ringing order (one, or several
        that ring at once); empty when nobody is available."""

    def offer_after(index):  # noqa: N805
        """Whom a call declined by ``index`` (not a member) rings; empty when nobody else is free."""

    def reserve(capacity):  # noqa: N805
        """Make room for the indexes below ``capacity``."""

    def state():
        """Its memory as plain JSON-serialisable data, or None."""

    def restore(state):  # noqa: N805
        """Take back the memory of ``state()``."""


@implementer(IRingStrategy)
@strategy(LINEAR)
class Linear(IndexSet):
    """The assignment's rule: the first available operator in configured order; a declined
    call goes to the next available one after the decliner, going round. IndexSet's own
    methods, the first member found inline: the default strategy costs one call a ring."""

    __slots__ = ()

    def __init__(self, operators: Sequence[Any], seed: Optional[int] = None) -> None:
        IndexSet.__init__(self, len(operators))

    ringing = IndexSet.discard

    def offer(self) -> Sequence[int]:
        summary = self._summary
        if not summary:
            return NOBODY
        position = (summary & -summary).bit_length() - 1
        word = self._words[position]
        return (position * WORD + (word & -word).bit_length() - 1,)

    def offer_after(self, index: int) -> Sequence[int]:
        following = self.next_after(index)
        return NOBODY if following is None else (following,)

    def members(self) -> Iterator[int]:
        """The members in order."""
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
@strategy(ROUND_ROBIN)
class RoundRobin(Linear):
    """Asterisk's ``rrmemory``: the next available operator after the one offered the
    previous call, going round."""

    __slots__ = ("last",)

    def __init__(self, operators: Sequence[Any], seed: Optional[int] = None) -> None:
        Linear.__init__(self, operators)
        self.last = -1  # the operator offered the previous call; -1: none yet

    def ringing(self, index: int) -> None:
        self.discard(index)
        self.last = index

    def offer(self) -> Sequence[int]:
        found = self.first() if self.last < 0 else self.next_after(self.last)
        return NOBODY if found is None else (found,)

    def offer_after(self, index: int) -> Sequence[int]:
        return self.offer()

    def state(self) -> Any:
        return self.last

    def restore(self, state: Any) -> None:
        self.last = int(state)


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

    def offer(self) -> Sequence[int]:
        heap, keys = self._heap, self._keys
        while heap:
            key, index = heap[0]
            if keys[index] == key:
                return (index,)
            heapq.heappop(heap)
        return NOBODY

    def offer_after(self, index: int) -> Sequence[int]:
        return self.offer()

    def state(self) -> Any:
        return None

    def restore(self, state: Any) -> None:
        pass


@implementer(IRingStrategy)
@strategy(LONGEST_IDLE)
class LongestIdle(Ordered):
    """The operator available for the longest time (FreeSWITCH's default)."""

    __slots__ = ()

    def __init__(self, operators: Sequence[Any], seed: Optional[int] = None) -> None:
        Ordered.__init__(self, len(operators), lambda index: operators[index].since)


@implementer(IRingStrategy)
@strategy(FEWEST_CALLS)
class FewestCalls(Ordered):
    """The operator with the fewest answered calls."""

    __slots__ = ()

    def __init__(self, operators: Sequence[Any], seed: Optional[int] = None) -> None:
        Ordered.__init__(self, len(operators), lambda index: operators[index].answered)


@implementer(IRingStrategy)
@strategy(LEAST_TALK_TIME)
class LeastTalkTime(Ordered):
    """The operator with the least total talk time (of finished calls)."""

    __slots__ = ()

    def __init__(self, operators: Sequence[Any], seed: Optional[int] = None) -> None:
        Ordered.__init__(self, len(operators), lambda index: operators[index].talk_time)


@implementer(IRingStrategy)
@strategy(RANDOM)
class Random(object):
    """Uniform among the available operators: the k-th of them in configured order, k drawn
    from the generator. A Fenwick tree of the members makes add, discard and finding the
    k-th O(log n); the choice depends only on who is available and the generator's state,
    never on the order they became so, which a restore could not reproduce."""

    __slots__ = ("_high", "_present", "_random", "_size", "_tree")

    def __init__(self, operators: Sequence[Any], seed: Optional[int] = None) -> None:
        self._random = random.Random(seed)
        self._size = 0
        self._allocate(max(len(operators), 1))

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

    def offer(self) -> Sequence[int]:
        if not self._size:
            return NOBODY
        remaining = self._random.randrange(self._size) + 1  # the k-th member, from 1
        tree, size = self._tree, len(self._present)
        position, step = 0, self._high
        while step:
            following = position + step
            if following <= size and tree[following] < remaining:
                position = following
                remaining -= tree[following]
            step >>= 1
        return (position,)  # members before it: k - 1; it is the k-th, 0-based index position

    def offer_after(self, index: int) -> Sequence[int]:
        return self.offer()

    def state(self) -> Any:
        """The generator's state, so that a restored server draws what this one would have."""
        version, internal, gauss = self._random.getstate()
        return [version, list(internal), gauss]

    def restore(self, state: Any) -> None:
        version, internal, gauss = state
        self._random.setstate((version, tuple(internal), gauss))


@implementer(IRingStrategy)
@strategy(RING_ALL)
class RingAll(Linear):
    """Every available operator at once, in configured order (Asterisk's ``ringall``): the
    first to answer takes the call; a declined call rings every one available but the
    decliner."""

    __slots__ = ()

    def offer(self) -> Sequence[int]:
        return tuple(self.members())

    def offer_after(self, index: int) -> Sequence[int]:
        return tuple(self.members())  # the decliner is not a member: it rang


def make_strategy(name: str, operators: Sequence[Any], seed: Optional[int] = None) -> Any:
    """The strategy called ``name`` over ``operators`` (the core's list, which may grow).
    ValueError for an unknown name."""
    cls = REGISTRY.get(name)
    if cls is None:
        raise ValueError("unknown strategy %r: use one of %s" % (name[:80], ", ".join(STRATEGIES)))
    return cls(operators, seed)

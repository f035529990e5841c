"""An ordered set of small integers with O(log64 n) first/next-after queries.

The call center must find "the first available operator" and "the next available
operator after X, going round" without walking busy operators one by one, even
when there are 10^5 of them. This is a 64-ary bitmap tree: level 0 holds one bit
per operator index, and each level above holds one bit per non-empty word of the
level below, so every query touches at most one word per level (3 levels for
262,144 operators).
"""

from typing import List, Optional

_WORD_BITS = 64
_WORD_SHIFT = 6
_WORD_MASK = _WORD_BITS - 1


def _lowest_bit(word: int) -> int:
    """Index of the lowest set bit of a non-zero word."""
    return (word & -word).bit_length() - 1


class IndexSet(object):
    """A set of the integers ``0 <= i < capacity``, ordered by value."""

    __slots__ = ("_levels", "_size")

    def __init__(self, capacity: int) -> None:
        levels: "List[List[int]]" = []
        words = max(1, (capacity + _WORD_MASK) >> _WORD_SHIFT)
        while True:
            levels.append([0] * words)
            if words == 1:
                break
            words = (words + _WORD_MASK) >> _WORD_SHIFT
        self._levels = levels
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, index: int) -> bool:
        return bool(self._levels[0][index >> _WORD_SHIFT] >> (index & _WORD_MASK) & 1)

    def add(self, index: int) -> None:
        if index in self:
            return
        self._size += 1
        for level in self._levels:
            word = index >> _WORD_SHIFT
            was_empty = level[word] == 0
            level[word] |= 1 << (index & _WORD_MASK)
            if not was_empty:
                return
            index = word

    def discard(self, index: int) -> None:
        if index not in self:
            return
        self._size -= 1
        for level in self._levels:
            word = index >> _WORD_SHIFT
            level[word] &= ~(1 << (index & _WORD_MASK))
            if level[word]:
                return
            index = word

    def first(self) -> Optional[int]:
        """The smallest member, or None when the set is empty."""
        return self.first_from(0)

    def first_from(self, start: int) -> Optional[int]:
        """The smallest member ``>= start``, or None."""
        levels = self._levels
        depth = 0
        index = start
        # Climb until a word holds a member at or after the position we are looking from.
        while True:
            level = levels[depth]
            word = index >> _WORD_SHIFT
            if word >= len(level):
                return None
            bits = level[word] >> (index & _WORD_MASK) << (index & _WORD_MASK)
            if bits:
                index = (word << _WORD_SHIFT) | _lowest_bit(bits)
                break
            depth += 1
            if depth == len(levels):
                return None
            index = word + 1
        # Descend along the lowest set bits to the member itself.
        while depth:
            depth -= 1
            index = (index << _WORD_SHIFT) | _lowest_bit(levels[depth][index])
        return index

    def next_after(self, index: int) -> Optional[int]:
        """The smallest member ``> index``, wrapping round to the smallest, or None."""
        found = self.first_from(index + 1)
        return self.first_from(0) if found is None else found

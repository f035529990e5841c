"""An ordered set of small integers with fast first and next-after queries.

Layer: core (pure).

The call center must find "the first available operator" and "the next available
operator after X, going round" without walking busy operators one by one, even
when there are 10^5 of them. Free operator indexes are bits: 30 to a word (one machine
digit of a Python int, which CPython's bit operations take without allocating a long) in
a list of words, and a summary (one Python int) with a bit for each non-empty word. Every
operation is a fixed handful of steps whatever the operator count: one word, and at
most one shift and lowest-bit search over the summary, which CPython does in C, 30
words (900 operators) per machine digit. Only ``len`` counts the bits of every word: no
command asks it (a count kept in step would cost every add and discard a step).
"""

from typing import List, Optional

WORD = 30  # indexes to a word: CPython's digit


class IndexSet(object):
    """A set of the integers ``0 <= i < capacity``, ordered by value."""

    __slots__ = ("_summary", "_words")

    def __init__(self, capacity: int) -> None:
        self._words: "List[int]" = [0] * max(1, -(-capacity // WORD))
        self._summary = 0  # bit w is set when _words[w] is not 0

    def __len__(self) -> int:
        return sum(bin(word).count("1") for word in self._words if word)

    def __bool__(self) -> bool:
        return bool(self._summary)

    def __contains__(self, index: int) -> bool:
        return bool(self._words[index // WORD] >> (index % WORD) & 1)

    def reserve(self, capacity: int) -> None:
        """Make room for the integers below ``capacity`` (the set may only grow)."""
        self._words.extend([0] * (-(-capacity // WORD) - len(self._words)))

    def add(self, index: int) -> None:
        position = index // WORD
        word = self._words[position]
        bit = 1 << (index - position * WORD)
        if word & bit:
            return
        if not word:
            self._summary |= 1 << position
        self._words[position] = word | bit

    def discard(self, index: int) -> None:
        position = index // WORD
        word = self._words[position]
        bit = 1 << (index - position * WORD)
        if not word & bit:
            return
        word ^= bit
        self._words[position] = word
        if not word:
            self._summary ^= 1 << position

    def first(self) -> Optional[int]:
        """The smallest member, or None when the set is empty."""
        summary = self._summary
        if not summary:
            return None
        position = (summary & -summary).bit_length() - 1
        word = self._words[position]
        return position * WORD + (word & -word).bit_length() - 1

    def first_from(self, start: int) -> Optional[int]:
        """The smallest member ``>= start``, or None."""
        position = start // WORD
        if position >= len(self._words):
            return None
        bits = self._words[position] >> (start - position * WORD)
        if bits:
            return start + (bits & -bits).bit_length() - 1
        later = self._summary >> (position + 1)  # the non-empty words after this one
        if not later:
            return None
        position += (later & -later).bit_length()
        word = self._words[position]
        return position * WORD + (word & -word).bit_length() - 1

    def next_after(self, index: int) -> Optional[int]:
        """The smallest member ``> index``, wrapping round to the smallest, or None."""
        found = self.first_from(index + 1)
        return self.first() if found is None else found

"""The index of free operators behaves as a sorted set: first, and next-after going round."""

from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.core.bitset import IndexSet


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(1, 300000),
    operations=st.lists(st.tuples(st.booleans(), st.integers(0, 299999)), max_size=200),
)
def test_index_set_matches_a_plain_set(capacity, operations):
    index_set, model = IndexSet(capacity), set()
    for add, value in operations:
        value %= capacity
        if add:
            index_set.add(value)
            model.add(value)
        else:
            index_set.discard(value)
            model.discard(value)
        assert len(index_set) == len(model)
        assert (value in index_set) == (value in model)
        assert index_set.first() == (min(model) if model else None)
        after = [member for member in model if member > value]
        expected = min(after) if after else (min(model) if model else None)
        assert index_set.next_after(value) == expected


def test_index_set_edges():
    index_set = IndexSet(64 * 64 + 1)
    assert index_set.first() is None and index_set.next_after(0) is None
    index_set.add(64 * 64)  # the last index, in a word of its own at every level
    assert index_set.first() == 64 * 64
    assert index_set.next_after(64 * 64) == 64 * 64
    index_set.add(0)
    assert index_set.next_after(64 * 64) == 0
    assert index_set.next_after(0) == 64 * 64
    index_set.discard(64 * 64)
    index_set.discard(64 * 64)  # twice is harmless
    assert len(index_set) == 1 and index_set.next_after(0) == 0

"""The hung-up calls' marks count as a plain list of marked tickets would."""

from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.core.waiting import Marks


@settings(max_examples=300, deadline=None)
@given(
    base=st.integers(0, 50),
    size=st.integers(1, 200),
    data=st.data(),
)
def test_marks_count_the_marked_tickets_between_two(base, size, data):
    marked = data.draw(st.sets(st.integers(base, base + size - 1)))
    marks = Marks(base, sorted(marked), size)
    low = data.draw(st.integers(base - 30, base + size + 30))  # below base: calls put back at the head
    high = data.draw(st.integers(low, base + size + 30))
    expected = sum(1 for ticket in marked if low <= ticket < high)
    assert marks.between(low, high) == expected
    assert marks.below(high) - marks.below(low) == expected

"""The hung-up calls' marks count as a plain list of marked tickets would, and a waiting call's
position is its place in a plain list."""

from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.core.model import ENDED, Call
from callcenter.core.waiting import CallQueue, Marks


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


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["append", "appendleft", "popleft", "remove"]), st.integers(0, 10**6))))
def test_a_waiting_call_leaves_from_the_position_a_plain_list_gives(operations):
    """Calls arrive, come back to the head, are taken from the head and hang up from anywhere
    (the last one in, the first, any other): each position is its place in a plain list."""
    lane, plain = CallQueue(), []
    for number, (operation, pick) in enumerate(operations):
        if operation in ("append", "appendleft") or not plain:
            call = Call(str(number), 0.0, 0, None)  # type: ignore[arg-type]
            if operation == "appendleft":
                lane.appendleft(call)
                plain.insert(0, call)
            else:
                assert lane.append(call) == len(plain) + 1
                plain.append(call)
        elif operation == "popleft":
            assert lane.popleft() is plain.pop(0)
        else:
            call = plain[pick % len(plain)] if pick % 3 else plain[-1]
            call.state = ENDED
            assert lane.removed(call) == plain.index(call) + 1
            plain.remove(call)
        assert len(lane) == len(plain)
        assert list(lane.calls()) == plain

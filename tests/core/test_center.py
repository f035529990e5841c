"""The core's rules, one test each, with time from task.Clock."""

import pytest
from twisted.internet.task import Clock

from callcenter.core.center import (
    AVAILABLE,
    BUSY,
    QUERIES,
    RINGING,
    CallCenter,
    CallCenterError,
    operator_names,
    parse_operators,
)
from callcenter.core.rendering import render
from support import read_golden
from transcript import lines_of


class Center(object):
    """A call center on a Clock that records the lines of ring-timeout events."""

    def __init__(self, operators=("A", "B"), ring_timeout=10.0):
        self.clock = Clock()
        self.events = []
        self.center = CallCenter(operators, self.clock.callLater, ring_timeout)
        self.center.subscribe(self)

    def heard(self, events, command):
        if command is None:
            self.events.append(render(events))

    def __getattr__(self, name):
        return getattr(self.center, name)

    def run(self, *commands):
        """Run 'call 1'-style commands; return all their lines."""
        lines = []
        for text in commands:
            command, argument = text.split()
            lines.extend(lines_of(self.center, command, argument))
        return lines

    def states(self):
        return {operator.id: operator.state for operator in self.center.operators}


def test_golden_transcript_on_the_core():
    commands, expected = read_golden()
    center = Center()
    out = []
    for text in commands:
        out.extend(center.run(text))
    assert "".join(line + "\n" for line in out) == expected
    assert center.clock.getDelayedCalls() == []  # every ring timer was cancelled


def test_the_queries_named_for_the_server_are_the_ones_that_change_nothing():
    center = CallCenter(["A", "B"], Clock().callLater)
    center.execute("call", "1")
    before = center.status()
    for query in QUERIES:
        center.query(query, None)
    assert sorted(QUERIES) == sorted(center.queries) and center.status() == before


def test_new_call_goes_to_first_available_operator_in_configured_order():
    center = Center(["C", "A", "B"])
    assert center.run("call 1") == ["Call 1 received", "Call 1 ringing for operator C"]
    assert center.run("call 2") == ["Call 2 received", "Call 2 ringing for operator A"]
    center.run("reject C")  # call 1 goes round to the next free one after C: B
    assert center.states() == {"C": AVAILABLE, "A": RINGING, "B": RINGING}


def test_call_waits_in_queue_when_nobody_is_available():
    center = Center(["A"])
    center.run("call 1")
    assert center.run("call 2") == ["Call 2 received", "Call 2 waiting in queue"]
    assert list(center.queue) == ["2"]


def test_dequeued_call_goes_to_the_freed_operator_fifo():
    center = Center(["A"])
    center.run("call 1", "answer A", "call 2", "call 3")
    assert center.run("hangup 1") == [
        "Call 1 finished and operator A available",
        "Call 2 ringing for operator A",
    ]
    assert list(center.queue) == ["3"]


def test_reject_offers_the_call_to_the_next_available_operator_round_the_ring():
    center = Center(["A", "B", "C"])
    center.run("call 1", "call 2", "answer B")  # 1 rings A, 2 is busy on B
    assert center.run("reject A") == ["Call 1 rejected by operator A", "Call 1 ringing for operator C"]
    # From C, going round past the busy B, back to A.
    assert center.run("reject C") == ["Call 1 rejected by operator C", "Call 1 ringing for operator A"]


def test_reject_rings_the_same_operator_when_it_is_the_only_one_available():
    center = Center()
    center.run("call 1", "call 2", "answer B")
    assert center.run("reject A") == ["Call 1 rejected by operator A", "Call 1 ringing for operator A"]


def test_rejected_call_goes_before_queued_calls():
    center = Center(["A"])
    center.run("call 1", "call 2")
    assert center.run("reject A") == ["Call 1 rejected by operator A", "Call 1 ringing for operator A"]
    assert list(center.queue) == ["2"]


def test_ring_timeout_ignores_and_offers_again():
    center = Center(ring_timeout=10)
    center.run("call 1")
    center.clock.advance(9.999)
    assert center.events == []
    center.clock.advance(0.001)
    assert center.events == [["Call 1 ignored by operator A", "Call 1 ringing for operator B"]]
    center.clock.advance(10)
    assert center.events[-1] == ["Call 1 ignored by operator B", "Call 1 ringing for operator A"]


def test_ring_timeout_rings_the_same_operator_when_alone():
    center = Center(["A"], ring_timeout=5)
    center.run("call 1", "call 2")
    center.clock.advance(5)
    assert center.events == [["Call 1 ignored by operator A", "Call 1 ringing for operator A"]]
    assert list(center.queue) == ["2"]


def test_a_ring_timeout_is_a_public_operation_that_a_journal_can_replay():
    center = Center(ring_timeout=10)
    center.run("call 1")
    center.clock.advance(4)
    center.center.ring_timed_out("A")  # as a replayed journal record does, before the timer
    assert center.events == [["Call 1 ignored by operator A", "Call 1 ringing for operator B"]]
    assert [call.getTime() for call in center.clock.getDelayedCalls()] == [14]  # A's timer is gone
    with pytest.raises(CallCenterError, match="operator A is available, not ringing"):
        center.center.ring_timed_out("A")
    assert center.center.figures.ignored == 1


@pytest.mark.parametrize("command", ["answer A", "reject A", "hangup 1"])
def test_every_ring_timer_is_cancelled_and_never_fires_stale(command):
    center = Center(ring_timeout=10)
    center.run("call 1")
    center.clock.advance(6)
    center.run(command)
    delayed = center.clock.getDelayedCalls()
    # After reject a new timer runs for the new ring, from now: the old one is gone.
    assert all(call.getTime() == 16 for call in delayed)
    center.clock.advance(5)  # past the first ring's deadline
    assert center.events == []


def test_re_ring_restarts_the_timer():
    center = Center(["A"], ring_timeout=10)
    center.run("call 1")
    center.clock.advance(8)
    center.run("reject A")  # rings A again at t=8
    center.clock.advance(9)
    assert center.events == []
    center.clock.advance(1)
    assert center.events == [["Call 1 ignored by operator A", "Call 1 ringing for operator A"]]


def test_ring_timeout_zero_schedules_nothing():
    center = CallCenter(["A"], call_later=None, ring_timeout=0)
    assert render(center.call("1")) == ["Call 1 received", "Call 1 ringing for operator A"]


def test_hangup_of_a_queued_call_is_missed():
    center = Center(["A"])
    center.run("call 1", "call 2", "call 3")
    assert center.run("hangup 2") == ["Call 2 missed"]
    assert list(center.queue) == ["3"]


def test_hangup_of_a_ringing_call_is_missed_and_the_operator_takes_the_queue_head():
    center = Center(["A"])
    center.run("call 1", "call 2")
    assert center.run("hangup 1") == ["Call 1 missed", "Call 2 ringing for operator A"]


def test_hangup_of_a_ringing_call_with_an_empty_queue_frees_the_operator():
    center = Center(["A"])
    center.run("call 1")
    assert center.run("hangup 1") == ["Call 1 missed"]
    assert center.states() == {"A": AVAILABLE}


def test_hangup_of_an_answered_call_finishes_then_takes_the_queue_head():
    center = Center(["A"])
    center.run("call 1", "answer A", "call 2")
    assert center.run("hangup 1") == ["Call 1 finished and operator A available", "Call 2 ringing for operator A"]


def test_a_finished_call_id_may_be_used_again():
    center = Center()
    center.run("call 1", "answer A", "hangup 1")
    assert center.run("call 1") == ["Call 1 received", "Call 1 ringing for operator A"]


def test_answer_makes_the_operator_busy():
    center = Center()
    center.run("call 1")
    assert center.run("answer A") == ["Call 1 answered by operator A"]
    assert center.states()["A"] == BUSY


def test_operators_option_takes_ids_or_a_count():
    assert parse_operators("A,B") == ["A", "B"]
    assert parse_operators("x, y ,z") == ["x", "y", "z"]
    assert parse_operators("5") == ["A", "B", "C", "D", "E"]
    assert operator_names(28)[-3:] == ["Z", "AA", "AB"]
    assert operator_names(703)[-1] == "AAA"
    for bad in ["0", "A,A", "A,,B", ""]:
        with pytest.raises(CallCenterError):
            parse_operators(bad)


@pytest.mark.parametrize(
    "setup, command, message",
    [
        ([], "answer C", "no operator C"),
        ([], "reject A", "operator A is available, not ringing"),
        (["call 1", "answer A"], "answer A", "operator A is busy, not ringing"),
        (["call 1", "answer A"], "reject A", "operator A is busy, not ringing"),
        ([], "hangup 9", "no call 9 in progress"),
        (["call 1"], "call 1", "call 1 is already in progress"),
        (["call 1", "call 2", "call 3"], "call 3", "call 3 is already in progress"),
    ],
)
def test_bad_input_raises_a_clear_error_and_changes_nothing(setup, command, message):
    center = Center()
    center.run(*setup)
    before = (center.status(), list(center.queue), sorted(center.calls), len(center.clock.getDelayedCalls()))
    with pytest.raises(CallCenterError) as error:
        center.run(command)
    assert str(error.value) == message
    assert (center.status(), list(center.queue), sorted(center.calls), len(center.clock.getDelayedCalls())) == before


@pytest.mark.parametrize("call_id", ["", "x" * 65, "a b", "tab\there", "nl\n", "\x00", "\u00a0"])
def test_invalid_ids_are_refused(call_id):
    center = Center()
    with pytest.raises(CallCenterError) as error:
        center.call(call_id)
    assert "invalid call id" in str(error.value)
    assert center.calls == {}


def test_ids_may_be_any_printable_token_up_to_64_characters():
    center = Center()
    for call_id in ["x" * 64, "café", "#1-b/7", "\u260e"]:
        assert render(center.call(call_id))[0] == "Call %s received" % call_id


def test_execute_checks_the_command_and_its_argument():
    center = Center()
    for command, argument, message in [
        ("dial", "1", "unknown command 'dial'"),
        ("call", None, "call needs an id"),
        ("status", "1", "status takes no argument"),
    ]:
        with pytest.raises(CallCenterError) as error:
            lines_of(center.center, command, argument)
        assert str(error.value) == message


def test_status_lists_operators_then_the_queue_in_order():
    center = Center()
    center.run("call 1", "call 2", "answer B", "call 3", "call 4")
    assert center.status() == [
        "Operator A ringing with call 1",
        "Operator B busy with call 2",
        "Queued call 3",
        "Queued call 4",
    ]


def test_configuration_errors():
    with pytest.raises(CallCenterError):
        CallCenter([], None, 0)
    with pytest.raises(CallCenterError):
        CallCenter(["A", "A"], None, 0)
    with pytest.raises(CallCenterError):
        CallCenter(["A"], None, 10)  # a timeout needs a clock
    with pytest.raises(CallCenterError):
        CallCenter(["A"], Clock().callLater, -1)


def test_queue_stays_fifo_and_small_through_many_hangups_of_waiting_calls():
    center = Center(["A"], ring_timeout=0)
    center.run("call busy", "answer A")
    for n in range(1000):
        center.run("call %d" % n)
    for n in range(1000):
        if n % 10:
            assert center.run("hangup %d" % n) == ["Call %d missed" % n]
    waiting = [str(n) for n in range(0, 1000, 10)]
    assert list(center.queue) == waiting and len(center.queue) == 100
    # Missed calls left behind in the queue's storage never outnumber the waiting ones much.
    assert len(center.queue._lanes[0]._calls) <= 2 * 100 + 64
    for n in range(1, 1000, 10):  # ids of missed calls may come again, at the tail
        center.run("call %d" % n)
    waiting += [str(n) for n in range(1, 1000, 10)]
    assert list(center.queue) == waiting
    out = center.run("hangup busy")
    assert out == ["Call busy finished and operator A available", "Call 0 ringing for operator A"]
    assert list(center.queue) == waiting[1:]

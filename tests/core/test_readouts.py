"""core/readouts.py: the lines of ``status`` and ``stats`` and the wallboard's snapshot, read
from a call center without changing it."""

from twisted.internet.task import Clock

from callcenter.core import readouts, state
from callcenter.core.center import CallCenter
from callcenter.core.queues import operator_ids_of, parse_queues

TWO_QUEUES = """
[sales]
operators = A, B
[support]
operators = B, C
strategy = ring-all
"""


def two_queues():
    clock = Clock()
    queues = parse_queues(TWO_QUEUES)
    center = CallCenter(operator_ids_of(queues), clock.callLater, 10, now=clock.seconds, queues=queues)
    for command in ("call 1 queue=support", "call 2", "call 3", "call 4 priority=2", "call 5 queue=support"):
        center.execute(*command.split(" ", 1))
    clock.advance(3)
    return center, clock


def test_a_presence_line_names_the_reason_when_there_is_one():
    assert readouts.presence_line("A", "paused", "lunch") == "Operator A paused: lunch"
    assert readouts.presence_line("A", "paused", None) == "Operator A paused"
    assert readouts.presence_line("B", "logged out", None) == "Operator B logged out"


def test_status_lists_each_operator_then_the_calls_in_offer_order_with_their_priority():
    clock = Clock()
    center = CallCenter(["A", "B", "C", "D", "E"], clock.callLater, 0, now=clock.seconds, wrap_up=5)
    for command in ("pause C lunch", "logout D", "call 1", "answer A", "hangup 1", "call 2", "call 3"):
        center.execute(*command.split(" ", 1))
    for command in ("call 4", "call 5 priority=4"):
        center.execute(*command.split(" ", 1))
    assert readouts.status(center) == [
        "Operator A in wrap-up",
        "Operator B ringing with call 2",
        "Operator C paused: lunch",
        "Operator D logged out",
        "Operator E ringing with call 3",
        "Queued call 5 (priority 4)",
        "Queued call 4",
    ]


def test_with_several_queues_an_operator_is_listed_under_each_queue_it_serves():
    center, _ = two_queues()
    assert readouts.status(center) == [
        "Queue sales",
        "Operator A ringing with call 2",
        "Operator B ringing with call 1",
        "Queued call 4 (priority 2)",
        "Queued call 3",
        "Queue support",
        "Operator B ringing with call 1",
        "Operator C ringing with call 1",
        "Queued call 5",
    ]


def test_stats_count_a_call_that_rings_at_several_operators_once_and_end_with_a_line_a_queue():
    center, _ = two_queues()
    lines = readouts.stats(center)
    assert lines[0] == "Calls received: 5"
    assert "Calls ringing: 2" in lines
    assert lines[-2:] == [
        "Queue sales: 3 received, 0 answered, 0 missed, 0 refused, 0 timed out, 2 waiting (longest 0:00:03), "
        "1 ringing, average wait -, service level -",
        "Queue support: 2 received, 0 answered, 0 missed, 0 refused, 0 timed out, 1 waiting (longest 0:00:03), "
        "1 ringing, average wait -, service level -",
    ]


def test_the_snapshot_counts_the_operators_ringing_in_each_queue_and_keeps_to_its_limit():
    center, clock = two_queues()
    snapshot = readouts.snapshot(center, waiting_limit=2)
    assert snapshot["now"] == clock.seconds() == 3
    assert snapshot["operators"][1] == {"id": "B", "state": "ringing", "call": "1", "reason": None, "since": 0.0}
    assert snapshot["waiting"] == [{"call": "4", "received_at": 0.0}, {"call": "3", "received_at": 0.0}]
    assert snapshot["waiting_count"] == 3
    assert [(queue["name"], queue["ringing"], queue["waiting_count"]) for queue in snapshot["queues"]] == [
        ("sales", 1, 2),
        ("support", 2, 1),
    ]
    assert snapshot["figures"]["received"] == 5


def test_with_one_queue_the_snapshot_has_no_queues():
    center = CallCenter(["A"], ring_timeout=0)
    center.execute("call", "1")
    assert readouts.snapshot(center)["queues"] == []


def test_reading_changes_nothing():
    center, _ = two_queues()
    before = state.center_to_data(center)
    readouts.status(center)
    readouts.stats(center)
    readouts.snapshot(center, 1)
    assert state.center_to_data(center) == before

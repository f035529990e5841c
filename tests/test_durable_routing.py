"""Durable state with routing: presence, wrap-up and wait timers, priorities, dynamic
members and the strategy's memory come back after a crash (journal replay) and after a
clean stop (snapshot); a wrap-up or max-wait timer restarts with what was left of it."""

import pytest
from twisted.internet.task import Clock

from callcenter.journal import JOURNAL_MAGIC, decode_record, read_frames
from test_durable import Server, journal_path, replies


def answer(replies):
    return [reply.get("response", reply.get("error")) for reply in replies]


@pytest.mark.parametrize("how", ["crash", "stop"])
def test_presence_priorities_and_dynamic_members_come_back(tmp_path, how):
    server = Server(tmp_path, ring_timeout=0)
    server.run(
        "pause A lunch break",
        "call 1",
        "answer B",
        "logout B",
        "login C",
        "call 2",
        "answer C",
        "call 3",
        "call 4 priority=7",
    )
    before = server.status()
    assert before == [
        "Operator A paused: lunch break",
        "Operator B busy with call 1",
        "Operator C busy with call 2",
        "Queued call 4 (priority 7)",
        "Queued call 3",
    ]
    getattr(server, how)()
    again = Server(tmp_path, ring_timeout=0)
    assert again.status() == before
    assert answer(again.run("hangup 1", "hangup 2", "unpause A")) == [
        "Call 1 finished and operator B logged out",
        "Call 2 finished and operator C available\nCall 4 ringing for operator C",
        "Operator A available\nCall 3 ringing for operator A",
    ]


@pytest.mark.parametrize("how", ["crash", "stop"])
def test_a_wrap_up_and_a_max_wait_restart_with_what_was_left(tmp_path, how):
    clock = Clock()
    server = Server(tmp_path, operators=["A"], ring_timeout=0, clock=clock, wrap_up=30, max_wait=60)
    server.run("call 1", "answer A")
    clock.advance(10)
    server.run("hangup 1", "call 2")  # A in wrap-up until 40, call 2 times out at 70
    clock.advance(20)
    getattr(server, how)()
    again = Server(tmp_path, operators=["A"], ring_timeout=0, clock=clock, wrap_up=30, max_wait=60)
    assert again.status() == ["Operator A in wrap-up", "Queued call 2"]
    clock.advance(9)
    assert again.status() == ["Operator A in wrap-up", "Queued call 2"]
    clock.advance(1)  # t=40: the wrap-up is over and A takes call 2
    assert again.status() == ["Operator A ringing with call 2"]
    again.run("pause A")  # call 2 back to the queue, received at 10
    clock.advance(29)
    assert again.status() == ["Operator A paused", "Queued call 2"]
    clock.advance(1)  # t=70
    assert again.status() == ["Operator A paused"]


def test_the_random_strategy_draws_the_same_after_a_restore(tmp_path):
    # No seed: the draws after a restore must be those the server would have made, so the
    # generator's state is saved (a snapshot at the first start) and replayed.
    options = {"operators": ["A", "B", "C", "D"], "ring_timeout": 0, "strategy": "random"}
    server = Server(tmp_path, **options)
    server.run(*["call %d" % number for number in range(3)])
    before = server.status()
    generator = server.state.center.queues[0].levels[0]._random.getstate()
    server.crash()
    again = Server(tmp_path, **options)
    assert again.status() == before
    assert again.state.center.queues[0].levels[0]._random.getstate() == generator
    again.run("hangup 0", "call 5")
    before = again.status()
    generator = again.state.center.queues[0].levels[0]._random.getstate()
    again.stop()
    third = Server(tmp_path, **options)
    assert third.status() == before
    assert third.state.center.queues[0].levels[0]._random.getstate() == generator


def test_a_ring_all_call_comes_back_ringing_at_its_first_operator(tmp_path):
    options = {"operators": ["A", "B", "C"], "ring_timeout": 0, "strategy": "ring-all"}
    server = Server(tmp_path, **options)
    server.run("pause B", "call 1")
    assert server.status() == [
        "Operator A ringing with call 1",
        "Operator B paused",
        "Operator C ringing with call 1",
    ]
    server.stop()
    again = Server(tmp_path, **options)
    assert again.status() == ["Operator A ringing with call 1", "Operator B paused", "Operator C available"]
    assert answer(again.run("reject A", "call 2")) == [
        "Call 1 rejected by operator A\nCall 1 ringing for operator C",
        "Call 2 received\nCall 2 ringing for operator A",
    ]


def test_a_dynamic_member_stays_when_the_operators_change(tmp_path):
    server = Server(tmp_path, ring_timeout=0)
    server.run("login D", "pause D break", "call 1", "answer A")
    server.stop()
    again = Server(tmp_path, operators=["A", "B", "C"], ring_timeout=0)
    assert again.status() == [
        "Operator A busy with call 1",
        "Operator B available",
        "Operator C available",
        "Operator D paused: break",
    ]


def test_a_wrap_up_end_and_a_wait_timeout_are_records_of_their_own_replayed_after_a_crash(tmp_path):
    clock = Clock()
    options = {"operators": ["A"], "ring_timeout": 0, "clock": clock, "wrap_up": 5, "max_wait": 30}
    server = Server(tmp_path, **options)
    _, transport = server.connect()
    server.run("call 1", "answer A", "hangup 1")  # A in wrap-up until t=5
    clock.advance(5)
    server.run("call 2", "answer A", "call 3")  # call 3 may wait until t=35
    clock.advance(30)
    clock.advance(0)  # the commit: the event goes out once its record is durable
    assert [reply["event"] for reply in replies(transport) if "event" in reply] == [
        "Operator A available",
        "Call 3 timed out in queue",
    ]
    with open(journal_path(tmp_path), "rb") as journal:
        data = journal.read()
    frames, _ = read_frames(data, len(JOURNAL_MAGIC))
    records = [decode_record(payload, offset)[1:] for offset, payload in frames]
    assert ("wrapped", "A") in records and ("waited", "") in records
    before = server.status()
    server.crash()
    again = Server(tmp_path, **options)
    assert again.status() == before == ["Operator A busy with call 2"]

"""Durable state with routing: presence, wrap-up and wait timers, priorities, dynamic
members and the strategy's memory come back after a crash (journal replay) and after a
clean stop (snapshot); a wrap-up or max-wait timer restarts with what was left of it."""

import json
import os

import pytest
from twisted.internet.task import Clock

from callcenter.store.journal import (
    JOURNAL_MAGIC,
    SNAPSHOT,
    SNAPSHOT_MAGIC,
    decode_record,
    frame,
    read_frames,
)
from support import DurableServer, journal_path, replies


def answer(replies):
    return [reply.get("response", reply.get("error")) for reply in replies]


@pytest.mark.parametrize("how", ["crash", "stop"])
def test_presence_priorities_and_dynamic_members_come_back(tmp_path, how):
    server = DurableServer(tmp_path, ring_timeout=0)
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
    again = DurableServer(tmp_path, ring_timeout=0)
    assert again.status() == before
    assert answer(again.run("hangup 1", "hangup 2", "unpause A")) == [
        "Call 1 finished and operator B logged out",
        "Call 2 finished and operator C available\nCall 4 ringing for operator C",
        "Operator A available\nCall 3 ringing for operator A",
    ]


@pytest.mark.parametrize("how", ["crash", "stop"])
def test_a_wrap_up_and_a_max_wait_restart_with_what_was_left(tmp_path, how):
    clock = Clock()
    server = DurableServer(tmp_path, operators=["A"], ring_timeout=0, clock=clock, wrap_up=30, max_wait=60)
    server.run("call 1", "answer A")
    clock.advance(10)
    server.run("hangup 1", "call 2")  # A in wrap-up until 40, call 2 times out at 70
    clock.advance(20)
    getattr(server, how)()
    again = DurableServer(tmp_path, operators=["A"], ring_timeout=0, clock=clock, wrap_up=30, max_wait=60)
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
    server = DurableServer(tmp_path, **options)
    server.run(*["call %d" % number for number in range(3)])
    before = server.status()
    generator = server.state.center.queues[0].levels[0]._random.getstate()
    server.crash()
    again = DurableServer(tmp_path, **options)
    assert again.status() == before
    assert again.state.center.queues[0].levels[0]._random.getstate() == generator
    again.run("hangup 0", "call 5")
    before = again.status()
    generator = again.state.center.queues[0].levels[0]._random.getstate()
    again.stop()
    third = DurableServer(tmp_path, **options)
    assert third.status() == before
    assert third.state.center.queues[0].levels[0]._random.getstate() == generator


RING_ALL = {"operators": ["A", "B", "C"], "ring_timeout": 10, "strategy": "ring-all"}


def events(transport):
    return [reply["event"] for reply in replies(transport) if "event" in reply]


@pytest.mark.parametrize("how", ["stop", "compact_and_crash"])
def test_a_ring_all_call_comes_back_ringing_at_every_operator_it_rang(tmp_path, how):
    control = DurableServer(tmp_path / "control", **RING_ALL)  # the same commands, never restarted
    server = DurableServer(tmp_path / "state", **RING_ALL)
    for center in (control, server):
        center.run("call 1", "call 2")
        center.clock.advance(4)  # the rings began at t=0: they would time out at t=10
    before = server.status()
    assert before == [
        "Operator A ringing with call 1",
        "Operator B ringing with call 1",
        "Operator C ringing with call 1",
        "Queued call 2",
    ]
    stats = server.state.center.stats()
    getattr(server, how)()
    assert os.path.getsize(journal_path(tmp_path / "state")) == len(JOURNAL_MAGIC)  # the snapshot has it all
    again = DurableServer(tmp_path / "state", clock=server.clock, **RING_ALL)
    assert again.status() == before
    assert again.state.center.stats() == stats
    # Each ringer rings a full timeout from the start at t=4, one timer each, and the
    # timeouts then re-offer as the control's did at t=10.
    assert sorted(again.state.timers) == [("timeout", "A"), ("timeout", "B"), ("timeout", "C")]
    _, heard = again.connect()
    _, control_heard = control.connect()
    again.clock.advance(9.5)
    assert again.status() == before
    again.clock.advance(0.5)
    control.clock.advance(6)
    for center in (control, again):
        center.clock.advance(0)  # the commit of the timeouts' records
    heard_lines = events(heard)
    assert heard_lines == events(control_heard)
    assert heard_lines == [
        "Call 1 ignored by operator A\nCall 2 ringing for operator A",
        "Call 1 ignored by operator B",
        "Call 1 ignored by operator C\nCall 1 ringing for operator B",
    ]
    assert again.status() == control.status()
    assert answer(again.run("answer B", "hangup 2")) == answer(control.run("answer B", "hangup 2"))
    assert again.status() == control.status()


def test_a_reject_at_a_restored_ring_all_call_leaves_it_ringing_at_the_others(tmp_path):
    server = DurableServer(tmp_path, **RING_ALL)
    server.run("pause B", "call 1", "call 2", "call 3")
    server.stop()
    again = DurableServer(tmp_path, **RING_ALL)
    assert again.status() == [
        "Operator A ringing with call 1",
        "Operator B paused",
        "Operator C ringing with call 1",
        "Queued call 2",
        "Queued call 3",
    ]
    assert answer(again.run("reject A", "answer C")) == [
        "Call 1 rejected by operator A\nCall 2 ringing for operator A",
        "Call 1 answered by operator C",
    ]


def test_an_old_snapshot_without_ringers_brings_a_ring_all_call_back_at_its_first_operator(tmp_path):
    # What a server of format 1 before "ringers" wrote after "call 1", "call 2" with ring-all:
    # call 1 at its first operator only, call 2 waiting.
    routing = {"version": 1, "presence": {}, "dynamic": [], "priorities": {}, "strategy": "ring-all", "memory": None}
    document = {
        "format": 1,
        "generation": 1,
        "time": 0.0,
        "operators": [["A", "ringing", "1"], ["B", "available", None], ["C", "available", None]],
        "queue": ["2"],
        "stats": None,
        "routing": routing,
    }
    os.mkdir(str(tmp_path / "state"))
    with open(str(tmp_path / "state" / SNAPSHOT), "wb") as snapshot:
        snapshot.write(SNAPSHOT_MAGIC + frame(json.dumps(document).encode("utf-8")))
    with open(str(tmp_path / "state" / "journal.1"), "wb") as journal:
        journal.write(JOURNAL_MAGIC)
    again = DurableServer(tmp_path / "state", **RING_ALL)
    assert again.status() == [
        "Operator A ringing with call 1",
        "Operator B ringing with call 2",
        "Operator C ringing with call 2",
    ]


def test_a_dynamic_member_stays_when_the_operators_change(tmp_path):
    server = DurableServer(tmp_path, ring_timeout=0)
    server.run("login D", "pause D break", "call 1", "answer A")
    server.stop()
    again = DurableServer(tmp_path, operators=["A", "B", "C"], ring_timeout=0)
    assert again.status() == [
        "Operator A busy with call 1",
        "Operator B available",
        "Operator C available",
        "Operator D paused: break",
    ]


def test_a_wrap_up_end_and_a_wait_timeout_are_records_of_their_own_replayed_after_a_crash(tmp_path):
    clock = Clock()
    options = {"operators": ["A"], "ring_timeout": 0, "clock": clock, "wrap_up": 5, "max_wait": 30}
    server = DurableServer(tmp_path, **options)
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
    again = DurableServer(tmp_path, **options)
    assert again.status() == before == ["Operator A busy with call 2"]

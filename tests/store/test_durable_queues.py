"""Durable state with several queues (--state-dir and --queues): every call comes back in its
queue, ringing or talking or waiting in the same order, with its queue's figures, after a
crash (journal replay) and a clean stop (snapshot); a changed file is taken like changed
--operators, and one that drops a queue or a membership holding a call refuses the start."""

import pytest

from callcenter.core.queues import operator_ids_of, parse_queues
from callcenter.store.journal import StateError
from support import DurableServer

FILE = """
[sales]
operators = A, B
[support]
operators = B, C
weight = 1
"""


def server(tmp_path, text=FILE, **options):
    queues = parse_queues(text)
    return DurableServer(tmp_path, operators=operator_ids_of(queues), ring_timeout=0, queues=queues, **options)


def answer(replies):
    return [reply.get("response", reply.get("error")) for reply in replies]


@pytest.mark.parametrize("how", ["crash", "stop"])
def test_calls_come_back_in_their_queues_in_the_same_order(tmp_path, how):
    first = server(tmp_path)
    first.run(
        "call 1",
        "call 2 queue=support",
        "answer B",
        "call 3 queue=support",
        "call 4 queue=support priority=2",
        "call 5",
        "call 6",
        "call 7 queue=support",
    )
    before = first.status()
    assert before == [
        "Queue sales",
        "Operator A ringing with call 1",
        "Operator B busy with call 2",
        "Queued call 5",
        "Queued call 6",
        "Queue support",
        "Operator B busy with call 2",
        "Operator C ringing with call 3",
        "Queued call 4 (priority 2)",
        "Queued call 7",
    ]
    stats = first.state.center.stats()
    getattr(first, how)()
    again = server(tmp_path)
    assert again.status() == before
    assert again.state.center.stats() == stats
    # Support weighs more: B takes its calls first, the priority one, then sales in order.
    assert answer(again.run("hangup 2", "hangup 4", "hangup 7", "hangup 5")) == [
        "Call 2 finished and operator B available\nCall 4 ringing for operator B",
        "Call 4 missed\nCall 7 ringing for operator B",
        "Call 7 missed\nCall 5 ringing for operator B",
        "Call 5 missed\nCall 6 ringing for operator B",
    ]


def test_ties_in_time_keep_the_order_of_arrival_across_queues_after_a_restore(tmp_path):
    text = "[sales]\noperators = A\n[support]\noperators = A\n"
    first = server(tmp_path, text)
    first.run("call 1", "call 2 queue=support", "call 3", "call 4 queue=support")
    first.stop()
    again = server(tmp_path, text)
    assert answer(again.run("hangup 1", "hangup 2", "hangup 3")) == [
        "Call 1 missed\nCall 2 ringing for operator A",
        "Call 2 missed\nCall 3 ringing for operator A",
        "Call 3 missed\nCall 4 ringing for operator A",
    ]


def test_a_changed_file_keeps_the_calls_of_the_queues_it_keeps(tmp_path):
    first = server(tmp_path)
    first.run("call 1 queue=support", "answer B", "call 2 queue=support", "call 3 queue=support")
    first.stop()
    wider = FILE.replace("operators = B, C", "operators = B, C, D") + "[billing]\noperators = D\n"
    again = server(tmp_path, wider)
    assert again.status() == [
        "Queue sales",
        "Operator A available",
        "Operator B busy with call 1",
        "Queue support",
        "Operator B busy with call 1",
        "Operator C ringing with call 2",
        "Operator D ringing with call 3",
        "Queue billing",
        "Operator D ringing with call 3",
    ]
    assert again.state.center.queue_names() == ["sales", "support", "billing"]
    assert answer(again.run("hangup 1")) == ["Call 1 finished and operator B available"]


def test_dropping_a_queue_that_holds_a_call_refuses_the_start(tmp_path):
    first = server(tmp_path)
    first.run("call 1", "call 2", "call 3 queue=support", "call 4 queue=support")
    first.stop()
    with pytest.raises(StateError) as refused:
        server(tmp_path, "[sales]\noperators = A, B, C\n")
    message = str(refused.value)
    assert message.startswith(
        "call 3 is in queue support in the saved state in %s but --queues has no such queue" % tmp_path
    )
    assert "\n" not in message
    again = server(tmp_path)  # the old file still works: nothing was changed
    assert "Queued call 4" in again.status()


def test_dropping_a_membership_that_holds_a_call_refuses_the_start(tmp_path):
    first = server(tmp_path)
    first.run("call 1 queue=support", "answer B")
    first.stop()
    with pytest.raises(StateError) as refused:
        server(tmp_path, "[sales]\noperators = A, B\n[support]\noperators = C\nweight = 1\n")
    assert str(refused.value).startswith(
        "operator B is busy with call 1 of queue support in the saved state in %s but does not serve support" % tmp_path
    )


def test_the_default_queue_going_away_takes_its_calls_to_the_new_default(tmp_path):
    first = server(tmp_path)
    first.run("call 1", "answer A")
    first.stop()
    again = DurableServer(tmp_path, operators=["A", "B", "C"], ring_timeout=0)  # no --queues any more
    assert again.status() == ["Operator A busy with call 1", "Operator B available", "Operator C available"]
    assert answer(again.run("hangup 1")) == ["Call 1 finished and operator A available"]


def test_a_file_added_to_a_state_without_one_puts_the_calls_in_its_first_queue(tmp_path):
    first = DurableServer(tmp_path, operators=["A", "B", "C"], ring_timeout=0)
    first.run("call 1", "answer A", "call 2", "call 3", "call 4")
    first.stop()
    again = server(tmp_path, FILE.replace("operators = A, B", "operators = A, B, C"))
    assert again.status() == [
        "Queue sales",
        "Operator A busy with call 1",
        "Operator B ringing with call 2",
        "Operator C ringing with call 3",
        "Queued call 4",
        "Queue support",
        "Operator B ringing with call 2",
        "Operator C ringing with call 3",
    ]
    assert answer(again.run("call 5 queue=support")) == ["Call 5 received\nCall 5 waiting in queue support"]
    assert answer(again.run("hangup 3")) == ["Call 3 missed\nCall 5 ringing for operator C"]


@pytest.mark.parametrize("how", ["crash", "stop"])
def test_each_queues_round_robin_memory_and_figures_come_back(tmp_path, how):
    text = "[sales]\noperators = A, B, C\n[rr]\noperators = A, B, C\nstrategy = round-robin\n"
    first = server(tmp_path, text)
    first.run("call 1 queue=rr", "hangup 1", "call 2", "hangup 2")  # rr offered A last
    getattr(first, how)()
    again = server(tmp_path, text)
    assert answer(again.run("call 3 queue=rr", "call 4")) == [
        "Call 3 received\nCall 3 ringing for operator B",
        "Call 4 received\nCall 4 ringing for operator A",
    ]
    assert again.state.center.stats()[-2:] == [
        "Queue sales: 2 received, 0 answered, 1 missed, 0 refused, 0 timed out, 0 waiting (longest -), "
        "1 ringing, average wait -, service level -",
        "Queue rr: 2 received, 0 answered, 1 missed, 0 refused, 0 timed out, 0 waiting (longest -), "
        "1 ringing, average wait -, service level -",
    ]


def test_dropping_an_operator_that_holds_a_call_from_the_file_refuses_the_start(tmp_path):
    first = server(tmp_path)
    first.run("call 1 queue=support", "call 2 queue=support", "answer C")
    first.stop()
    with pytest.raises(StateError) as refused:
        server(tmp_path, "[sales]\noperators = A, B\n[support]\noperators = B\nweight = 1\n")
    assert str(refused.value).startswith(
        "operator C is busy with call 2 in the saved state in %s but is not in --operators (nor in --queues): "
        % tmp_path
    )


RING_ALL_FILE = """
[sales]
operators = A, B, C:1
strategy = ring-all
[support]
operators = C, D
"""


@pytest.mark.parametrize("how", ["stop", "compact_and_crash"])
def test_a_ring_all_queue_call_comes_back_ringing_at_every_operator_of_its_level(tmp_path, how):
    control = server(tmp_path / "control", RING_ALL_FILE)  # the same commands, never restarted
    first = server(tmp_path / "state", RING_ALL_FILE)
    commands = ("call 1", "call 2", "call 3", "call 4 queue=support")
    for center in (control, first):
        center.run(*commands)
    before = first.status()
    assert before == [
        "Queue sales",
        "Operator A ringing with call 1",
        "Operator B ringing with call 1",
        "Operator C ringing with call 2",
        "Queued call 3",
        "Queue support",
        "Operator C ringing with call 2",
        "Operator D ringing with call 4",
    ]
    getattr(first, how)()
    again = server(tmp_path / "state", RING_ALL_FILE)
    assert again.status() == before
    after = ("reject A", "answer B", "reject C", "hangup 1")
    replied = answer(again.run(*after))
    assert replied == answer(control.run(*after))
    assert replied == [
        "Call 1 rejected by operator A\nCall 3 ringing for operator A",
        "Call 1 answered by operator B",
        "Call 2 rejected by operator C\nCall 2 ringing for operator C",
        "Call 1 finished and operator B available",
    ]
    assert again.status() == control.status()


@pytest.mark.parametrize("how", ["crash", "stop"])
def test_a_member_that_joined_with_login_comes_back_with_its_call(tmp_path, how):
    first = server(tmp_path)
    first.run("login Z", "call 1", "call 2", "call 3", "answer Z")
    before = first.status()
    assert before[:4] == [
        "Queue sales",
        "Operator A ringing with call 1",
        "Operator B ringing with call 2",
        "Operator Z busy with call 3",
    ]
    getattr(first, how)()
    again = server(tmp_path)
    assert again.status() == before
    again.stop()
    wider = server(tmp_path, FILE + "[billing]\noperators = C\n")  # a changed file: Z keeps its call
    assert wider.status()[:4] == before[:4]
    assert answer(wider.run("hangup 3")) == ["Call 3 finished and operator Z available"]


def levels(server):
    return {queue.name: dict(queue.members) for queue in server.state.center.queues}


def test_levels_and_an_operators_finish_come_back_from_the_journal_and_from_the_snapshot(tmp_path):
    first = server(tmp_path)
    assert first.run("level A 3", "level B 1 queue=support", "call 1 queue=support", "answer C", "finish C") == [
        {"response": "Operator A at level 3"},
        {"response": "Operator B at level 1 in queue support"},
        {"response": "Call 1 received\nCall 1 ringing for operator C"},
        {"response": "Call 1 answered by operator C"},
        {"response": "Call 1 finished by operator C, now available"},
    ]
    changed = levels(first)
    assert changed["sales"]["A"] == 3 and changed["support"]["B"] == 1
    first.crash()
    replayed = server(tmp_path)  # the same --queues: its levels are the journal's
    assert levels(replayed) == changed
    assert replayed.state.center.stats() == first.state.center.stats()
    replayed.compact_and_crash()
    from_snapshot = server(tmp_path)
    assert levels(from_snapshot) == changed
    assert from_snapshot.run("call 2")[0]["response"].endswith("ringing for operator B")  # A is at level 3

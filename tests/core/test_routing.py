"""Routing beyond the assignment, as transcripts: presence, wrap-up, auto-pause, ring
strategies, queue limits and priorities (docs/routing.md). Each test is the session a
user types (``> command``) and exactly what they see; ``> +N`` lets N seconds pass."""

import json

import pytest
from zope.interface.verify import verifyObject

from callcenter.core.center import CallCenter, CallCenterError
from callcenter.core.strategies import STRATEGIES, IRingStrategy
from callcenter.net.wire import encode_request
from support import ProtocolServer, make_shell, read_golden, replies
from transcript import Session, check


@pytest.mark.parametrize("strategy", ["linear", "round-robin", "longest-idle", "fewest-calls", "least-talk-time"])
def test_golden_transcript_is_unchanged_by_the_new_defaults(strategy):
    # With two operators and the assignment's script, the strategies that ring one operator
    # agree with linear on every line (each offer there has one choice or the tie-break).
    commands, expected = read_golden()
    session = Session()
    assert "".join(line + "\n" for text in commands for line in session.run(text)) == expected
    assert session.clock.getDelayedCalls() == []


# Presence.


def test_pause_and_unpause_of_an_available_operator():
    check(
        """
> pause A lunch
Operator A paused: lunch
> call 1
Call 1 received
Call 1 ringing for operator B
> status
Operator A paused: lunch
Operator B ringing with call 1
> call 2
Call 2 received
Call 2 waiting in queue
> unpause A
Operator A available
Call 2 ringing for operator A
> pause B
Operator B paused
Call 1 waiting in queue
> status
Operator A ringing with call 2
Operator B paused
Queued call 1
"""
    )


def test_pause_while_ringing_offers_the_call_again_without_a_rejected_line():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> pause A
Operator A paused
Call 1 ringing for operator B
> pause B
Operator B paused
Call 1 waiting in queue
> call 2
Call 2 received
Call 2 waiting in queue
> unpause B
Operator B available
Call 1 ringing for operator B
""",
    )


def test_pause_of_a_busy_operator_waits_for_the_hangup_and_unpause_calls_it_off():
    check(
        """
> call 3
Call 3 received
Call 3 ringing for operator A
> answer A
Call 3 answered by operator A
> pause A coffee
Operator A will pause after call 3
> status
Operator A busy with call 3
Operator B available
> unpause A
Operator A busy with call 3
> pause A coffee
Operator A will pause after call 3
> hangup 3
Call 3 finished and operator A paused
> status
Operator A paused: coffee
Operator B available
"""
    )


def test_logout_and_login_and_a_dynamic_member():
    check(
        """
> logout B
Operator B logged out
> call 1
Call 1 received
Call 1 ringing for operator A
> answer A
Call 1 answered by operator A
> logout A
Operator A will log out after call 1
> call 2
Call 2 received
Call 2 waiting in queue
> login C
Operator C available
Call 2 ringing for operator C
> hangup 1
Call 1 finished and operator A logged out
> status
Operator A logged out
Operator B logged out
Operator C ringing with call 2
> logout C
Operator C logged out
Call 2 waiting in queue
> login B
Operator B available
Call 2 ringing for operator B
"""
    )


def test_presence_changes_that_change_nothing_are_bad_input():
    session = check(
        """
> pause Z
error: no operator Z
> unpause A
error: operator A is not paused
> login A
error: operator A is already logged in
> logout B
Operator B logged out
> logout B
error: operator B is already logged out
> pause B
error: operator B is logged out
> pause A
Operator A paused
> pause A
error: operator A is already paused
> call 1
Call 1 received
Call 1 waiting in queue
> login A
error: operator A is already logged in
> unpause B
error: operator B is not paused
> login bad\tid
error: invalid operator id 'bad\\tid': use 1 to 64 printable characters, no spaces
> status
Operator A paused
Operator B logged out
Queued call 1
"""
    )
    assert [operator.id for operator in session.center.operators] == ["A", "B"]


def test_a_busy_operator_asked_twice_to_pause_is_bad_input():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> answer A
Call 1 answered by operator A
> pause A
Operator A will pause after call 1
> pause A
error: operator A will already pause after call 1
> logout A
Operator A will log out after call 1
> logout A
error: operator A will already log out after call 1
> unpause A
error: operator A is not paused
> login A
Operator A busy with call 1
"""
    )


# Wrap-up.


def test_wrap_up_that_ends_while_calls_wait():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> answer A
Call 1 answered by operator A
> call 2
Call 2 received
Call 2 ringing for operator B
> answer B
Call 2 answered by operator B
> call 3
Call 3 received
Call 3 waiting in queue
> call 4
Call 4 received
Call 4 waiting in queue
> hangup 1
Call 1 finished and operator A in wrap-up
> status
Operator A in wrap-up
Operator B busy with call 2
Queued call 3
Queued call 4
> +29
> +1
Operator A available
Call 3 ringing for operator A
> hangup 2
Call 2 finished and operator B in wrap-up
> +30
Operator B available
Call 4 ringing for operator B
""",
        wrap_up=30,
    )


def test_wrap_up_only_after_an_answered_call_and_a_pause_ends_it():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> hangup 1
Call 1 missed
> call 2
Call 2 received
Call 2 ringing for operator A
> answer A
Call 2 answered by operator A
> hangup 2
Call 2 finished and operator A in wrap-up
> pause A
Operator A paused
> +60
> unpause A
Operator A available
> call 3
Call 3 received
Call 3 ringing for operator A
> answer A
Call 3 answered by operator A
> logout A
Operator A will log out after call 3
> hangup 3
Call 3 finished and operator A logged out
> +60
""",
        operators=["A"],
        wrap_up=30,
    )


# Auto-pause.


def test_auto_pause_of_the_last_available_operator():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> +10
Call 1 ignored by operator A
Call 1 ringing for operator A
> reject A
Call 1 rejected by operator A
Call 1 ringing for operator A
> +10
Call 1 ignored by operator A
Operator A paused: no answer
Call 1 waiting in queue
> status
Operator A paused: no answer
Queued call 1
> unpause A
Operator A available
Call 1 ringing for operator A
> +10
Call 1 ignored by operator A
Call 1 ringing for operator A
> answer A
Call 1 answered by operator A
""",
        operators=["A"],
        ring_timeout=10,
        max_no_answer=2,
    )


def test_auto_pause_hands_the_call_to_the_next_operator():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> +10
Call 1 ignored by operator A
Operator A paused: no answer
Call 1 ringing for operator B
> +10
Call 1 ignored by operator B
Operator B paused: no answer
Call 1 waiting in queue
""",
        ring_timeout=10,
        max_no_answer=1,
    )


def test_the_new_options_are_checked():
    for options, message in [
        ({"strategy": "fastest"}, "unknown strategy 'fastest'"),
        ({"wrap_up": -1}, "the wrap-up must be 0 or a positive number of seconds"),
        ({"max_queue": -1}, "cannot be negative"),
    ]:
        with pytest.raises(CallCenterError, match=message):
            CallCenter(["A"], None, 0, **options)


# The shell and the wire.


def test_the_shell_takes_the_presence_commands_and_a_priority():
    shell, output, _, _ = make_shell(ring_timeout=0)
    for line in ["pause A  lunch   break", "call 1", "call 2", "call 3 priority=2", "status", "help pause"]:
        shell.onecmd(line)
    assert output.out[:10] == [
        "Operator A paused: lunch break",
        "Call 1 received",
        "Call 1 ringing for operator B",
        "Call 2 received",
        "Call 2 waiting in queue",
        "Call 3 received",
        "Call 3 waiting in queue",
        "Operator A paused: lunch break",
        "Operator B ringing with call 1",
        "Queued call 3 (priority 2)",
    ]
    assert output.out[10:] == ["Queued call 2", "pause <operator id> [reason...]: " + output.out[-1].split(": ", 1)[1]]
    assert output.errors == []


def test_the_wire_carries_the_reason_and_the_priority_as_fields():
    assert json.loads(encode_request("pause", "A lunch break")) == {
        "command": "pause",
        "id": "A",
        "reason": "lunch break",
    }
    assert json.loads(encode_request("call", "7 priority=3")) == {"command": "call", "id": "7", "priority": 3}
    assert json.loads(encode_request("unpause", "A")) == {"command": "unpause", "id": "A"}
    server = ProtocolServer(ring_timeout=0)
    connection, transport = server.connect()
    for line in [
        b'{"command": "pause", "id": "A", "reason": "lunch"}',
        b'{"command": "call", "id": "1"}',
        b'{"command": "call", "id": "2", "priority": 3}',
        b'{"command": "call", "id": "3", "priority": "9"}',
        b'{"command": "call", "id": "4", "priority": 11}',
        b'{"command": "call", "id": "5", "priority": true}',
        b'{"command": "pause", "id": "B", "reason": 5}',
        b'{"command": "logout", "id": "Q"}',
        b'{"command": "status"}',
    ]:
        connection.dataReceived(line + b"\n")
    assert replies(transport) == [
        {"response": "Operator A paused: lunch"},
        {"response": "Call 1 received\nCall 1 ringing for operator B"},
        {"response": "Call 2 received\nCall 2 waiting in queue"},
        {"response": "Call 3 received\nCall 3 waiting in queue"},
        {"error": "priority must be a whole number from 0 to 9, not 11"},
        {"error": "priority must be a whole number from 0 to 9, not True"},
        {"error": '"reason" must be a string'},
        {"error": "no operator Q"},
        {
            "response": "Operator A paused: lunch\nOperator B ringing with call 1\n"
            "Queued call 3 (priority 9)\nQueued call 2 (priority 3)"
        },
    ]


# Ring strategies.


def test_round_robin_goes_on_after_the_operator_offered_the_previous_call():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> answer A
Call 1 answered by operator A
> hangup 1
Call 1 finished and operator A available
> call 2
Call 2 received
Call 2 ringing for operator B
> answer B
Call 2 answered by operator B
> hangup 2
Call 2 finished and operator B available
> call 3
Call 3 received
Call 3 ringing for operator C
> call 4
Call 4 received
Call 4 ringing for operator A
> reject A
Call 4 rejected by operator A
Call 4 ringing for operator B
> call 5
Call 5 received
Call 5 ringing for operator A
> reject C
Call 3 rejected by operator C
Call 3 ringing for operator C
""",
        operators=["A", "B", "C"],
        strategy="round-robin",
    )


def test_longest_idle_counts_idle_time_from_the_last_time_available_a_missed_ring_too():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> answer A
Call 1 answered by operator A
> +10
> hangup 1
Call 1 finished and operator A available
> call 2
Call 2 received
Call 2 ringing for operator B
> answer B
Call 2 answered by operator B
> +5
> hangup 2
Call 2 finished and operator B available
> call 3
Call 3 received
Call 3 ringing for operator C
> reject C
Call 3 rejected by operator C
Call 3 ringing for operator A
> call 4
Call 4 received
Call 4 ringing for operator B
> +30
Call 3 ignored by operator A
Call 3 ringing for operator C
Call 4 ignored by operator B
Call 4 ringing for operator A
""",
        operators=["A", "B", "C"],
        strategy="longest-idle",
        ring_timeout=30,
    )


def test_fewest_calls_counts_answered_calls_ties_in_configured_order():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> answer A
Call 1 answered by operator A
> hangup 1
Call 1 finished and operator A available
> call 2
Call 2 received
Call 2 ringing for operator B
> answer B
Call 2 answered by operator B
> hangup 2
Call 2 finished and operator B available
> call 3
Call 3 received
Call 3 ringing for operator C
> answer C
Call 3 answered by operator C
> call 4
Call 4 received
Call 4 ringing for operator A
> answer A
Call 4 answered by operator A
> hangup 4
Call 4 finished and operator A available
> hangup 3
Call 3 finished and operator C available
> call 5
Call 5 received
Call 5 ringing for operator B
> reject B
Call 5 rejected by operator B
Call 5 ringing for operator C
> call 6
Call 6 received
Call 6 ringing for operator B
""",
        operators=["A", "B", "C"],
        strategy="fewest-calls",
    )


def test_least_talk_time_counts_finished_talk_time():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> answer A
Call 1 answered by operator A
> +60
> hangup 1
Call 1 finished and operator A available
> call 2
Call 2 received
Call 2 ringing for operator B
> answer B
Call 2 answered by operator B
> +30
> hangup 2
Call 2 finished and operator B available
> call 3
Call 3 received
Call 3 ringing for operator C
> answer C
Call 3 answered by operator C
> +90
> hangup 3
Call 3 finished and operator C available
> call 4
Call 4 received
Call 4 ringing for operator B
> reject B
Call 4 rejected by operator B
Call 4 ringing for operator A
> call 5
Call 5 received
Call 5 ringing for operator B
""",
        operators=["A", "B", "C"],
        strategy="least-talk-time",
    )


def test_random_is_reproducible_with_a_seed_and_declined_calls_go_to_another():
    transcript = """
> call 1
Call 1 received
Call 1 ringing for operator C
> call 2
Call 2 received
Call 2 ringing for operator A
> reject A
Call 2 rejected by operator A
Call 2 ringing for operator D
> hangup 1
Call 1 missed
> hangup 2
Call 2 missed
> call 3
Call 3 received
Call 3 ringing for operator A
> call 4
Call 4 received
Call 4 ringing for operator B
> call 5
Call 5 received
Call 5 ringing for operator C
> call 6
Call 6 received
Call 6 ringing for operator D
> reject D
Call 6 rejected by operator D
Call 6 ringing for operator D
"""
    check(transcript, operators=["A", "B", "C", "D"], strategy="random", seed=7)


def test_random_is_uniform_among_the_available_operators():
    # 4,000 calls to 4 free operators (seed fixed): each is picked 1,000 times give or take
    # 10% (over 6 standard deviations of a binomial(4000, 1/4), which is about 27).
    session = Session(operators=["A", "B", "C", "D", "E"], strategy="random", seed=1)
    session.run("pause E")
    counts = {}
    for number in range(4000):
        (_, ringing) = session.run("call %d" % number)
        operator = ringing.rsplit(" ", 1)[1]
        counts[operator] = counts.get(operator, 0) + 1
        session.run("hangup %d" % number)
    assert sorted(counts) == ["A", "B", "C", "D"]
    assert all(900 <= count <= 1100 for count in counts.values()), counts


def test_ring_all_rings_every_available_operator_and_a_pause_while_ringing():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
Call 1 ringing for operator B
Call 1 ringing for operator C
> status
Operator A ringing with call 1
Operator B ringing with call 1
Operator C ringing with call 1
> pause B
Operator B paused
> +10
Call 1 ignored by operator A
Call 1 ignored by operator C
Call 1 ringing for operator A
> status
Operator A ringing with call 1
Operator B paused
Operator C available
> call 2
Call 2 received
Call 2 ringing for operator C
> call 3
Call 3 received
Call 3 waiting in queue
> answer A
Call 1 answered by operator A
> hangup 1
Call 1 finished and operator A available
Call 3 ringing for operator A
> logout A
Operator A logged out
Call 3 waiting in queue
> hangup 2
Call 2 missed
Call 3 ringing for operator C
""",
        operators=["A", "B", "C"],
        strategy="ring-all",
        ring_timeout=10,
    )


def test_ring_all_answer_frees_the_others_and_the_last_decliner_rings_the_rest():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
Call 1 ringing for operator B
Call 1 ringing for operator C
> reject A
Call 1 rejected by operator A
> reject B
Call 1 rejected by operator B
> reject C
Call 1 rejected by operator C
Call 1 ringing for operator A
Call 1 ringing for operator B
> answer B
Call 1 answered by operator B
> call 2
Call 2 received
Call 2 ringing for operator A
Call 2 ringing for operator C
> call 3
Call 3 received
Call 3 waiting in queue
> answer C
Call 2 answered by operator C
Call 3 ringing for operator A
> status
Operator A ringing with call 3
Operator B busy with call 1
Operator C busy with call 2
> hangup 1
Call 1 finished and operator B available
""",
        operators=["A", "B", "C"],
        strategy="ring-all",
    )


# Queue limits and priorities.


def test_max_queue_refuses_a_new_call_and_max_wait_times_waiting_calls_out():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> call 2
Call 2 received
Call 2 waiting in queue
> +20
> call 3
Call 3 received
Call 3 waiting in queue
> call 4
Call 4 received
Call 4 refused: queue full
> +40
Call 2 timed out in queue
> status
Operator A ringing with call 1
Queued call 3
> call 5
Call 5 received
Call 5 waiting in queue
> +20
Call 3 timed out in queue
> pause A
Operator A paused
Call 1 timed out in queue
> +100
Call 5 timed out in queue
> call 4
Call 4 received
Call 4 waiting in queue
""",
        operators=["A"],
        max_queue=2,
        max_wait=60,
    )


def test_a_call_that_comes_back_is_kept_past_max_queue_and_never_times_out_while_ringing():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> call 2
Call 2 received
Call 2 waiting in queue
> +50
> pause A
Operator A paused
Call 1 waiting in queue
> status
Operator A paused
Queued call 1
Queued call 2
> +10
Call 1 timed out in queue
Call 2 timed out in queue
""",
        operators=["A"],
        max_queue=1,
        max_wait=60,
    )


def test_priorities_are_offered_highest_first_fifo_within_one():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> answer A
Call 1 answered by operator A
> call 2
Call 2 received
Call 2 waiting in queue
> call 3 priority=5
Call 3 received
Call 3 waiting in queue
> call 4 priority=9
Call 4 received
Call 4 waiting in queue
> call 5 priority=5
Call 5 received
Call 5 waiting in queue
> call 6 priority=11
error: priority must be a whole number from 0 to 9, not 11
> status
Operator A busy with call 1
Queued call 4 (priority 9)
Queued call 3 (priority 5)
Queued call 5 (priority 5)
Queued call 2
> hangup 1
Call 1 finished and operator A available
Call 4 ringing for operator A
> pause A
Operator A paused
Call 4 waiting in queue
> unpause A
Operator A available
Call 4 ringing for operator A
> hangup 4
Call 4 missed
Call 3 ringing for operator A
> hangup 3
Call 3 missed
Call 5 ringing for operator A
> hangup 5
Call 5 missed
Call 2 ringing for operator A
""",
        operators=["A"],
    )


def test_a_priority_call_arriving_behind_a_hundred_thousand_queued_ones_is_offered_next():
    session = Session(operators=["A"])
    session.run("call busy")
    session.run("answer A")
    for number in range(10**5):
        session.run("call %d" % number)
    assert session.run("call urgent priority=1") == ["Call urgent received", "Call urgent waiting in queue"]
    assert session.run("hangup busy") == [
        "Call busy finished and operator A available",
        "Call urgent ringing for operator A",
    ]
    assert session.run("hangup urgent") == ["Call urgent missed", "Call 0 ringing for operator A"]
    assert len(session.center.queue) == 10**5 - 1


def test_command_line_options_of_the_routing():
    from twisted.python import usage

    from callcenter.cli.arguments import routing_options
    from callcenter.wiring.options import ServerOptions, ShellOptions

    options = ShellOptions()
    options.parseOptions([])
    assert routing_options(options) == {
        "strategy": "linear",
        "seed": None,
        "wrap_up": 0.0,
        "max_no_answer": 0,
        "max_queue": 0,
        "max_wait": 0.0,
        "queues": None,
    }
    options = ServerOptions()
    argv = "--strategy ring-all --seed 3 --wrap-up 5 --max-no-answer 2 --max-queue 10 --max-wait 90"
    options.parseOptions(argv.split())
    assert routing_options(options) == {
        "strategy": "ring-all",
        "seed": 3,
        "wrap_up": 5.0,
        "max_no_answer": 2,
        "max_queue": 10,
        "max_wait": 90.0,
        "queues": None,
    }
    for argv, message in [
        (["--strategy", "fastest"], "--strategy takes one of linear, round-robin, longest-idle"),
        (["--max-queue", "-1"], "--max-queue takes 0 (no limit) or a positive whole number, not '-1'"),
        (["--wrap-up", "soon"], "--wrap-up takes a number of seconds, not 'soon'"),
        (["--seed", "x"], "--seed takes a whole number, not 'x'"),
    ]:
        with pytest.raises(usage.UsageError) as error:
            ShellOptions().parseOptions(argv)
        assert str(error.value).startswith(message)


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_strategy_provides_the_ring_strategy_interface(name):
    center = CallCenter(["A", "B"], None, 0, strategy=name)
    assert verifyObject(IRingStrategy, center.queues[0].levels[0])


def test_the_wallboard_snapshot_shows_presence_with_its_reason_and_the_queue_in_offer_order():
    center = CallCenter(["A", "B"], ring_timeout=0)
    center.pause("A", "lunch")
    center.logout("B")
    center.call("1")
    center.call("2", priority=5)
    snapshot = center.snapshot()
    assert [(operator["id"], operator["state"], operator["reason"]) for operator in snapshot["operators"]] == [
        ("A", "paused", "lunch"),
        ("B", "logged out", None),
    ]
    assert [call["call"] for call in snapshot["waiting"]] == ["2", "1"]

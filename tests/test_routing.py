"""Routing beyond the assignment, as transcripts: presence, wrap-up, auto-pause, ring
strategies, queue limits and priorities (docs/routing.md). Each test is the session a
user types (``> command``) and exactly what they see; ``> +N`` lets N seconds pass."""

import json

import pytest

from callcenter.core import CallCenter, CallCenterError
from callcenter.protocol import encode_request
from conftest import read_golden
from test_protocol import Server, replies
from test_shell import make_shell
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
    server = Server(ring_timeout=0)
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

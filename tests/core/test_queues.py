"""Several queues (--queues, docs/queues.md) as transcripts: calls wait in their own queue, an
operator serving several takes the longest-waiting caller of them unless a weight says
otherwise, levels ring in order, and each queue keeps its own limits, strategy and figures.
``> +N`` lets N seconds pass."""

import json

import pytest
from twisted.python import usage

from callcenter.core.center import CallCenter, CallCenterError
from callcenter.core.queues import QueueConfig, QueuesError, operator_ids_of, parse_queues
from callcenter.net.wire import encode_request, request_of
from callcenter.wiring.options import ServerOptions, ShellOptions
from support import read_golden
from transcript import Session, check

SALES_AND_SUPPORT = """
[sales]
operators = A, B
[support]
operators = B, C
"""


def queues(text):
    return {"queues": parse_queues(text)}


def test_an_operator_of_two_queues_takes_the_longest_waiting_caller_of_either():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> call 2 queue=support
Call 2 received
Call 2 ringing for operator B
> call 3 queue=support
Call 3 received
Call 3 ringing for operator C
> +5
> call 4 queue=support
Call 4 received
Call 4 waiting in queue support
> +5
> call 5
Call 5 received
Call 5 waiting in queue
> reject B
Call 2 rejected by operator B
Call 2 ringing for operator B
> answer B
Call 2 answered by operator B
> hangup 2
Call 2 finished and operator B available
Call 4 ringing for operator B
> status
Queue sales
Operator A ringing with call 1
Operator B ringing with call 4
Queued call 5
Queue support
Operator B ringing with call 4
Operator C ringing with call 3
""",
        **queues(SALES_AND_SUPPORT),
    )


def test_calls_received_in_the_same_instant_go_in_order_of_arrival_across_queues():
    # The clock stands still: received-at times tie, the order of arrival decides.
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> call 2
Call 2 received
Call 2 ringing for operator B
> call 3 queue=support
Call 3 received
Call 3 ringing for operator C
> call 4
Call 4 received
Call 4 waiting in queue
> call 5 queue=support
Call 5 received
Call 5 waiting in queue support
> hangup 2
Call 2 missed
Call 4 ringing for operator B
> hangup 4
Call 4 missed
Call 5 ringing for operator B
""",
        **queues(SALES_AND_SUPPORT),
    )


def test_a_weight_overrides_the_wait():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> call 2
Call 2 received
Call 2 ringing for operator B
> call 3 queue=vip
Call 3 received
Call 3 ringing for operator C
> call 4
Call 4 received
Call 4 waiting in queue
> +30
> call 5 queue=vip
Call 5 received
Call 5 waiting in queue vip
> hangup 2
Call 2 missed
Call 5 ringing for operator B
> hangup 5
Call 5 missed
Call 4 ringing for operator B
""",
        **queues("[sales]\noperators = A, B\n[vip]\noperators = B, C\nweight = 2\n"),
    )


def test_priority_counts_after_the_weight_and_before_the_wait():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> call 2 queue=support
Call 2 received
Call 2 waiting in queue support
> call 3 priority=5
Call 3 received
Call 3 waiting in queue
> hangup 1
Call 1 missed
Call 3 ringing for operator A
""",
        **queues("[sales]\noperators = A\n[support]\noperators = A\n"),
    )


def test_a_level_1_operator_rings_only_when_no_level_0_one_is_free():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> call 2
Call 2 received
Call 2 ringing for operator B
> call 3
Call 3 received
Call 3 ringing for operator C
> hangup 1
Call 1 missed
> call 4
Call 4 received
Call 4 ringing for operator A
> reject A
Call 4 rejected by operator A
Call 4 ringing for operator A
> pause A
Operator A paused
Call 4 waiting in queue
> hangup 3
Call 3 missed
Call 4 ringing for operator C
""",
        **queues("[sales]\n# C helps out: only when A and B are both taken\noperators = C:1, A, B\n"),
    )


def test_a_call_to_an_unknown_queue_is_one_error_and_changes_nothing():
    session = Session(**queues(SALES_AND_SUPPORT))
    session.run("call 1 queue=support")
    before = session.center.status()
    assert session.run("call 2 queue=billing") == ["error: no queue billing: use one of sales, support"]
    assert session.run("call 2 queue=") == ["error: no queue named: use one of sales, support"]
    assert session.center.status() == before
    assert session.center.figures.received == 1
    assert session.run("call 2 queue=sales priority=3") == ["Call 2 received", "Call 2 ringing for operator A"]


def test_each_queue_keeps_its_own_limits_and_names_itself_in_their_lines():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
> call 2
Call 2 received
Call 2 waiting in queue
> call 3
Call 3 received
Call 3 refused: queue full
> call 4 queue=support
Call 4 received
Call 4 ringing for operator B
> call 5 queue=support
Call 5 received
Call 5 waiting in queue support
> call 6 queue=support
Call 6 received
Call 6 waiting in queue support
> call 7 queue=support
Call 7 received
Call 7 refused: queue support full
> +60
Call 5 timed out in queue support
Call 6 timed out in queue support
> +60
Call 2 timed out in queue
> stats
Calls received: 7
Calls answered: 0 (0 talking now, 0 finished)
Calls missed: 0
Calls refused: 2 (queue full)
Calls timed out: 3
Calls waiting: 0 (longest waiting -)
Calls ringing: 2
Wait before answer: average -, longest -
Service level: - (no call answered yet; threshold 20 s)
Operator  State    For      Answered  Rejected  Ignored  Talk time
A         ringing  0:02:00         0         0        0    0:00:00
B         ringing  0:02:00         0         0        0    0:00:00
%s
%s
"""
        % (
            "Queue sales: 3 received, 0 answered, 0 missed, 1 refused, 1 timed out, 0 waiting (longest -), "
            "1 ringing, average wait -, service level -",
            "Queue support: 4 received, 0 answered, 0 missed, 1 refused, 2 timed out, 0 waiting (longest -), "
            "1 ringing, average wait -, service level -",
        ),
        **queues(
            "[sales]\noperators = A\nmax-queue = 1\nmax-wait = 120\n"
            "[support]\noperators = B\nmax-queue = 2\nmax-wait = 60\n"
        ),
    )


def test_each_queue_has_its_own_strategy_and_round_robin_memory():
    check(
        """
> call 1 queue=rr
Call 1 received
Call 1 ringing for operator A
> hangup 1
Call 1 missed
> call 2 queue=rr
Call 2 received
Call 2 ringing for operator B
> call 3
Call 3 received
Call 3 ringing for operator A
> hangup 2
Call 2 missed
> hangup 3
Call 3 missed
> call 4
Call 4 received
Call 4 ringing for operator A
> call 5 queue=rr
Call 5 received
Call 5 ringing for operator C
""",
        **queues("[linear]\noperators = A, B, C\n[rr]\noperators = A, B, C\nstrategy = round-robin\n"),
    )


def test_ring_all_rings_every_free_operator_of_the_lowest_level_only():
    check(
        """
> call 1
Call 1 received
Call 1 ringing for operator A
Call 1 ringing for operator B
> answer B
Call 1 answered by operator B
> call 2
Call 2 received
Call 2 ringing for operator A
> call 3
Call 3 received
Call 3 ringing for operator C
Call 3 ringing for operator D
""",
        **queues("[all]\noperators = A, B, C:1, D:1\nstrategy = ring-all\n"),
    )


def test_a_busy_operator_is_busy_in_every_queue_it_serves_and_presence_is_its_own():
    check(
        """
> call 1 queue=support
Call 1 received
Call 1 ringing for operator B
> answer B
Call 1 answered by operator B
> call 2
Call 2 received
Call 2 ringing for operator A
> call 3
Call 3 received
Call 3 waiting in queue
> pause C
Operator C paused
> call 4 queue=support
Call 4 received
Call 4 waiting in queue support
> logout B
Operator B will log out after call 1
> hangup 1
Call 1 finished and operator B logged out
> unpause C
Operator C available
Call 4 ringing for operator C
> login B
Operator B available
Call 3 ringing for operator B
> status
Queue sales
Operator A ringing with call 2
Operator B ringing with call 3
Queue support
Operator B ringing with call 3
Operator C ringing with call 4
""",
        **queues(SALES_AND_SUPPORT),
    )


def test_wrap_up_and_max_no_answer_stay_per_operator():
    check(
        """
> call 1 queue=support
Call 1 received
Call 1 ringing for operator B
> +10
Call 1 ignored by operator B
Operator B paused: no answer
Call 1 ringing for operator C
> answer C
Call 1 answered by operator C
> hangup 1
Call 1 finished and operator C in wrap-up
> call 2 queue=support
Call 2 received
Call 2 waiting in queue support
> +5
Operator C available
Call 2 ringing for operator C
""",
        ring_timeout=10,
        wrap_up=5,
        max_no_answer=1,
        **queues(SALES_AND_SUPPORT),
    )


def test_a_one_queue_file_prints_the_golden_transcript_byte_for_byte():
    commands, expected = read_golden()
    session = Session(**queues("[only]\noperators = A, B\n"))
    assert "".join(line + "\n" for text in commands for line in session.run(text)) == expected


def test_without_queues_there_is_one_default_queue_and_every_line_is_todays():
    commands, expected = read_golden()
    session = Session()
    assert session.center.queue_names() == ["default"]
    assert "".join(line + "\n" for text in commands for line in session.run(text)) == expected


# The file.


def test_the_file_of_the_issue_parses():
    configs = parse_queues(
        """
[sales]
# C serves sales at level 1: only when no level-0 operator of sales is free
operators = A, B, C:1
strategy = longest-idle
max-wait = 120

[support]
operators = B, C
# support's callers go first when B or C could take a call from either queue
weight = 2
"""
    )
    assert configs == [
        QueueConfig("sales", [("A", 0), ("B", 0), ("C", 1)], "longest-idle", 0, 120.0, 0),
        QueueConfig("support", [("B", 0), ("C", 0)], "linear", 0, 0.0, 2),
    ]
    assert operator_ids_of(configs) == ["A", "B", "C"]


@pytest.mark.parametrize(
    "text, error",
    [
        ("", "line 1: no [queue] section"),
        ("operators = A\n", "line 1: a value before the first [queue] header"),
        ("[a]\noperators = A\n[a]\noperators = B\n", "line 3: section 'a' already exists"),
        ("[a]\noperators = A\nstrategy = fastest\n", "line 3: queue a: strategy must be one of linear,"),
        ("[a]\n\noperators = A, B:x\n", "line 3: queue a: the level of B must be a whole number from 0 to 99"),
        ("[a]\noperators = A, A:1\n", "line 2: queue a: operator A is named twice"),
        ("[a]\noperators = A\nweight = -1\n", "line 3: queue a: weight must be 0 or a positive whole number"),
        ("[a]\noperators = A\nmax-wait = soon\n", "line 3: queue a: max-wait must be 0 or a positive number"),
        ("[a]\noperators = A\npenalty = 1\n", "line 3: queue a: unknown setting 'penalty'"),
        ("[a]\nstrategy = linear\n", "line 1: queue a: no operators = line"),
        ("[a b]\noperators = A\n", "line 1: queue a b: a queue name is 1 to 64 printable characters"),
        ("[a]\noperators = A, B C\n", "line 2: queue a: 'B C' is not an operator id"),
        ("[a]\noperators = A\njunk\n", "line 3: not a 'key = value' line: junk"),
    ],
)
def test_a_bad_file_is_one_error_naming_the_line(text, error):
    with pytest.raises(QueuesError) as raised:
        parse_queues(text)
    assert str(raised.value).startswith(error)
    assert "\n" not in str(raised.value)


def test_the_options_read_the_file_and_name_its_operators(tmp_path):
    path = tmp_path / "queues.ini"
    path.write_text(SALES_AND_SUPPORT)
    options = ServerOptions()
    options.parseOptions(["--queues", str(path)])
    assert options["operators"] == ["A", "B", "C"]
    assert [config.name for config in options["queues"]] == ["sales", "support"]
    plain = ShellOptions()
    plain.parseOptions([])
    assert (plain["operators"], plain["queues"]) == (["A", "B"], None)


@pytest.mark.parametrize(
    "arguments, error",
    [
        (["--operators", "A,B"], "--operators and --queues: the queues file names the operators"),
        (["--strategy", "random"], "--strategy and --queues: set strategy per queue in the file"),
        (["--max-queue", "3"], "--max-queue and --queues: set max-queue per queue in the file"),
    ],
)
def test_options_the_file_sets_per_queue_are_refused_beside_it(tmp_path, arguments, error):
    path = tmp_path / "queues.ini"
    path.write_text(SALES_AND_SUPPORT)
    with pytest.raises(usage.UsageError) as raised:
        ShellOptions().parseOptions(["--queues", str(path), *arguments])
    assert str(raised.value) == error


def test_a_bad_or_missing_file_is_a_usage_error_naming_file_and_line(tmp_path):
    path = tmp_path / "queues.ini"
    path.write_text("[sales]\noperators = A\nweight = heavy\n")
    with pytest.raises(usage.UsageError) as raised:
        ShellOptions().parseOptions(["--queues", str(path)])
    assert (
        str(raised.value)
        == "--queues: %s line 3: queue sales: weight must be 0 or a positive whole number, not 'heavy'" % path
    )
    with pytest.raises(usage.UsageError) as raised:
        ShellOptions().parseOptions(["--queues", str(tmp_path / "none.ini")])
    assert str(raised.value).startswith("--queues: cannot read %s: " % (tmp_path / "none.ini"))


def test_the_core_refuses_queues_it_cannot_build():
    with pytest.raises(CallCenterError, match="queue names must be unique"):
        CallCenter(ring_timeout=0, queues=[QueueConfig("a", [("A", 0)]), QueueConfig("a", [("B", 0)])])
    with pytest.raises(CallCenterError, match="needs a call_later"):
        CallCenter(ring_timeout=0, queues=[QueueConfig("a", [("A", 0)], max_wait=5)])


# The wire.


def test_the_queue_goes_on_the_wire_as_its_own_field():
    assert json.loads(encode_request("call", "7 queue=support priority=2")) == {
        "command": "call",
        "id": "7",
        "queue": "support",
        "priority": 2,
    }
    assert json.loads(encode_request("call", "7 queue=42")) == {"command": "call", "id": "7", "queue": "42"}
    assert request_of({"command": "call", "id": "7", "queue": "support"}) == ("call", "7 queue=support")


@pytest.mark.parametrize("queue", [3, "", "two words", None])
def test_a_queue_field_that_is_not_a_name_is_a_wire_error(queue):
    from callcenter.net.wire import WireError

    with pytest.raises(WireError, match='"queue" must be a queue name'):
        request_of({"command": "call", "id": "7", "queue": queue})


def test_a_level_or_a_priority_in_other_digits_is_one_error_line():
    from callcenter.core.center import CallCenter, CallCenterError

    center = CallCenter(["A"], ring_timeout=0)
    for command, argument, message in (
        ("level", "A \u00b2", "a level is a whole number from 0 to 99, not \u00b2"),
        ("level", "A 2 lang=x", "unknown level option 'lang=x': level <operator id> <level> [queue=NAME]"),
        ("level", "A 0", "operator A is at level 0 already"),
        ("level", "A 1 queue=sales", "no queue sales: use one of default"),
        ("call", "1 priority=\u00b2", "priority must be a whole number from 0 to 9, not \u00b2"),
    ):
        with pytest.raises(CallCenterError) as refused:
            center.execute(command, argument)
        assert str(refused.value) == message
    assert center.status() == ["Operator A available"]

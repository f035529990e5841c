"""The staffing search and its pieces: groups, the queue file's staffing keys, how a search ends."""

import pytest

from callcenter.core.queues import QueueConfig
from callcenter.sim.simulate import Estimate
from callcenter.sim.staffing import (
    Evaluation,
    Interval,
    Problem,
    QueueTarget,
    StaffingError,
    groups_of,
    moves,
    parse_staff_queues,
    pooled,
    removals,
    search,
    split_staff_keys,
    staffed_queues,
)

TWO_QUEUES = """\
[sales]
# S serves sales only; X serves both queues, at level 1: when no S (or P) is free
operators = S, X:1
handle-time = 180
service-level = 0.8
target = 20

[support]
operators = P, X:1
handle-time = 240
service-level = 0.8
target = 30
"""


# The search, on a made-up world where the figures follow from the staffing alone.


def fake_evaluation(targets, levels):
    evaluation = Evaluation.__new__(Evaluation)
    evaluation.service_level = [Estimate([level, level]) for level in levels]
    evaluation.abandoned = [Estimate([0.0, 0.0]) for _ in levels]
    evaluation.service_bound = list(levels)
    evaluation.abandoned_bound = [0.0 for _ in levels]
    evaluation.margins = [level - target.service_level for level, target in zip(levels, targets)]
    evaluation.margin = min(evaluation.margins)
    return evaluation


def drive(problem, interval, world):
    """Run a search to its end, answering each staffing with ``world(staffing)``; the staffings asked."""
    running = search(problem, interval)
    asked = []
    try:
        wanted = next(running)
        while True:
            asked += wanted
            wanted = running.send([fake_evaluation(problem.targets, world(staffing)) for staffing in wanted])
    except StopIteration as done:
        return done.value, asked


def test_the_search_finds_the_fewest_and_ends():
    configs = [QueueConfig("a", [("A", 0), ("X", 1)]), QueueConfig("b", [("B", 0), ("X", 1)])]
    targets = [QueueTarget("a", 180.0, 20.0, 0.8), QueueTarget("b", 180.0, 20.0, 0.8)]
    problem = Problem(configs, targets, [Interval(0.0, 1800.0, [200.0, 200.0])])

    def world(staffing):
        dedicated_a, shared, dedicated_b = staffing
        # Each queue needs 13.4 operators' worth (Erlang's 14 have room to spare); a shared one is
        # worth 0.6 of an own one to each queue, so one can stand in for two own ones.
        return [0.8 + 0.01 * (own + 0.6 * shared - 13.4) for own in (dedicated_a, dedicated_b)]

    (staffing, evaluation), asked = drive(problem, problem.intervals[0], world)
    assert evaluation.meets
    assert sum(staffing) < 28
    assert len(asked) == len(set(asked))  # no staffing is played twice
    for fewer in ((staffing[0] - 1, staffing[1], staffing[2]), (staffing[0], staffing[1], staffing[2] - 1)):
        assert min(world(fewer)) < 0.8  # one fewer in either own group misses


def test_a_target_out_of_reach_stops_at_the_ceiling():
    configs = [QueueConfig("a", [("A", 0)])]
    targets = [QueueTarget("a", 180.0, 20.0, 0.8)]
    problem = Problem(configs, targets, [Interval(0.0, 1800.0, [200.0])])
    (staffing, evaluation), asked = drive(problem, problem.intervals[0], lambda staffing: [0.5])
    assert not evaluation.meets
    assert len(asked) < 200 and staffing[0] >= 4 * 14


def test_groups_are_the_operators_with_the_same_skills():
    configs = [
        QueueConfig("sales", [("A", 0), ("B", 0), ("C", 1)]),
        QueueConfig("support", [("C", 1), ("D", 0)]),
    ]
    groups = groups_of(configs)
    assert [group.label for group in groups] == ["sales", "sales:1+support:1", "support"]
    staffed = staffed_queues(configs, groups, [2, 1, 0])
    assert [(queue.name, queue.members) for queue in staffed] == [
        ("sales", [("g1-1", 0), ("g1-2", 0), ("g2-1", 1)]),
        ("support", [("g2-1", 1)]),
    ]


def test_the_staffing_keys_are_read_and_the_cores_errors_keep_their_line():
    text, values = split_staff_keys(TWO_QUEUES)
    assert values == {
        "sales": {"handle-time": "180", "service-level": "0.8", "target": "20"},
        "support": {"handle-time": "240", "service-level": "0.8", "target": "30"},
    }
    assert len(text.splitlines()) == len(TWO_QUEUES.splitlines())
    with pytest.raises(StaffingError) as error:
        parse_staff_queues("[a]\noperators = A\nhandle-time = 60\nspeed = 2\n", None, 20.0, 0.8, None, None)
    assert str(error.value).startswith("line 4: queue a: unknown setting 'speed'")
    assert "or for staffing handle-time, patience, service-level, target, abandoned" in str(error.value)


def test_no_neighbour_has_fewer_than_no_operators():
    configs = [QueueConfig("a", [("A", 0), ("X", 1)]), QueueConfig("b", [("B", 0), ("X", 1)])]
    groups = groups_of(configs)
    for counts in [(1, 0, 1), (0, 1, 0), (2, 0, 0), (0, 0, 0), (1, 1, 1)]:
        for neighbours in (removals, pooled, moves):
            for staffing in neighbours(counts, groups):
                assert min(staffing) >= 0 and sum(staffing) <= sum(counts), (counts, staffing)
    assert sorted(pooled((1, 0, 1), groups)) == [(0, 1, 0)]  # A and B make way for one X
    assert sorted(pooled((2, 0, 0), groups)) == [(0, 1, 0)]
    assert list(pooled((1, 0, 0), groups)) == []

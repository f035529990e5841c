"""The staffing search and its pieces: groups, the queue file's staffing keys, how a search ends."""

import pytest

from callcenter.core.queues import QueueConfig
from callcenter.sim import erlang
from callcenter.sim.simulate import Estimate
from callcenter.sim.staff_command import profile_intervals
from callcenter.sim.staffing import (
    Counts,
    Evaluation,
    Interval,
    IntervalReplication,
    Problem,
    QueueTarget,
    StaffingError,
    groups_of,
    moves,
    parse_staff_queues,
    play_interval,
    pooled,
    removals,
    search,
    seeds,
    split_staff_keys,
    staffed_queues,
)
from support import TWO_QUEUES

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


# One replication of an interval, through the core.


def test_each_queue_has_its_own_handle_time_and_target_as_erlang_c_says():
    # Two queues with no operator in common: each is an M/M/c queue of its own.
    configs = [QueueConfig("short", [("A", 0)]), QueueConfig("long", [("B", 0)])]
    targets = [QueueTarget("short", 60.0, 10.0, 0.8), QueueTarget("long", 300.0, 60.0, 0.8)]
    interval = Interval(0.0, 1800.0, [600.0, 120.0])
    problem = Problem(configs, targets, [interval], min_calls=10000)
    rows = [play_interval(problem.model(interval, [13, 13]), seed) for seed in seeds(11, 0, 10)]
    evaluation = Evaluation(targets, rows)
    for index, (rate, target) in enumerate(zip(interval.rates, targets)):
        expected = erlang.figures(rate, target.handle_time, 13, target.target).service_level
        level = evaluation.service_level[index]
        # Tolerance: Erlang C's figure lies in the 95% interval of the 10 replications, which is
        # narrower than 0.05 either way.
        assert level.contains(expected) and level.high - level.low < 0.1, (target.name, expected, level.values)


def test_every_call_offered_is_answered_abandoned_or_turned_away():
    # sales turns calls away (a full queue, a wait too long); support's callers give up.
    configs = [
        QueueConfig("sales", [("S", 0), ("X", 1)], max_queue=2, max_wait=30.0),
        QueueConfig("support", [("P", 0), ("X", 1)]),
    ]
    targets = [QueueTarget("sales", 180.0, 20.0, 0.8), QueueTarget("support", 300.0, 30.0, 0.8, patience=120.0)]
    interval = Interval(0.0, 1800.0, [120.0, 80.0])
    problem = Problem(configs, targets, [interval], min_calls=500)
    run = IntervalReplication(problem.model(interval, [3, 1, 4]), 7).run()
    sales, support = run.tallies
    assert sales.refused > 0 and sales.abandoned == 0
    assert support.abandoned > 0 and support.refused == 0
    for tally in run.tallies:
        assert tally.offered == tally.answered + tally.abandoned + tally.refused > 0
    assert run.unexpected == 0
    counts = Counts(sales)
    assert counts.abandoned_pct() == 100.0 * sales.refused / sales.offered  # turned away counts as not answered


def test_a_profiles_priorities_are_streams_of_their_queue(tmp_path):
    profile = tmp_path / "day.csv"
    profile.write_text("start,calls_per_hour,queue,priority\n08:00,60,sales\n08:00,30,sales,5\n08:30,20,support\n")
    intervals = profile_intervals(str(profile), ["sales", "support"])
    assert [(interval.start, interval.rates, interval.streams) for interval in intervals] == [
        (28800.0, [90.0, 0.0], [(0, 0, 60.0), (0, 5, 30.0), (1, 0, 0.0)]),
        (30600.0, [90.0, 20.0], [(0, 0, 60.0), (0, 5, 30.0), (1, 0, 20.0)]),
    ]
    configs = [QueueConfig("sales", [("S", 0)]), QueueConfig("support", [("P", 0)])]
    targets = [QueueTarget("sales", 180.0, 20.0, 0.8), QueueTarget("support", 180.0, 20.0, 0.8)]
    problem = Problem(configs, targets, intervals)
    model = problem.model(intervals[0], [3, 0])  # support has no calls yet: no one needed there
    assert [(stream.queue, stream.priority) for stream in model.streams] == [("sales", 0), ("sales", 5)]
    assert problem.covers(intervals[0], [3, 0]) and not problem.covers(intervals[1], [3, 0])
    with pytest.raises(StaffingError):
        problem.model(intervals[1], [3, 0])

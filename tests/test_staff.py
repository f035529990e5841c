"""callcenter staff: the fewest operators per group and interval, by simulation, against Erlang C
for one queue, and the pooling gain of a shared group for two. Fixed seeds; tolerances stated."""

import csv
import io
import json
import math
import subprocess

import pytest

from callcenter.core.queues import QueueConfig
from callcenter.sim import planning
from callcenter.sim.simulate import Estimate
from callcenter.sim.staffing import (
    Evaluation,
    Interval,
    Problem,
    QueueTarget,
    StaffingError,
    groups_of,
    parse_staff_queues,
    search,
    split_staff_keys,
    staffed_queues,
)
from conftest import command


def main_output(argv):
    out = io.StringIO()
    planning.main(argv, stdout=out)
    return out.getvalue()


def write(path, text):
    path.write_text(text)
    return str(path)


def day_of_24(path):
    """24 half hours from 08:00: two peaks (460 and 311 calls an hour), quiet ends (60)."""
    rows = ["start,calls_per_hour"]
    for index in range(24):
        rate = 60 + 400 * math.exp(-(((index - 5) / 4.0) ** 2)) + 250 * math.exp(-(((index - 15) / 3.0) ** 2))
        seconds = 8 * 3600 + index * 1800
        rows.append("%02d:%02d,%d" % (seconds // 3600, seconds // 60 % 60, round(rate)))
    return write(path, "\n".join(rows) + "\n")


def test_one_queue_without_patience_is_erlang_c_within_one_operator_on_24_intervals(tmp_path):
    profile = day_of_24(tmp_path / "day.csv")
    common = ["--profile", profile, "--handle-time", "180", "--service-level", "0.8", "--format", "csv"]
    staffed = list(csv.DictReader(io.StringIO(main_output(["staff", *common, "--seed", "3", "--workers", "2"]))))
    erlang = list(csv.DictReader(io.StringIO(main_output(["erlang", *common]))))
    assert [row["start"] for row in staffed] == [row["start"] for row in erlang]
    assert len(staffed) == 24
    differences = [int(mine["operators"]) - int(theirs["operators"]) for mine, theirs in zip(staffed, erlang)]
    # Tolerance: one operator either way (the 95% bound over 10 replications costs at most one).
    assert all(-1 <= difference <= 1 for difference in differences), differences
    assert all(row["met"] == "yes" for row in staffed)


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

TWO_QUEUES_DAY = """\
start,calls_per_hour,queue
09:00,60,sales
09:00,45,support
09:30,150,sales
09:30,120,support
"""


def test_two_queues_sharing_a_group_at_level_1_need_fewer_operators_than_erlang_alone(tmp_path):
    queues = write(tmp_path / "queues.ini", TWO_QUEUES)
    profile = write(tmp_path / "day.csv", TWO_QUEUES_DAY)
    document = json.loads(
        main_output(["staff", "--queues", queues, "--profile", profile, "--format", "json", "--workers", "2"])
    )
    assert [group["name"] for group in document["groups"]] == ["sales", "sales:1+support:1", "support"]
    for interval in document["intervals"]:
        for name, queue in interval["queues"].items():
            assert queue["met"] is True, (interval["start"], name, queue)
            # Tolerance: the check's mean is at most 3 points below the share asked.
            assert queue["checked"]["service_level"]["mean"] >= 0.8 - 0.03, (interval["start"], name, queue)
        assert interval["operators"] <= sum(interval["erlang_alone"].values()), interval
        assert interval["groups"]["sales:1+support:1"] > 0  # the shared group is used
    total = sum(interval["operators"] for interval in document["intervals"])
    alone = sum(sum(interval["erlang_alone"].values()) for interval in document["intervals"])
    assert total < alone  # the pooling gain


def test_one_queue_csv_has_erlangs_start_and_operators_columns(tmp_path):
    profile = write(tmp_path / "day.csv", "start,calls_per_hour\n08:00,100\n08:30,200\n")
    common = ["--profile", profile, "--handle-time", "180", "--service-level", "0.8", "--format", "csv"]
    argv = ["staff", *common, "--workers", "1", "--replication-calls", "200"]
    rows = list(csv.reader(io.StringIO(main_output(argv))))
    assert rows[0][:2] == ["start", "operators"]
    assert [row[0] for row in rows[1:]] == ["08:00", "08:30"]
    assert all(row[1].isdigit() for row in rows[1:])
    erlang_rows = list(csv.reader(io.StringIO(main_output(["erlang", *common]))))
    assert erlang_rows[0][0] == "start" and "operators" in erlang_rows[0]


def test_any_number_of_workers_gives_the_same_plan(tmp_path):
    queues = write(tmp_path / "queues.ini", TWO_QUEUES)
    profile = write(tmp_path / "day.csv", "start,calls_per_hour,queue\n09:00,40,sales\n09:00,30,support\n")
    argv = ["staff", "--queues", queues, "--profile", profile, "--replications", "4", "--seed", "9"]
    argv += ["--replication-calls", "100"]
    table = main_output([*argv, "--workers", "1"])
    assert table == main_output([*argv, "--workers", "2"])
    lines = table.splitlines()
    assert lines[0].startswith("callcenter staff: 2 queues, 3 operator groups, profile ")
    assert "start  sales  sales:1+support:1  support  total  Erlang C alone" in lines
    assert lines[-1].startswith("operator-intervals: ")


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


@pytest.mark.parametrize(
    "queues,message",
    [
        ("[a]\noperators = A\nstrategy = ring-all\n", "the ring-all strategy cannot be staffed yet"),
        ("[a]\noperators = A\nservice-level = 1.5\n", "queue a: service-level must be at least"),
        ("[a]\noperators = A\n", "queue a has no target"),
    ],
)
def test_bad_queue_files_are_one_error_line(tmp_path, queues, message):
    path = write(tmp_path / "q.ini", queues)
    done = subprocess.run(
        [command("callcenter"), "staff", "--queues", path, "--calls-per-hour", "60", "--handle-time", "60"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert done.returncode == 2 and done.stdout == b""
    line = done.stderr.decode().splitlines()[-1]  # after the usage, as for every option
    assert line.startswith("callcenter: error: --queues: %s " % path) and message in line


def test_a_profile_naming_an_unknown_queue_is_an_error(tmp_path):
    queues = write(tmp_path / "queues.ini", TWO_QUEUES)
    profile = write(tmp_path / "day.csv", "09:00,60,billing\n")
    done = subprocess.run(
        [command("callcenter"), "staff", "--queues", queues, "--profile", profile],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert done.returncode == 2
    assert b"no queue billing: use one of sales, support" in done.stderr

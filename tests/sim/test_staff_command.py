"""callcenter staff: the fewest operators per group and interval, by simulation, against Erlang C
for one queue, and the pooling gain of a shared group for two. Fixed seeds; tolerances stated."""

import csv
import io
import json
import math
import subprocess
import sys

import pytest

from support import TWO_QUEUES, command, planning_output


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
    staffed = list(csv.DictReader(io.StringIO(planning_output(["staff", *common, "--seed", "3", "--workers", "2"]))))
    erlang = list(csv.DictReader(io.StringIO(planning_output(["erlang", *common]))))
    assert [row["start"] for row in staffed] == [row["start"] for row in erlang]
    assert len(staffed) == 24
    differences = [int(mine["operators"]) - int(theirs["operators"]) for mine, theirs in zip(staffed, erlang)]
    # Tolerance: one operator either way (the 95% bound over 10 replications costs at most one).
    assert all(-1 <= difference <= 1 for difference in differences), differences
    assert all(row["met"] == "yes" for row in staffed)


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
        planning_output(["staff", "--queues", queues, "--profile", profile, "--format", "json", "--workers", "2"])
    )
    assert [group["name"] for group in document["groups"]] == ["sales", "sales:1+support:1", "support"]
    for interval in document["intervals"]:
        for name, queue in interval["queues"].items():
            assert queue["met"] is True, (interval["start"], name, queue)
            # Tolerance: the check's mean is at most 3 points below the share asked.
            assert queue["checked"]["service_level"]["mean"] >= 0.8 - 0.03, (interval["start"], name, queue)
        assert interval["operators"] <= sum(interval["erlang_alone"].values()), interval
        assert interval["groups"]["sales:1+support:1"] > 0  # the shared group is used
        assert min(interval["groups"].values()) >= 0
    total = sum(interval["operators"] for interval in document["intervals"])
    alone = sum(sum(interval["erlang_alone"].values()) for interval in document["intervals"])
    assert total < alone  # the pooling gain


def test_one_queue_csv_has_erlangs_start_and_operators_columns(tmp_path):
    profile = write(tmp_path / "day.csv", "start,calls_per_hour\n08:00,100\n08:30,200\n")
    common = ["--profile", profile, "--handle-time", "180", "--service-level", "0.8", "--format", "csv"]
    argv = ["staff", *common, "--workers", "1", "--replication-calls", "200"]
    rows = list(csv.reader(io.StringIO(planning_output(argv))))
    assert rows[0][:2] == ["start", "operators"]
    assert [row[0] for row in rows[1:]] == ["08:00", "08:30"]
    assert all(row[1].isdigit() for row in rows[1:])
    erlang_rows = list(csv.reader(io.StringIO(planning_output(["erlang", *common]))))
    assert erlang_rows[0][0] == "start" and "operators" in erlang_rows[0]


def test_any_number_of_workers_gives_the_same_plan(tmp_path):
    queues = write(tmp_path / "queues.ini", TWO_QUEUES)
    profile = write(tmp_path / "day.csv", "start,calls_per_hour,queue\n09:00,40,sales\n09:00,30,support\n")
    argv = ["staff", "--queues", queues, "--profile", profile, "--replications", "4", "--seed", "9"]
    argv += ["--replication-calls", "100"]
    table = planning_output([*argv, "--workers", "1"])
    assert table == planning_output([*argv, "--workers", "2"])
    lines = table.splitlines()
    assert lines[0].startswith("callcenter staff: 2 queues, 3 operator groups, profile ")
    assert "start  sales  sales:1+support:1  support  total  Erlang C alone" in lines
    assert lines[-1].startswith("operator-intervals: ")


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


def test_a_plot_without_matplotlib_is_one_clear_error_before_any_search(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    argv = ["staff", "--calls-per-hour", "100", "--handle-time", "180", "--service-level", "0.8", "--plot", "x.png"]
    with pytest.raises(SystemExit) as exit_:
        planning_output(argv)
    assert exit_.value.code == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(": error: --plot needs matplotlib: pip install 'callcenter[plot]' (or pip install matplotlib)")
    )

"""The simulator's mechanics and the two subcommands: what a user sees from them."""

import io
import json
import math
import os
import random
import subprocess
import sys

import pytest

from callcenter.core.center import operator_names
from callcenter.sim import planning
from callcenter.sim.erlang import erlang_c_figures
from callcenter.sim.simulate import Model, Replication, Segment, simulate
from support import command


def main_output(argv):
    out = io.StringIO()
    planning.main(argv, stdout=out)
    return out.getvalue()


BASE = ["simulate", "--calls-per-hour", "300", "--handle-time", "120", "--operators", "12", "--duration", "2h"]


@pytest.mark.parametrize("format_", ["table", "csv", "json"])
def test_the_same_seed_gives_the_same_bytes(tmp_path, format_):
    outputs = []
    for name in ("one", "two"):
        transcript = str(tmp_path / name)
        argv = [*BASE, "--seed", "7", "--format", format_, "--patience", "60", "--answer-delay", "3"]
        argv += ["--interval", "30m", "--transcript", transcript]
        with open(transcript, "w"):
            pass
        text = main_output(argv)
        with open(transcript, "rb") as written:
            outputs.append((text, written.read()))
    assert outputs[0] == outputs[1]
    assert len(outputs[0][1]) > 10000


def test_a_different_seed_gives_different_numbers():
    first = json.loads(main_output([*BASE, "--seed", "1", "--format", "json"]))
    second = json.loads(main_output([*BASE, "--seed", "2", "--format", "json"]))
    assert first["total"]["offered"]["mean"] != second["total"]["offered"]["mean"]
    assert first["total"]["asa"]["mean"] != second["total"]["asa"]["mean"]


def model(**options):
    values = {"segments": [Segment(0, 4 * 3600, 400)], "operator_ids": operator_names(12), "handle_time": 90.0}
    values.update(options)
    return Model(**values)


def test_the_core_counts_what_the_simulation_counts():
    """Without a warm-up, once every call has played out, the core's own stats figures are the
    simulation's: the same calls received, answered, missed, rejected, ignored, and waits."""
    run = Replication(model(answer_delay=4.0, reject_rate=0.1, patience=50.0, ring_timeout=6.0), seed=3).run()
    (tally,) = run.tallies
    figures = run.center.figures
    assert run.unexpected == 0 and not run.callers and not run.center.calls
    assert figures.received == tally.offered > 1400
    assert figures.answered == figures.finished == tally.answered
    assert figures.missed == tally.abandoned > 0
    assert figures.rejected == tally.rejected > 0
    assert figures.ignored == tally.timed_out > 0
    assert figures.answered_in_service_level == tally.within
    assert figures.wait_total == pytest.approx(tally.wait_total)
    assert tally.offered == tally.answered + tally.abandoned


def test_ringing_callers_give_up_too_and_operators_who_never_answer_in_time_time_out():
    result = simulate(model(answer_delay=30.0, ring_timeout=5.0, patience=40.0), replications=2, seed=1)
    assert result.unexpected == 0
    total = result.total
    assert total["timed_out"].mean > total["offered"].mean  # most rings time out, some several times
    assert 20 < total["abandoned_pct"].mean < 100


def test_handle_time_distributions_keep_their_mean_and_spread():
    """20,000 draws: the mean within 2 % and the coefficient of variation within 5 % (each about
    four standard errors)."""
    for distribution, cv, expected_cv in (("fixed", 1.0, 0.0), ("lognormal", 0.5, 0.5), ("exponential", 1.0, 1.0)):
        draw = model(handle_distribution=distribution, handle_cv=cv).handle_sampler(random.Random(5))
        draws = [draw() for _ in range(20000)]
        mean = sum(draws) / len(draws)
        spread = math.sqrt(sum((value - mean) ** 2 for value in draws) / (len(draws) - 1)) / mean
        assert abs(mean - 90.0) < 0.02 * 90, distribution
        assert abs(spread - expected_cv) < 0.05, distribution


def test_a_profile_drives_the_arrivals_per_interval(tmp_path):
    profile = tmp_path / "day.csv"
    profile.write_text("start,calls_per_hour,queue\n08:00,0,sales\n08:30,600,sales\n09:00,120,sales\n")
    arguments = ["simulate", "--profile", str(profile), "--handle-time", "60", "--operators", "20"]
    text = main_output([*arguments, "--interval", "30m", "--replications", "4", "--format", "json"])
    document = json.loads(text)
    assert [row["start"] for row in document["intervals"]] == ["08:00", "08:30", "09:00"]
    offered = [row["offered"]["mean"] for row in document["intervals"]]
    assert offered[0] == 0
    assert 250 < offered[1] < 350 and 40 < offered[2] < 80  # 300 and 60 expected
    assert "theory" not in document  # Erlang C is for one rate


def test_the_table_shows_erlang_c_beside_the_simulation():
    text = main_output([*BASE, "--ring-timeout", "0", "--interval", "1h"])
    lines = text.splitlines()
    assert lines[0] == (
        "callcenter simulate: 12 operators, 300 calls/h, handle time 120 s (exponential), ring timeout off, "
        "service level within 20 s"
    )
    assert lines[1] == "5 replications, seed 1; measured 00:00 to 02:00"
    assert lines[3].split() == ["figure", "mean", "95%", "CI", "Erlang", "C"]
    p_wait = next(line for line in lines if line.startswith("P(wait)"))
    # Erlang C for 10 erlangs (300 calls/h x 120 s) on 12 operators, as `callcenter erlang` gives it.
    assert p_wait.split()[-1] == "%.4f" % erlang_c_figures(300, 120, 12, 20).p_wait
    assert "per interval (means over the replications):" in lines
    assert lines[-2].startswith("00:00") and lines[-1].startswith("01:00")


def test_erlang_subcommand_prints_the_published_table():
    text = main_output(["erlang", "--calls-per-hour", "200", "--handle-time", "180", "--operators", "13..15"])
    assert text.splitlines() == [
        "Erlang C: handle time 180 s, service level within 20 s",
        "",
        "calls/h  operators  load (E)  occupancy  P(wait)  service level  ASA s",
        "200             13     10.00     0.7692   0.2853         0.7956  17.12",
        "200             14     10.00     0.7143   0.1741         0.8884   7.84",
        "200             15     10.00     0.6667   0.1020         0.9415   3.67",
    ]


def test_erlang_fewest_operators_per_profile_row(tmp_path):
    profile = tmp_path / "day.csv"
    profile.write_text("08:00,100\n08:30,200\n09:00,400\n")
    text = main_output(
        ["erlang", "--profile", str(profile), "--handle-time", "180", "--service-level", "0.8", "--format", "csv"]
    )
    rows = [line.split(",") for line in text.splitlines()]
    assert rows[0] == ["start", "calls_per_hour", "operators", "load", "occupancy", "p_wait", "service_level", "asa"]
    assert [row[:3] for row in rows[1:]] == [["08:00", "100", "8"], ["08:30", "200", "14"], ["09:00", "400", "24"]]


def test_a_plot_without_matplotlib_is_one_clear_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SystemExit) as exit_:
        main_output([*BASE, "--plot", "day.png"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        "callcenter simulate: error: --plot needs matplotlib: "
        "pip install 'callcenter[plot]' (or pip install matplotlib)\n"
    )


def run_callcenter(*arguments):
    return subprocess.run(
        [command("callcenter"), *arguments], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_the_installed_command_has_both_subcommands_and_stays_the_shell_without():
    done = run_callcenter("erlang", "--calls-per-hour", "200", "--handle-time", "180", "--operators", "14")
    assert done.returncode == 0 and b"0.1741" in done.stdout
    done = run_callcenter("simulate", "--calls-per-hour", "200", "--handle-time", "180", "--operators", "14")
    assert done.returncode == 0 and done.stdout.startswith(b"callcenter simulate: 14 operators")
    shell = subprocess.run(
        [command("callcenter"), "--operators", "A"], input=b"call 1\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert shell.stdout == b"Call 1 received\nCall 1 ringing for operator A\n"


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["simulate", "--handle-time", "60"], "give one of --calls-per-hour and --profile"),
        (["simulate", "--calls-per-hour", "10"], "--handle-time is needed"),
        ([*BASE, "--handle-distribution", "gamma"], "--handle-distribution takes exponential, lognormal:CV or fixed"),
        ([*BASE, "--reject-rate", "1"], "--reject-rate must be at least 0 and below 1"),
        ([*BASE, "--warm-up", "3h"], "the warm-up must be shorter than the duration"),
        ([*BASE, "--profile", "/nonexistent.csv"], "give one of --calls-per-hour and --profile"),
        (["simulate", "--profile", "/nonexistent.csv", "--handle-time", "1"], "cannot read /nonexistent.csv"),
        (["erlang", "--calls-per-hour", "1", "--handle-time", "1", "--operators", "9..3"], "the range must go up"),
        (["erlang", "--calls-per-hour", "1", "--handle-time", "1"], "give one of --operators and --service-level"),
    ],
)
def test_bad_options_are_one_error_line_and_exit_2(arguments, message):
    done = run_callcenter(*arguments)
    assert done.returncode == 2 and done.stdout == b""
    assert message.encode() in done.stderr.splitlines()[-1]


def test_an_unwritable_transcript_is_an_error(tmp_path):
    done = run_callcenter(*([*BASE[:], "--transcript", os.path.join(str(tmp_path), "no", "such", "file")]))
    assert done.returncode == 2 and b"--transcript: cannot write" in done.stderr


def test_help_lists_the_commands_with_a_line_each_after_the_shell_options():
    done = run_callcenter("--help")
    assert done.returncode == 0 and done.stderr == b""
    lines = done.stdout.decode().splitlines()
    assert lines[:2] == [
        "Usage: callcenter [options]  (commands on stdin, results on stdout)",
        "       callcenter <command> [options]  (callcenter <command> --help shows its options)",
    ]
    assert any(line.lstrip().startswith("-o, --operators=") for line in lines)
    commands = lines[lines.index("Commands:") + 1 :]
    assert [line.split(None, 1) for line in commands if line] == [
        ["erlang", "Staffing by formula: Erlang C (Erlang A with --patience)."],
        ["simulate", "A day of traffic through the call center, in virtual time."],
    ]


@pytest.mark.parametrize("arguments", [["foo"], ["foo", "bar"], ["--operators", "3", "foo"]])
def test_an_unknown_command_is_an_error_naming_the_commands_there_are(arguments):
    done = run_callcenter(*arguments)
    assert done.returncode == 2 and done.stdout == b""
    errors = done.stderr.decode().splitlines()
    assert errors[0] == "Usage: callcenter [options]  (commands on stdin, results on stdout)"
    assert errors[-1] == (
        "callcenter: error: unknown command 'foo'; "
        "the commands are simulate and erlang (with none, callcenter is the shell)"
    )


@pytest.mark.parametrize(
    "command_,synopsis,option",
    [
        (
            "simulate",
            "Usage: callcenter simulate [options]  (a day of traffic through the call center, in virtual time)",
            "--replications=",
        ),
        ("erlang", "Usage: callcenter erlang [options]  (Erlang C, or Erlang A with --patience)", "--target="),
    ],
)
def test_each_command_has_its_own_help_and_shows_it_with_a_mistake(command_, synopsis, option):
    done = run_callcenter(command_, "--help")
    assert done.returncode == 0 and done.stderr == b""
    lines = done.stdout.decode().splitlines()
    assert lines[0] == synopsis
    assert any(option in line for line in lines) and "Commands:" not in lines
    done = run_callcenter(command_, "--bogus")
    assert done.returncode == 2 and done.stdout == b""
    errors = done.stderr.decode().splitlines()
    assert errors[0] == synopsis and any(option in line for line in errors)
    assert errors[-1] == "callcenter: error: option --bogus not recognized"


def test_the_shell_options_before_a_command_are_refused_not_ignored():
    done = run_callcenter("--operators", "3", "erlang", "--calls-per-hour", "200", "--handle-time", "180", "-o", "14")
    assert done.returncode == 2 and done.stdout == b""
    assert done.stderr.splitlines()[-1] == (
        b"callcenter: error: options before the command erlang: its own go after it (callcenter erlang --help)"
    )


# The call center's whole routing configuration, simulated.


def test_the_routing_options_reach_the_core():
    routing = {"strategy": "round-robin", "wrap_up": 30.0, "max_no_answer": 2, "max_queue": 5, "max_wait": 60.0}
    run = Replication(model(routing=routing), seed=3)
    center = run.center
    assert (center.strategy, center.wrap_up, center.max_no_answer) == ("round-robin", 30.0, 2)
    assert (center.queues[0].max_queue, center.queues[0].max_wait) == (5, 60.0)
    run.run()
    (tally,) = run.tallies
    figures = center.figures
    assert run.unexpected == 0 and not run.callers and not center.calls
    # Turned away: the queue full (refused) or waited past the maximum (timed out).
    assert tally.refused == figures.refused + figures.timed_out and figures.refused > 0 and figures.timed_out > 0
    assert tally.offered == tally.answered + tally.abandoned + tally.refused == figures.received


def test_wrap_up_takes_operator_time_and_makes_callers_wait():
    without = simulate(model(), replications=2, seed=4).total
    with_wrap_up = simulate(model(routing={"wrap_up": 20.0}), replications=2, seed=4).total
    assert with_wrap_up["p_wait"].mean > without["p_wait"].mean + 0.05
    assert with_wrap_up["asa"].mean > without["asa"].mean


def test_a_profile_drives_calls_into_queues_with_priorities(tmp_path):
    queues = tmp_path / "queues.ini"
    queues.write_text("[sales]\noperators = A, B, C\n[support]\noperators = C, D\nweight = 1\n")
    profile = tmp_path / "day.csv"
    profile.write_text(
        "start,calls_per_hour,queue,priority\n08:00,120,sales\n08:00,60,support,5\n08:30,0,support,5\n09:00,240,sales\n"
    )
    options = planning.SimulateOptions()
    options.parseOptions(["--profile", str(profile), "--queues", str(queues), "--handle-time", "60", "--seed", "2"])
    built = options.model()
    assert [(stream.queue, stream.priority) for stream in built.streams] == [("sales", 0), ("support", 5)]
    # The day ends as long after the last start as between the last two: at 09:30.
    assert built.operator_ids == ["A", "B", "C", "D"] and (built.start, built.end) == (8 * 3600.0, 9.5 * 3600.0)
    run = Replication(built, seed=5).run()
    sales, support = run.center.queues
    assert run.unexpected == 0 and not run.center.calls
    assert 12 < support.figures.received < 55  # 60 an hour for the first half hour: 30 expected
    assert 180 < sales.figures.received < 300  # 120 an hour, then 240 for half an hour: 240 expected
    assert run.center.figures.received == sum(tally.offered for tally in run.tallies)
    text = main_output(["simulate", "--profile", str(profile), "--queues", str(queues), "--handle-time", "60"])
    assert text.splitlines()[0].endswith(", queues sales (linear), support (linear)")
    assert "Erlang" not in text  # the formulas know one queue


def test_a_transcript_writes_a_calls_queue_and_priority(tmp_path):
    queues = tmp_path / "queues.ini"
    queues.write_text("[sales]\noperators = A\n[support]\noperators = A\n")
    profile = tmp_path / "day.csv"
    profile.write_text("0,600,support,3\n60,600,support,3\n")
    transcript = tmp_path / "transcript"
    arguments = ["--profile", str(profile), "--queues", str(queues), "--handle-time", "60", "-n", "1"]
    main_output(["simulate", *arguments, "--transcript", str(transcript)])
    lines = transcript.read_text().splitlines()
    assert lines[0].endswith("> call 1 priority=3 queue=support")
    assert lines[1].endswith("Call 1 received")


@pytest.mark.parametrize(
    "profile, message",
    [
        ("08:00,10,sales\n09:00,10,support\n", "names several queues: give them with --queues"),
        ("08:00,10\n09:00,10,sales,12\n", "line 2: a priority from 0 to 9, not 12"),
        ("08:00,10,sales\n07:00,10,sales\n", "line 2: the starts must go up"),
    ],
)
def test_a_profile_that_cannot_be_played_is_one_error(tmp_path, profile, message):
    path = tmp_path / "day.csv"
    path.write_text(profile)
    done = run_callcenter("simulate", "--profile", str(path), "--handle-time", "60")
    assert done.returncode == 2 and message.encode() in done.stderr.splitlines()[-1]


def test_a_profiles_queue_must_be_in_the_queues_file(tmp_path):
    queues = tmp_path / "queues.ini"
    queues.write_text("[sales]\noperators = A\n")
    path = tmp_path / "day.csv"
    path.write_text("08:00,10,billing\n09:00,10,sales\n")
    done = run_callcenter("simulate", "--profile", str(path), "--queues", str(queues), "--handle-time", "60")
    assert done.returncode == 2
    assert b"line 1: no queue billing in --queues (sales)" in done.stderr.splitlines()[-1]

"""Replications on several processes: the same bytes for any number of workers, Ctrl-C leaves
nothing behind, progress on a terminal only."""

import io
import os
import signal
import subprocess
import sys
import time

import pytest

from callcenter.sim.parallel import ProcessRunner, Progress, SerialRunner, chunks, clock_text
from support import command, planning_output

BASE = ["simulate", "--calls-per-hour", "300", "--handle-time", "120", "--operators", "12", "--duration", "2h"]


@pytest.mark.parametrize("format_", ["table", "json"])
def test_one_two_and_three_workers_print_the_same_bytes(tmp_path, format_):
    argv = [*BASE, "--replications", "7", "--seed", "5", "--format", format_, "--patience", "90", "--interval", "30m"]
    outputs = {}
    for workers in (1, 2, 3):
        transcript = str(tmp_path / ("transcript-%d" % workers))
        text = planning_output([*argv, "--workers", str(workers), "--transcript", transcript])
        with open(transcript, "rb") as written:
            outputs[workers] = (text, written.read())
    assert outputs[1] == outputs[2] == outputs[3]
    assert "7 replications" in outputs[1][0] or '"replications": 7' in outputs[1][0]


def test_a_queue_log_is_the_same_bytes_for_any_number_of_workers(tmp_path):
    # Every day of a queue_log is heard in the callcenter process (it writes the file): the days
    # are the same, and follow each other in the same order, whatever runs the rest.
    argv = ["simulate", "--queues", str(tmp_path / "queues.ini"), "--profile", str(tmp_path / "day.csv")]
    argv += ["--handle-time", "120", "--patience", "90", "--format", "json", "--start", "2026-12-01T08:00"]
    (tmp_path / "queues.ini").write_text(
        "[sales]\noperators = A, B, C, X:1\nmax-wait = 120\n[support]\noperators = D, E, X\n"
    )
    (tmp_path / "day.csv").write_text("08:00,60,sales\n08:00,40,support,3\n09:00,90,sales\n10:00,0,sales\n")
    outputs = {}
    for workers in (1, 2, 3):
        queue_log = tmp_path / ("queue_log-%d" % workers)
        text = planning_output([*argv, "--queue-log", str(queue_log), "--days", "3", "--workers", str(workers)])
        outputs[workers] = (text, queue_log.read_bytes())
    assert outputs[1] == outputs[2] == outputs[3]
    assert outputs[1][1].count(b"|QUEUESTART|") == 3 and b"|ENTERQUEUE|" in outputs[1][1]


def square_plus(value, extra):
    return value * value + extra


def test_a_process_runner_gives_results_in_the_order_of_the_items():
    runner = ProcessRunner(3)
    try:
        items = [(value, 1) for value in range(50)]
        assert runner.map(square_plus, items) == [value * value + 1 for value in range(50)]
        assert runner.map(square_plus, [(2, 0)]) == [4]  # the pool serves the next map too
        assert runner.map(square_plus, []) == []
    finally:
        runner.close()
    assert SerialRunner().map(square_plus, items) == [value * value + 1 for value in range(50)]


def test_chunks_cover_every_item_once_in_order():
    items = list(range(103))
    for slots in (1, 2, 3, 16, 500):
        parts = chunks(items, slots)
        assert [item for part in parts for item in part] == items


def processes_where(field, value):
    """The processes (zombies too) whose ``/proc/PID/stat`` field ``field`` (after the command
    name: 1 the parent, 2 the process group) is ``value``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[field]) == value:
            found.append(int(name))
    return found


def process_group(pgid):
    return processes_where(2, pgid)


def children_of(pid):
    return processes_where(1, pid)


def test_ctrl_c_stops_every_worker_and_leaves_no_process_behind():
    # A long run (minutes of work) in a process group of its own, with SIGINT's default action,
    # as an interactive shell runs a job (the suite may run in the background, where SIGINT is
    # ignored and a program started there inherits that).
    argv = [command("callcenter"), *BASE, "--duration", "24h", "--replications", "400", "--workers", "2"]
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 30
        while len(children_of(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = children_of(process.pid)
        assert len(workers) == 2, "the two workers never started"
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C at a terminal sends: the whole group
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130
    assert out == b""
    assert err.decode().splitlines() == ["callcenter simulate: interrupted"]
    deadline = time.monotonic() + 10
    while process_group(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_group(process.pid) == []


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_shows_done_and_time_left_on_a_terminal_and_clears_its_line():
    now = [100.0]
    screen = Terminal()
    progress = Progress(screen, clock=lambda: now[0])
    progress.expect(40)
    now[0] += 30.0
    progress.advance(10)
    assert screen.getvalue().split("\r")[-1] == "10/40 replications, 1:30 left"
    now[0] += 0.1
    progress.advance(1)  # too soon to redraw
    assert screen.getvalue().split("\r")[-1] == "10/40 replications, 1:30 left"
    progress.finish()
    assert screen.getvalue().endswith("\r" + " " * len("10/40 replications, 1:30 left") + "\r")


def test_progress_is_silent_when_piped():
    piped = io.StringIO()
    progress = Progress(piped)
    progress.expect(3)
    progress.advance(3)
    progress.finish()
    assert piped.getvalue() == "" and not progress.enabled


def test_clock_text():
    assert [clock_text(value) for value in (0, 41.2, 725, 3723)] == ["0:00", "0:42", "12:05", "1:02:03"]


def test_progress_of_a_piped_run_prints_nothing_on_stderr():
    done = subprocess.run(
        [command("callcenter"), *BASE, "--workers", "2"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert done.returncode == 0 and done.stderr == b""


@pytest.mark.parametrize(
    "arguments,message",
    [
        ([*BASE, "--workers", "0"], "--workers"),
        ([*BASE, "--workers", "2", "--dask", "tcp://127.0.0.1:1"], "give --workers or --dask, not both"),
        ([*BASE, "--connect", "tcp:127.0.0.1:1", "--workers", "2"], "--connect plays one day in real time"),
    ],
)
def test_bad_runner_options_are_one_error_line(arguments, message):
    done = subprocess.run(
        [command("callcenter"), *arguments], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert done.returncode == 2 and done.stdout == b""
    assert message.encode() in done.stderr.splitlines()[-1]


def test_without_dask_the_error_says_what_to_do(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(SystemExit) as exit_:
        planning_output([*BASE, "--dask", "tcp://127.0.0.1:8786"])
    assert exit_.value.code == 2
    expected = (
        "--dask needs Dask's distributed: pip install 'callcenter[dask]' (or pip install distributed)"
        if sys.version_info >= (3, 10)
        else "--dask needs Dask, which needs Python 3.10 or newer (this is Python %d.%d): use --workers here"
        % sys.version_info[:2]
    )
    assert capsys.readouterr().err == "callcenter simulate: error: %s\n" % expected

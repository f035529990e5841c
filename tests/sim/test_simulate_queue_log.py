"""``callcenter simulate --queue-log FILE --start TIME [--days N]``: the simulated days as
Asterisk's queue_log, with virtual timestamps from the start, counting what the simulation counts."""

import collections
import json
import os
import subprocess

from support import command

START = 1796112000  # 2026-12-01T08:00 UTC


def simulate(tmp_path, *extra):
    path = tmp_path / "queue_log"
    done = subprocess.run(
        [
            command("callcenter"), "simulate", "--operators", "3", "--calls-per-hour", "90", "--handle-time", "100",
            "--duration", "3h", "--patience", "60", "--answer-delay", "3", "--reject-rate", "0.05", "--seed", "29",
            "--format", "json", "--queue-log", str(path), "--start", "2026-12-01T08:00", *extra,
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, env=dict(os.environ, TZ="UTC"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.decode()), path.read_text().splitlines()


def test_a_simulated_day_counts_what_the_simulation_counts(tmp_path):
    result, lines = simulate(tmp_path)
    assert result["replications"] == 1
    total = result["total"]
    counts = collections.Counter(line.split("|")[4] for line in lines)
    assert lines[0] == "%d|NONE|NONE|NONE|QUEUESTART|" % START
    assert counts["ENTERQUEUE"] == total["offered"]["mean"] > 100
    assert counts["CONNECT"] == counts["COMPLETECALLER"] == total["answered"]["mean"]
    assert counts["ABANDON"] == round(total["offered"]["mean"] * total["abandoned_pct"]["mean"] / 100) > 0
    assert counts["RINGNOANSWER"] > 0
    times = [int(line.split("|")[0]) for line in lines]
    assert times == sorted(times) and START <= times[-1] < START + 86400


def test_days_follow_each_other_from_the_start(tmp_path):
    result, lines = simulate(tmp_path, "--days", "2")
    assert result["replications"] == 2
    starts = [line for line in lines if line.endswith("|QUEUESTART|")]
    assert starts == ["%d|NONE|NONE|NONE|QUEUESTART|" % START, "%d|NONE|NONE|NONE|QUEUESTART|" % (START + 86400)]
    second = lines[lines.index(starts[1]) + 1 :]
    assert all(START + 86400 <= int(line.split("|")[0]) < START + 2 * 86400 for line in second)
    # A call id comes back on the second day; its Uniqueid does not.
    first_ids = {line.split("|")[1] for line in lines[: lines.index(starts[1])]}
    assert not first_ids & {line.split("|")[1] for line in second} - {"NONE"}


def test_the_options_go_together(tmp_path):
    for argv, message in (
        (["--start", "2026-12-01T08:00"], b"--start goes with --queue-log FILE"),
        (["--queue-log", str(tmp_path / "q")], b"--queue-log needs --start"),
        (["--queue-log", str(tmp_path / "q"), "--start", "tomorrow"], b"--start takes a local time"),
        (["--queue-log", str(tmp_path / "q"), "--start", "2026-12-01T08:00", "--days", "2", "-n", "3"], b"--days"),
    ):
        traffic = ["--calls-per-hour", "60", "--handle-time", "60"]
        done = subprocess.run([command("callcenter"), "simulate", *traffic, *argv], stderr=subprocess.PIPE, timeout=60)
        assert done.returncode == 2 and message in done.stderr, done.stderr

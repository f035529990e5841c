"""``--queue-log`` on a real server while ``callcenter simulate --connect`` plays a day: Asterisk's
lines, and counts that equal ``stats``."""

import collections
import re
import subprocess

from support import command


def test_a_played_day_in_the_queue_log_counts_what_stats_counts(start_server, tmp_path):
    path = tmp_path / "queue_log"
    server = start_server("--operators", "3", "--ring-timeout", "3", "--queue-log", str(path))
    endpoint = "tcp:127.0.0.1:%d" % server.port
    done = subprocess.run(
        [
            command("callcenter"), "simulate", "--connect", endpoint, "--speed", "400", "--duration", "20m",
            "--calls-per-hour", "360", "--handle-time", "60", "--answer-delay", "2", "--reject-rate", "0.1",
            "--patience", "40", "--seed", "29", "--format", "json",
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stats = subprocess.run(
        [command("callcenter-client"), "--connect", endpoint], input=b"stats\n", stdout=subprocess.PIPE, timeout=30
    ).stdout.decode()
    assert server.stop() == 0
    figures = {}
    for name in ("received", "missed"):
        figures[name] = int(re.search(r"^Calls %s: (\d+)" % name, stats, re.M).group(1))
    answered = re.search(r"^Calls answered: (\d+) \((\d+) talking now, (\d+) finished\)", stats, re.M)
    figures["answered"], figures["finished"] = int(answered.group(1)), int(answered.group(3))
    table = [line.split() for line in stats.splitlines() if re.match(r"^[ABC] ", line)]
    rejected = sum(int(row[-3]) for row in table)
    ignored = sum(int(row[-2]) for row in table)
    lines = path.read_text().splitlines()
    assert lines[0].endswith("|NONE|NONE|NONE|QUEUESTART|")
    counts = collections.Counter(line.split("|")[4] for line in lines)
    assert counts["ENTERQUEUE"] == figures["received"] > 50
    assert counts["CONNECT"] == figures["answered"]
    assert counts["ABANDON"] == figures["missed"] > 0
    assert counts["COMPLETECALLER"] == figures["finished"]
    assert counts["RINGNOANSWER"] == rejected + ignored > 0
    # Each call's lines share its Uniqueid; every CONNECT follows its call's ENTERQUEUE.
    entered = set()
    for line in lines[1:]:
        fields = line.split("|")
        assert fields[0].isdigit() and re.match(r"^\d+\.\S+$", fields[1]), line
        if fields[4] == "ENTERQUEUE":
            entered.add(fields[1])
        else:
            assert fields[1] in entered, line

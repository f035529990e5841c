"""Writes the state directories of tests/store/test_old_state.py with the code installed.

Run once with the code of commit 7c71cce (``snapshot`` format 1, whose core state is the
``stats`` and ``routing`` dicts of that day's CallCenter) to make the files a newer server must
still restore: ``.venv-test/bin/python tests/data/make_old_state.py``. Each directory holds a
snapshot and the journal after it (commands and timer firings), as a SIGKILL leaves them;
``expected.json`` holds what the code that wrote them shows once it has restored them (status,
stats), then the replies and events of the commands that follow. Running it with newer code
writes that code's format instead: keep the files committed.
"""

import json
import os
import shutil
import sys
import tempfile

from twisted.internet.task import Clock

from callcenter.core.center import CallCenterError
from callcenter.core.queues import operator_ids_of, parse_queues
from callcenter.store.durable import DurableCallCenter

HERE = os.path.dirname(os.path.abspath(__file__))

QUEUES = """\
[sales]
operators = A, B, C:1
strategy = round-robin
max-wait = 300
[support]
operators = C, D, E
strategy = ring-all
weight = 1
[billing]
operators = F, H
strategy = longest-idle
max-queue = 1
"""

# name: (options, commands before the snapshot, commands after it; a number advances the clock)
SCENARIOS = {
    "queues": (
        {"queues": QUEUES, "ring_timeout": 30, "wrap_up": 20, "max_no_answer": 2},
        [
            "logout H",
            "call b1 queue=billing",
            "answer F",
            "call b2 queue=billing",
            "call b3 queue=billing",  # refused: billing holds one waiting call at most
            2,
            "hangup b2",
            "call s1",
            "answer A",
            "call s2 priority=4",
            "answer B",
            "call t1 queue=support",  # ring-all: C, D and E ring
            3,
            "reject D",
            "answer C",
            "call s3",
            4,
            "hangup s1",  # A takes s3
            "answer A",
            "pause A lunch break",  # A pauses once s3 ends
            "pause B meeting",  # B likewise after s2
            "call s4",
            "call s5 priority=3",
            "call t2 queue=support",  # rings at D and E
            5,
        ],
        [
            "hangup t1",  # C in wrap-up
            "call t3 queue=support",
            "call t4 queue=support priority=2",
            "hangup b1",  # F in wrap-up, then available
            "hangup s3",  # A paused
            21,  # the wrap-up timers fire
            "call s6",
            "call s7 priority=3",
            "hangup s7",
            "login G",  # a dynamic member of sales: takes its next call
            "pause G",  # which goes back to the head of sales
            1,
            "answer C",
            2,
            "hangup t4",  # C in wrap-up
            1,
        ],
        [
            3,
            "status",
            "answer G",
            "answer E",
            "stats",
            16,
            "unpause A",
            "hangup s2",
            "login H",
            "call b4 queue=billing",
            400,
            "status",
        ],
    ),
    "default": (
        {"operators": "A,B,C,D,E,F", "ring_timeout": 10, "wrap_up": 15, "max_wait": 120},
        [
            "call 1",
            "answer A",
            "call 2",
            "answer B",
            "call 3",
            "reject C",
            1,
            "answer D",
            "call 4",
            "call 5 priority=2",
            "logout F",
            2,
            "hangup 2",  # B in wrap-up
            "pause E back soon",
            "call 6",
            "call 7 priority=7",
            "call 8",
            "hangup 6",
            3,
        ],
        [
            "login X",
            "call 9 priority=2",
            "pause C",
            "hangup 1",  # A in wrap-up
            4,
            "call 10",
            "pause D tea",  # after call 3
            16,  # the wrap-up timers fire, a ring times out
            "call 11",
            5,
            "answer A",
            1,
            "hangup 9",  # A in wrap-up
            2,
        ],
        [
            2,
            "status",
            "answer B",
            "hangup 3",
            "unpause E",
            "stats",
            130,
            "status",
            "stats",
        ],
    ),
}


def new_center(directory, options, clock):
    options = dict(options)
    if "queues" in options:
        options["queues"] = parse_queues(options["queues"])
        operators = operator_ids_of(options["queues"])
    else:
        operators = options.pop("operators").split(",")
    center = DurableCallCenter(directory, operators, clock.callLater, clock.seconds, **options)
    center.restore()
    return center


def run(center, clock, steps, heard):
    """Each step: a command (its reply, or its error, goes to ``heard``) or seconds to advance."""
    for step in steps:
        if isinstance(step, (int, float)):
            for _ in range(step):  # a second at a time: each timer fires on time, its event heard
                clock.advance(1)
                clock.advance(0)
        else:
            command, _, argument = step.partition(" ")
            try:
                heard.append(["reply", step, center.execute(command, argument or None)])
            except CallCenterError as error:
                heard.append(["error", step, str(error)])
        clock.advance(0)  # the commit
        center.flush()


def make(name, options, before, after, following):
    target = os.path.join(HERE, "state-v1-" + name)
    work = tempfile.mkdtemp()
    try:
        clock = Clock()
        center = new_center(work, options, clock)
        run(center, clock, before, [])
        center.compact()
        run(center, clock, after, [])
        status, time = center.status(), clock.seconds()
        center.close()  # as a SIGKILL leaves the files: no snapshot of what the journal holds
        if os.path.exists(target):
            shutil.rmtree(target)
        os.mkdir(target)
        for file_name in sorted(os.listdir(work)):
            if file_name != "lock":
                shutil.copy(os.path.join(work, file_name), target)
        restored = new_center(work, options, clock)
        if restored.status() != status:
            sys.exit("%s: the restored state differs from the one saved" % name)
        # The stats as restored: that code counts "logged in" from the restart for an operator
        # whose presence had no figures yet at the snapshot.
        stats = restored.execute("stats", None)
        heard = []
        restored.on_event = lambda lines: heard.append(["event", "", lines])
        run(restored, clock, following, heard)
        expected = {
            "options": options,
            "time": time,
            "status": status,
            "stats": stats,
            "following": following,
            "heard": heard,
        }
        with open(os.path.join(target, "expected.json"), "w") as out:
            json.dump(expected, out, indent=1)
            out.write("\n")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    for scenario, (options, before, after, following) in sorted(SCENARIOS.items()):
        make(scenario, options, before, after, following)

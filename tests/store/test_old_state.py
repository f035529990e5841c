"""State directories written by an older server (tests/data/state-v1-*: a snapshot and the
journal after it, as a SIGKILL left them) restore under this code: the same status and stats
as the server that wrote them showed once restored, and the same replies and events for the
commands and timers that follow. tests/data/make_old_state.py wrote them with that code; its
docstring says how."""

import json
import os
import shutil

import pytest
from twisted.internet.task import Clock
from zope.interface import implementer

from callcenter.core.center import QUERIES, CallCenterError
from callcenter.core.queues import operator_ids_of, parse_queues
from callcenter.core.rendering import render
from callcenter.interfaces import IEventSubscriber
from callcenter.store.durable import DurableCallCenter

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
SCENARIOS = ["default", "queues"]
# Where this code shows better than the code that wrote the files: that code replayed G's
# login from the journal, then loaded its state again (the operators had changed) and so
# counted G's time logged in from the restart, not from its login 4 seconds before.
CORRECTED = {
    "queues": {
        "Operator G: paused 0:00:04 (no reason 0:00:04), in wrap-up 0:00:00, logged in 0:00:00": (
            "Operator G: paused 0:00:04 (no reason 0:00:04), in wrap-up 0:00:00, logged in 0:00:04"
        ),
        "Operator G: paused 0:00:07 (no reason 0:00:07), in wrap-up 0:00:00, logged in 0:00:03": (
            "Operator G: paused 0:00:07 (no reason 0:00:07), in wrap-up 0:00:00, logged in 0:00:07"
        ),
    },
}


def new_center(directory, options, clock):
    """A durable center on ``directory`` with the options the files were written with."""
    options = dict(options)
    if "queues" in options:
        options["queues"] = parse_queues(options["queues"])
        operators = operator_ids_of(options["queues"])
    else:
        operators = options.pop("operators").split(",")
    center = DurableCallCenter(directory, operators, clock.callLater, clock.seconds, **options)
    center.restore()
    return center


@implementer(IEventSubscriber)
class Driver(object):
    """Runs steps on a durable center as the script that wrote the files did, and notes what
    it said: each command's lines (or its error), and the lines of each timer's events."""

    def __init__(self, center, clock):
        self.center = center
        self.clock = clock
        self.said = []
        center.subscribe(self)

    def heard(self, events, command):
        if command is None:
            self.said.append(["event", "", render(events)])

    def run(self, steps):
        """Each step: a command, or seconds to pass (a second at a time, as the script did)."""
        for step in steps:
            if isinstance(step, (int, float)):
                for _ in range(step):
                    self.clock.advance(1)
                    self.clock.advance(0)
            else:
                command, _, argument = step.partition(" ")
                try:
                    if command in QUERIES:
                        self.said.append(["reply", step, self.center.query(command)])
                    else:
                        self.said.append(["reply", step, render(self.center.execute(command, argument or None))])
                except CallCenterError as error:
                    self.said.append(["error", step, str(error)])
            self.clock.advance(0)  # the commit
            self.center.flush()


def copy_of(name, tmp_path):
    """The saved files of ``name`` in a directory of the test's own, and what they should show."""
    source = os.path.join(DATA, "state-v1-" + name)
    directory = str(tmp_path / name)
    os.mkdir(directory)
    for file_name in os.listdir(source):
        if file_name != "expected.json":
            shutil.copy(os.path.join(source, file_name), directory)
    with open(os.path.join(source, "expected.json")) as expected:
        return directory, json.load(expected)


def corrected(name, lines):
    """``lines`` (or an error's message) with the corrections of ``name``."""
    if isinstance(lines, str):
        return lines
    return [CORRECTED.get(name, {}).get(line, line) for line in lines]


@pytest.mark.parametrize("name", SCENARIOS)
def test_an_old_state_restores_with_the_status_and_stats_it_had(tmp_path, name):
    directory, expected = copy_of(name, tmp_path)
    clock = Clock()
    clock.advance(expected["time"])
    center = new_center(directory, expected["options"], clock)
    assert center.query("status") == expected["status"]
    assert center.query("stats") == corrected(name, expected["stats"])


@pytest.mark.parametrize("name", SCENARIOS)
def test_an_old_state_goes_on_as_it_would_have(tmp_path, name):
    directory, expected = copy_of(name, tmp_path)
    clock = Clock()
    clock.advance(expected["time"])
    center = new_center(directory, expected["options"], clock)
    driver = Driver(center, clock)
    driver.run(expected["following"])
    assert driver.said == [[kind, step, corrected(name, lines)] for kind, step, lines in expected["heard"]]
    # Written again in this code's own format, it comes back the same.
    status, stats = center.query("status"), center.query("stats")
    center.flush()
    center.compact()
    center.close()
    again = new_center(directory, expected["options"], clock)
    assert again.query("status") == status
    assert again.query("stats") == stats

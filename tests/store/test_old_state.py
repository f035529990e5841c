"""State directories written by an older server (tests/data/state-v1-*: a snapshot and the
journal after it, as a SIGKILL left them) restore under this code: the same status and stats
as the server that wrote them showed once restored, and the same replies and events for the
commands and timers that follow. tests/data/make_old_state.py wrote them; its docstring says how."""

import importlib.util
import json
import os
import shutil

import pytest
from twisted.internet.task import Clock

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


def maker():
    """The script that wrote the files: its way to start a server and drive it is the test's."""
    spec = importlib.util.spec_from_file_location("make_old_state", os.path.join(DATA, "make_old_state.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


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
    make = maker()
    directory, expected = copy_of(name, tmp_path)
    clock = Clock()
    clock.advance(expected["time"])
    center = make.new_center(directory, expected["options"], clock)
    assert center.status() == expected["status"]
    assert center.query("stats", None) == corrected(name, expected["stats"])


@pytest.mark.parametrize("name", SCENARIOS)
def test_an_old_state_goes_on_as_it_would_have(tmp_path, name):
    make = maker()
    directory, expected = copy_of(name, tmp_path)
    clock = Clock()
    clock.advance(expected["time"])
    center = make.new_center(directory, expected["options"], clock)
    heard = []
    make.listen(center, heard)
    make.run(center, clock, expected["following"], heard)
    assert heard == [[kind, step, corrected(name, lines)] for kind, step, lines in expected["heard"]]
    # Written again in this code's own format, it comes back the same.
    status, stats = center.status(), center.query("stats", None)
    center.flush()
    center.compact()
    center.close()
    again = make.new_center(directory, expected["options"], clock)
    assert again.status() == status
    assert again.query("stats", None) == stats

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

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
SCENARIOS = ["default", "queues"]


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


@pytest.mark.parametrize("name", SCENARIOS)
def test_an_old_state_restores_with_the_status_and_stats_it_had(tmp_path, name):
    make = maker()
    directory, expected = copy_of(name, tmp_path)
    clock = Clock()
    clock.advance(expected["time"])
    center = make.new_center(directory, expected["options"], clock)
    assert center.status() == expected["status"]
    assert center.execute("stats", None) == expected["stats"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_an_old_state_goes_on_as_it_would_have(tmp_path, name):
    make = maker()
    directory, expected = copy_of(name, tmp_path)
    clock = Clock()
    clock.advance(expected["time"])
    center = make.new_center(directory, expected["options"], clock)
    heard = []
    center.on_event = lambda lines: heard.append(["event", "", lines])
    make.run(center, clock, expected["following"], heard)
    assert heard == expected["heard"]
    # Written again in this code's own format, it comes back the same.
    status = center.status()
    center.flush()
    center.compact()
    center.close()
    again = make.new_center(directory, expected["options"], clock)
    assert again.status() == status

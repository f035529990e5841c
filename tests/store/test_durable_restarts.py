"""Random command sequences on a durable center (--state-dir), then a restart: after a SIGKILL
(the journal replayed), a clean stop (the snapshot) or a compaction then a SIGKILL (the snapshot
and what the journal holds after it), the restored center is in the same state as the one that
stopped, as data (core/state.py), but for its rings, which start a full ring timeout afresh."""

import shutil
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from callcenter.core import state
from callcenter.core.center import CallCenterError
from callcenter.core.queues import operator_ids_of, parse_queues
from callcenter.core.strategies import STRATEGIES
from support import DurableServer

QUEUES = """
[sales]
operators = A, B, C:1
strategy = round-robin
max-wait = 12
[support]
operators = C, D
strategy = ring-all
weight = 1
"""
CALL_IDS = [str(number) for number in range(1, 6)]


@st.composite
def command(draw, operator_ids, queue_names):
    operator = draw(st.sampled_from(operator_ids))
    call = draw(st.sampled_from(CALL_IDS))
    kind = draw(st.sampled_from(["call"] * 3 + ["answer"] * 3 + ["hangup"] * 2 + ["reject", "pause", "presence"]))
    if kind == "call":
        queue = draw(st.sampled_from(queue_names))
        priority = draw(st.sampled_from(["", " priority=3"]))
        return "call %s%s%s" % (call, priority, "" if queue == queue_names[0] else " queue=" + queue)
    if kind == "hangup":
        return "hangup " + call
    if kind == "pause":
        return "pause %s%s" % (operator, draw(st.sampled_from(["", " lunch"])))
    if kind == "presence":
        return "%s %s" % (draw(st.sampled_from(["unpause", "login", "logout"])), operator)
    return "%s %s" % (kind, operator)


@st.composite
def histories(draw):
    """Options, the steps before a compaction, the steps after it, and how the server stops."""
    options = {
        "ring_timeout": draw(st.sampled_from([0, 10])),
        "wrap_up": draw(st.sampled_from([0, 5, 30])),
        "max_no_answer": draw(st.sampled_from([0, 2])),
        "seed": 1,
    }
    if draw(st.booleans()):
        options["queues"] = parse_queues(QUEUES)
        operators, names = operator_ids_of(options["queues"]), ["sales", "support"]
    else:
        options.update(strategy=draw(st.sampled_from(STRATEGIES)), max_wait=draw(st.sampled_from([0, 12])))
        operators, names = ["A", "B", "C"], ["default"]
    step = st.one_of(command([*operators, "Z"], names), st.sampled_from([0.5, 1, 2, 5, 10]))
    steps = st.lists(step, max_size=30)
    return options, operators, draw(steps), draw(steps), draw(st.sampled_from(["crash", "stop", "compact_and_crash"]))


def run(server, steps):
    for step in steps:
        if isinstance(step, str):
            try:
                server.state.execute(*step.split(" ", 1))
            except CallCenterError:
                pass
        else:
            server.clock.advance(step)
        server.clock.advance(0)  # the commit


def without_rings(data):
    """The state but for the ring timers' deadlines (a restart rings in full)."""
    data = dict(data)
    data["timers"] = [timer for timer in data["timers"] if timer["timer"] != "timeout"]
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_a_restart_brings_back_the_state_the_server_stopped_in(history):
    options, operators, before, after, how = history
    directory = tempfile.mkdtemp()
    try:
        server = DurableServer(directory, operators, clock=Clock(), **options)
        run(server, before)
        server.state.flush()
        server.state.compact()
        run(server, after)
        saved = state.center_to_data(server.state.center)
        ringing = sorted(timer["operator"] for timer in saved["timers"] if timer["timer"] == "timeout")
        status, stats = server.state.query("status"), server.state.query("stats")
        getattr(server, how)()
        clock = Clock()
        clock.advance(server.clock.seconds())
        again = DurableServer(directory, operators, clock=clock, **options)
        restored = state.center_to_data(again.state.center)
        assert without_rings(restored) == without_rings(saved)
        assert sorted(timer["operator"] for timer in restored["timers"] if timer["timer"] == "timeout") == ringing
        assert again.state.query("status") == status
        assert again.state.query("stats") == stats
        again.state.close()
    finally:
        shutil.rmtree(directory)

"""core/state.py: a center's state as data and back. Random centers (random command sequences,
with and without --queues) go to data and back to the same data, and the restored center then
answers the same commands and fires the same timers with the same lines as the original; the
data of a known center names what it should; spoilt data is refused with one line; saved data
takes other operators and queues as a restart does; the snapshots of format 1 read."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from zope.interface import implementer

from callcenter.core import state
from callcenter.core.center import CallCenter, CallCenterError
from callcenter.core.queues import operator_ids_of, parse_queues
from callcenter.core.rendering import render
from callcenter.core.strategies import STRATEGIES
from callcenter.interfaces import IEventSubscriber


class Ticking(Clock):
    """A task.Clock whose timers due at the same time fire in one order (by timer name and
    operator id) whatever order they were set in: the order of such ties is the scheduler's
    (the reactor's is arbitrary), and a restored center sets its timers in another order."""

    def callLater(self, delay, callable, *args, **kw):
        call = Clock.callLater(self, delay, callable, *args, **kw)
        self.calls.sort(key=lambda delayed: (delayed.getTime(), delayed.args))
        return call


SALES_SUPPORT = """
[sales]
operators = A, B, C:1
strategy = round-robin
max-wait = 12
[support]
operators = C, D
strategy = ring-all
weight = 1
max-queue = 2
"""
TWO_RANDOM = """
[first]
operators = A, B
strategy = random
[second]
operators = B, C
strategy = longest-idle
"""
QUEUE_FILES = [None, SALES_SUPPORT, TWO_RANDOM]
CALL_IDS = [str(number) for number in range(1, 6)]
STEP_SECONDS = [0.5, 1, 2, 5, 10]  # times stay exact binary fractions: deadlines survive a round trip


@st.composite
def commands(draw, operator_ids, queue_names):
    """One command line, valid or not (Z, no operator at first, may join with login)."""
    operator = draw(st.sampled_from(operator_ids))
    call = draw(st.sampled_from(CALL_IDS))
    kind = draw(
        st.sampled_from(["call"] * 3 + ["answer"] * 3 + ["hangup"] * 2 + ["reject", "pause", "presence", "finish"])
    )
    if draw(st.integers(0, 9)) == 0:  # a level now and then: it moves the operator between strategies
        words = ["level", operator, str(draw(st.sampled_from([0, 1, 2, 5])))]
        if draw(st.booleans()):
            words.append("queue=" + draw(st.sampled_from(queue_names)))
        return " ".join(words)
    if kind == "call":
        words = ["call", call]
        if draw(st.booleans()):
            words.append("priority=%d" % draw(st.integers(0, 3)))
        if len(queue_names) > 1 and draw(st.booleans()):
            words.append("queue=" + draw(st.sampled_from(queue_names)))
        return " ".join(words)
    if kind == "hangup":
        return "hangup " + call
    if kind == "pause":
        return "pause %s %s" % (operator, draw(st.sampled_from(["", "lunch", "team meeting"])))
    if kind == "presence":
        return "%s %s" % (draw(st.sampled_from(["unpause", "login", "logout"])), operator)
    return "%s %s" % (kind, operator)


@st.composite
def centers(draw):
    """The options of a call center, and the steps that bring it to a state: commands, or
    seconds for the clock to move on."""
    queues_text = draw(st.sampled_from(QUEUE_FILES))
    options = {
        "ring_timeout": draw(st.sampled_from([0, 10])),
        "wrap_up": draw(st.sampled_from([0, 5, 30])),
        "max_no_answer": draw(st.sampled_from([0, 2])),
        "seed": 1,
    }
    if queues_text is None:
        options.update(
            strategy=draw(st.sampled_from(STRATEGIES)),
            max_queue=draw(st.sampled_from([0, 3])),
            max_wait=draw(st.sampled_from([0, 12])),
        )
        names = ["default"]
        operators = ["A", "B", "C"]
    else:
        options["queues"] = parse_queues(queues_text)
        names = [config.name for config in options["queues"]]
        operators = operator_ids_of(options["queues"])
    step = st.one_of(commands([*operators, "Z"], names), st.sampled_from(STEP_SECONDS))
    return options, draw(st.lists(step, min_size=10, max_size=60)), draw(st.lists(step, min_size=5, max_size=30))


@implementer(IEventSubscriber)
class Running(object):
    """A call center on a Ticking clock, with what it said: each command's events (or its
    error) and the events of its timers."""

    def __init__(self, center, clock):
        self.center = center
        self.clock = clock
        self.said = []
        center.subscribe(self)

    def heard(self, events, command):
        if command is None:
            self.said.append(("timer", list(events)))

    @classmethod
    def start(cls, options):
        clock = Ticking()
        operators = operator_ids_of(options["queues"]) if "queues" in options else ["A", "B", "C"]
        return cls(CallCenter(operators, clock.callLater, now=clock.seconds, **options), clock)

    def run(self, steps):
        for step in steps:
            if isinstance(step, str):
                command, _, argument = step.partition(" ")
                try:
                    self.said.append((step, self.center.execute(command, argument)))
                except CallCenterError as error:
                    self.said.append((step, str(error)))
            else:
                self.clock.advance(step)
        self.said.append(("status", self.center.status()))
        self.said.append(("stats", self.center.stats()))

    def restored(self, settings=None):
        """Another center, on a clock of its own at this time, from this one's data as JSON."""
        data = json.loads(json.dumps(state.center_to_data(self.center)))
        clock = Ticking()
        clock.advance(self.clock.seconds())
        return Running(state.center_from_data(data, clock.callLater, clock.seconds, settings), clock)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(centers())
def test_random_centers_go_to_data_and_back_and_then_behave_the_same(center):
    options, steps, following = center
    original = Running.start(options)
    original.run(steps)
    data = state.center_to_data(original.center)
    assert json.loads(json.dumps(data)) == data
    again = original.restored()
    assert state.center_to_data(again.center) == data
    assert again.center.status() == original.center.status()
    assert again.center.stats() == original.center.stats()
    original.said, again.said = [], []
    original.run(following)
    again.run(following)
    assert again.said == original.said
    assert state.center_to_data(again.center) == state.center_to_data(original.center)


# The data of a known center.


def sales_and_support(**options):
    clock = Ticking()
    queues = parse_queues(SALES_SUPPORT)
    center = CallCenter(
        operator_ids_of(queues), clock.callLater, 10, now=clock.seconds, wrap_up=5, queues=queues, **options
    )
    for command in ("pause A lunch", "call 1", "call 2 queue=support priority=2", "answer B", "call 3"):
        center.execute(*command.split(" ", 1))
    clock.advance(1)
    center.execute("call", "4 priority=3")
    return center, clock


def test_the_data_names_presence_calls_queues_in_order_and_timers_with_their_deadlines():
    center, _ = sales_and_support()
    data = state.center_to_data(center)
    assert json.loads(json.dumps(data)) == data
    assert data["version"] == 1
    assert data["settings"]["queues"] == [config.to_dict() for config in parse_queues(SALES_SUPPORT)]
    operators = {operator["id"]: operator for operator in data["operators"]}
    assert [operator["id"] for operator in data["operators"]] == ["A", "B", "C", "D"]
    assert (operators["A"]["state"], operators["A"]["reason"], operators["A"]["call"]) == ("paused", "lunch", None)
    assert (operators["B"]["state"], operators["B"]["call"], operators["B"]["answered"]) == ("busy", "1", 1)
    assert [(operators[name]["state"], operators[name]["call"]) for name in "CD"] == [
        ("ringing", "2"),
        ("ringing", "2"),
    ]
    calls = {call["id"]: call for call in data["calls"]}
    assert calls["2"] == {
        "id": "2",
        "state": "ringing",
        "queue": "support",
        "priority": 2,
        "received_at": 0.0,
        "order": 2,
        "operator": "D",
        "ringers": ["C", "D"],
        "first_position": 0,
    }
    assert sorted(calls) == ["1", "2"]  # those that ring or talk; the waiting ones are their queue's
    assert [(queue["name"], queue["waiting"]) for queue in data["queues"]] == [
        ("sales", [["4", 3, 1.0, 4, 1], ["3", 0, 0.0, 3, 1]]),
        ("support", []),
    ]
    assert data["queues"][0]["memory"] == [1, -1]  # round-robin at each level: B was offered call 1
    assert data["queues"][0]["figures"]["received"] == 3
    assert data["figures"]["received"] == 4
    assert data["timers"] == [
        {"timer": "timeout", "operator": "C", "deadline": 10.0},
        {"timer": "timeout", "operator": "D", "deadline": 10.0},
        {"timer": "waited", "operator": "", "deadline": 12.0},
    ]
    assert (data["arrivals"], data["received_at"]) == (4, 1.0)


def timer_lines(running):
    """The lines of each timer's events, in order."""
    return [render(events) for kind, events in running.said if kind == "timer"]


def test_a_restored_center_lets_its_timers_run_to_their_deadlines():
    center, clock = sales_and_support()
    clock.advance(3)  # t=4: the rings time out at 10, calls 3 and 4 may wait until 12 and 13
    again = Running(center, clock).restored()
    again.clock.advance(5.5)
    assert timer_lines(again) == []
    again.clock.advance(0.5)
    assert timer_lines(again) == [
        ["Call 2 ignored by operator C", "Call 4 ringing for operator C"],
        ["Call 2 ignored by operator D", "Call 2 ringing for operator D"],
    ]
    again.clock.advance(2)
    assert timer_lines(again)[2:] == [["Call 3 timed out in queue"]]


def test_a_ringing_operator_saved_without_a_ring_timer_rings_a_full_timeout_from_the_restore():
    clock = Ticking()
    center = CallCenter(["A", "B"], now=clock.seconds, ring_timeout=0)
    center.execute("call", "1")
    clock.advance(30)
    data = state.center_to_data(center)
    again = Running(state.center_from_data(data, clock.callLater, clock.seconds, {"ring_timeout": 10}), clock)
    clock.advance(9)
    assert timer_lines(again) == []
    clock.advance(1)
    assert timer_lines(again) == [["Call 1 ignored by operator A", "Call 1 ringing for operator B"]]


def test_a_restore_with_the_ring_timeout_off_sets_no_ring_timer():
    center, clock = sales_and_support()
    data = state.center_to_data(center)
    again = state.center_from_data(data, clock.callLater, clock.seconds, {"ring_timeout": 0})
    assert [timer["timer"] for timer in state.center_to_data(again)["timers"]] == ["waited"]
    assert again.ring_timeout == 0


def test_a_changed_strategy_starts_without_the_saved_memory():
    clock = Ticking()
    center = CallCenter(["A", "B", "C"], clock.callLater, 0, now=clock.seconds, strategy="round-robin")
    center.execute("call", "1")
    center.execute("hangup", "1")  # round-robin offered A last: the next call rings B
    data = state.center_to_data(center)
    kept = state.center_from_data(data, clock.callLater, clock.seconds)
    assert render(kept.execute("call", "2")) == ["Call 2 received", "Call 2 ringing for operator B"]
    linear = state.center_from_data(data, clock.callLater, clock.seconds, {"strategy": "linear"})
    assert render(linear.execute("call", "2")) == ["Call 2 received", "Call 2 ringing for operator A"]
    again = state.center_to_data(linear)
    back = state.center_from_data(again, clock.callLater, clock.seconds, {"strategy": "round-robin"})
    assert render(back.execute("call", "3")) == ["Call 3 received", "Call 3 ringing for operator B"]


def test_a_call_ringing_at_several_operators_rings_at_each_whatever_the_strategy_now():
    clock = Ticking()
    center = CallCenter(["A", "B", "C"], clock.callLater, 10, now=clock.seconds, strategy="ring-all")
    center.execute("call", "1")
    data = state.center_to_data(center)
    again = state.center_from_data(data, clock.callLater, clock.seconds, {"strategy": "linear"})
    assert again.status() == [
        "Operator A ringing with call 1",
        "Operator B ringing with call 1",
        "Operator C ringing with call 1",
    ]
    assert render(again.execute("reject", "A")) == ["Call 1 rejected by operator A"]
    assert render(again.execute("call", "2")) == ["Call 2 received", "Call 2 ringing for operator A"]


# Spoilt data: one line, nothing built.


def spoil_a_call(data, **fields):
    (call,) = [call for call in data["calls"] if call["id"] == "1"]
    call.update(fields)


@pytest.mark.parametrize(
    "spoil, why",
    [
        (lambda data: data.update(version=2), "version 2, not 1"),
        (lambda data: data.pop("calls"), "no calls"),
        (lambda data: data["operators"][1].update(state="asleep"), "no asleep"),
        (lambda data: data["operators"][1].update(call=None), "operator B is busy with None"),
        (lambda data: data["operators"][1].update(call="9"), "no 9"),
        (lambda data: data["operators"][0].update(call="1"), "operator A is paused with 1"),
        (lambda data: spoil_a_call(data, state="ringing"), "operator B is busy with call 1, which is not held so"),
        (lambda data: spoil_a_call(data, state="queued"), "no queued"),
        (lambda data: spoil_a_call(data, queue="billing"), "call 1 is in queue billing, which is not configured"),
        (lambda data: spoil_a_call(data, priority=12), "priority must be a whole number from 0 to 9, not 12"),
        (lambda data: data["queues"][1]["waiting"].append(["1", 0, 0.0, 0, 1]), "call 1 is saved twice"),
        (lambda data: data["queues"][1]["waiting"].append(["x y", 0, 0.0, 0, 1]), "invalid call id 'x y'"),
        (lambda data: data["queues"][0]["waiting"].append(["5"]), "not enough values to unpack"),
        (lambda data: data["queues"][1].update(name="billing"), "the queues saved are not those configured"),
        (lambda data: data["timers"].append({"timer": "timeout", "operator": "Q", "deadline": 1}), "operator Q"),
        (lambda data: data["settings"].update(strategy="loudest"), "unknown strategy 'loudest'"),
    ],
)
def test_spoilt_data_is_refused_with_one_line(spoil, why):
    center, clock = sales_and_support()
    data = json.loads(json.dumps(state.center_to_data(center)))
    spoil(data)
    with pytest.raises(CallCenterError) as refused:
        state.center_from_data(data, clock.callLater, clock.seconds)
    assert why in str(refused.value)
    assert "\n" not in str(refused.value)


def test_only_the_settings_of_a_restart_may_be_given_anew():
    center, clock = sales_and_support()
    with pytest.raises(CallCenterError, match="no setting queues"):
        state.center_from_data(state.center_to_data(center), clock.callLater, clock.seconds, {"queues": None})


# Other operators and queues (a restart with changed --operators or --queues).


def test_an_operator_added_takes_the_waiting_calls_in_order_of_arrival_across_queues():
    clock = Ticking()
    queues = parse_queues("[sales]\noperators = A\n[support]\noperators = A\n")
    center = CallCenter(["A"], clock.callLater, 0, now=clock.seconds, queues=queues)
    for command in ("call 1", "call 2 queue=support", "call 3", "call 4 queue=support priority=5"):
        center.execute(*command.split(" ", 1))
    wider = parse_queues("[sales]\noperators = A, B, C\n[support]\noperators = A, B\n")
    data = state.reconfigured(state.center_to_data(center), ["A", "B", "C"], wider, clock.seconds())
    again = state.center_from_data(data, clock.callLater, clock.seconds)
    assert again.status() == [
        "Queue sales",
        "Operator A ringing with call 1",
        "Operator B ringing with call 2",
        "Operator C ringing with call 3",
        "Queue support",
        "Operator A ringing with call 1",
        "Operator B ringing with call 2",
        "Queued call 4 (priority 5)",
    ]


def test_idle_operators_may_go_and_new_ones_start_available_with_no_figures():
    center, clock = sales_and_support()
    clock.advance(2)
    wider = parse_queues(SALES_SUPPORT.replace("A, B", "E, B"))
    data = state.reconfigured(state.center_to_data(center), ["B", "C", "D", "E"], wider, 7.0)
    assert [operator["id"] for operator in data["operators"]] == ["B", "C", "D", "E"]
    assert data["operators"][-1] == state.new_operator("E", 7.0)
    again = state.center_from_data(data, clock.callLater, clock.seconds)
    assert again.status()[:5] == [
        "Queue sales",
        "Operator B busy with call 1",
        "Operator C ringing with call 2",
        "Operator E ringing with call 3",  # the first to arrive, as new calls in that order would
        "Queued call 4 (priority 3)",
    ]


@pytest.mark.parametrize(
    "operators, text, conflict",
    [
        (["A", "C", "D"], SALES_SUPPORT, (state.OPERATOR_GONE, "1", None, "B", "busy")),
        (["A", "B", "C", "D"], "[sales]\noperators = A, B, C, D\n", (state.QUEUE_GONE, "2", "support", None, None)),
        (
            ["A", "B", "C", "D"],
            SALES_SUPPORT.replace("operators = C, D", "operators = D"),
            (state.NOT_A_MEMBER, "2", "support", "C", "ringing"),
        ),
    ],
)
def test_a_change_that_would_lose_a_call_is_a_conflict(operators, text, conflict):
    center, clock = sales_and_support()
    with pytest.raises(state.ConflictError) as refused:
        state.reconfigured(state.center_to_data(center), operators, parse_queues(text), clock.seconds())
    found = refused.value
    assert (found.kind, found.call, found.queue, found.operator, found.state) == conflict


def test_the_default_queue_going_away_takes_its_calls_to_the_new_default_queue():
    center, _ = sales_and_support()
    renamed = parse_queues(SALES_SUPPORT.replace("[sales]", "[main]"))
    data = state.reconfigured(state.center_to_data(center), ["A", "B", "C", "D"], renamed, 0.0)
    waiting = [(queue["name"], [entry[0] for entry in queue["waiting"]]) for queue in data["queues"]]
    assert waiting == [("main", ["3", "4"]), ("support", [])]
    assert [call["queue"] for call in data["calls"]] == ["main", "support"]


def test_a_member_that_joined_with_login_keeps_its_call_when_the_queues_change():
    clock = Ticking()
    queues = parse_queues("[sales]\noperators = A\n")
    center = CallCenter(["A"], clock.callLater, 0, now=clock.seconds, queues=queues)
    for command in ("login Z", "call 1", "call 2", "answer Z"):
        center.execute(*command.split(" ", 1))
    wider = parse_queues("[sales]\noperators = A, B\n[support]\noperators = B\n")
    data = state.reconfigured(state.center_to_data(center), ["A", "B", "Z"], wider, clock.seconds())
    again = state.center_from_data(data, clock.callLater, clock.seconds)
    assert again.status() == [
        "Queue sales",
        "Operator A ringing with call 1",
        "Operator B available",
        "Operator Z busy with call 2",
        "Queue support",
        "Operator B available",
    ]
    assert again.dynamic == ["Z"]


def test_a_queue_keeps_its_strategy_memory_while_its_configuration_is_the_same():
    text = "[rr]\noperators = A, B, C\nstrategy = round-robin\n[other]\noperators = A\n"
    clock = Ticking()
    center = CallCenter(["A", "B", "C"], clock.callLater, 0, now=clock.seconds, queues=parse_queues(text))
    center.execute("call", "1")
    center.execute("hangup", "1")  # round-robin offered A last
    data = state.center_to_data(center)
    same = state.reconfigured(data, ["A", "B", "C"], parse_queues(text + "[more]\noperators = B\n"), 0.0)
    assert [queue["memory"] for queue in same["queues"]] == [[0], [None], None]
    changed = state.reconfigured(data, ["A", "B", "C"], parse_queues(text.replace("A, B, C", "C, B, A")), 0.0)
    assert changed["queues"][0]["memory"] is None


# Snapshots of format 1.

V1_ROUTING = {
    "version": 1,
    "presence": {
        "A": {
            "state": "paused",
            "since": 3.0,
            "reason": "lunch",
            "pending": None,
            "pending_reason": None,
            "no_answer": 0,
        },
        "C": {
            "state": "busy",
            "since": 2.0,
            "reason": None,
            "pending": "logged out",
            "pending_reason": None,
            "no_answer": 0,
            "paused_time": {"": 4.0},
            "wrap_up_time": 0.0,
            "logged_out_time": 0.0,
            "joined": 0.0,
        },
    },
    "dynamic": [],
    "priorities": {"5": 2},
    "ringers": {"2": ["B", "D"]},
    "strategy": "ring-all",
    "memory": None,
}


def v1_center(routing=V1_ROUTING):
    clock = Ticking()
    clock.advance(10)
    operators = [("A", "available", None), ("B", "ringing", "2"), ("C", "busy", "1"), ("D", "available", None)]
    stats = {
        "version": 1,
        "figures": dict(state.QueueFigures().to_dict(), received=5, answered=1),
        "operators": {"C": {"answered": 1, "rejected": 0, "ignored": 0, "talk_time": 0.0, "since": 2.0}},
        "received_at": {"1": 1.0, "2": 2.0, "4": 4.0, "5": 5.0},
    }
    settings = {"ring_timeout": 10.0, "strategy": "ring-all"}
    data = state.data_from_v1(operators, ["5", "4"], stats, routing, settings, clock.seconds())
    return state.center_from_data(data, clock.callLater, clock.seconds, settings), clock


def test_a_snapshot_of_format_1_restores_presence_priorities_and_every_ringer():
    center, _ = v1_center()
    assert center.status() == [
        "Operator A paused: lunch",
        "Operator B ringing with call 2",
        "Operator C busy with call 1",
        "Operator D ringing with call 2",
        "Queued call 5 (priority 2)",
        "Queued call 4",
    ]
    assert render(center.execute("hangup", "1")) == ["Call 1 finished and operator C logged out"]
    stats = center.stats()
    assert stats[0] == "Calls received: 5"
    assert "Operator C: paused 0:00:04 (no reason 0:00:04), in wrap-up 0:00:00, logged in 0:00:10" in stats


def test_a_snapshot_of_format_1_whose_paused_operator_holds_a_call_is_refused():
    routing = dict(V1_ROUTING, presence={"B": {"state": "paused", "since": 1.0}})
    with pytest.raises(CallCenterError, match="operator B is paused but holds call 2"):
        v1_center(routing)

"""The core's events (callcenter.core.events): for every command and timer, the events it makes
from a given state (a table of cases), what an event is (immutable plain data), and the
positions they tell."""

import json
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from callcenter.core import events
from callcenter.core.center import CallCenter
from callcenter.core.events import (
    CallAnswered,
    CallFinished,
    CallIgnored,
    CallMissed,
    CallQueued,
    CallReceived,
    CallRefused,
    CallRejected,
    CallRinging,
    CallTimedOut,
    LogoutCalledOff,
    OperatorLevelChanged,
    OperatorLoggedIn,
    OperatorLoggedOut,
    OperatorPaused,
    OperatorUnpaused,
    OperatorWillLogOut,
    OperatorWillPause,
    PauseCalledOff,
    RingCanceled,
    WrapUpEnded,
    WrapUpStarted,
)
from callcenter.core.queues import QueueConfig

D = "default"
SALES_AND_SUPPORT = [QueueConfig("sales", [("A", 0)]), QueueConfig("support", [("B", 0)])]


class Recorder(object):
    def __init__(self):
        self.batches = []

    def heard(self, happened, command):
        self.batches.append((list(happened), command))


def events_of(options, before, step):
    """The events of ``step`` (a command, or seconds to let pass) on a call center (``options``:
    its operators, ring timeout and CallCenter's keywords) that ran ``before`` first; a command's
    are what it returns and what its subscriber heard, the same."""
    options = dict(options)
    operators = options.pop("operators", ["A", "B"])
    ring_timeout = options.pop("ring_timeout", 10)
    clock = Clock()
    center = CallCenter(operators, clock.callLater, ring_timeout, now=clock.seconds, **options)
    recorder = Recorder()
    center.subscribe(recorder)
    for earlier in before:
        if isinstance(earlier, str):
            center.execute(*earlier.split(" ", 1))
        else:
            clock.advance(earlier)
    del recorder.batches[:]
    if isinstance(step, str):
        command, argument = step.split(" ", 1)
        returned = center.execute(command, argument)
        assert recorder.batches == [(returned, command)]
        return returned
    clock.advance(step)
    assert all(command is None for _, command in recorder.batches)
    return [event for happened, _ in recorder.batches for event in happened]


CASES = [
    # (what, options, before, step, events after)
    (
        "a call rings the first available operator",
        {},
        [],
        "call 1",
        [CallReceived(0, "1", D, 0), CallRinging(0, "1", "A", D, 10)],
    ),
    (
        "a call nobody can take waits",
        {},
        ["call 1", "call 2"],
        "call 3",
        [CallReceived(0, "3", D, 0), CallQueued(0, "3", D, True, 0, 1, 1, False)],
    ),
    (
        "a call of higher priority waits ahead",
        {"operators": ["A"]},
        ["call 1", "call 2", "call 3"],
        "call 4 priority=5",
        [CallReceived(0, "4", D, 5), CallQueued(0, "4", D, True, 5, 1, 3, False)],
    ),
    (
        "a call that finds the queue full is refused",
        {"operators": ["A"], "max_queue": 1},
        ["call 1", "call 2"],
        "call 3",
        [CallReceived(0, "3", D, 0), CallRefused(0, "3", D, True, 1)],
    ),
    (
        "ring-all rings every available operator",
        {"operators": ["A", "B", "C"], "strategy": "ring-all"},
        [],
        "call 1",
        [
            CallReceived(0, "1", D, 0),
            CallRinging(0, "1", "A", D, 10),
            CallRinging(0, "1", "B", D, 10),
            CallRinging(0, "1", "C", D, 10),
        ],
    ),
    (
        "a call into a queue rings that queue's operator",
        {"queues": SALES_AND_SUPPORT},
        [],
        "call 1 queue=support",
        [CallReceived(0, "1", "support", 0), CallRinging(0, "1", "B", "support", 10)],
    ),
    (
        "a call waiting in another queue names it",
        {"queues": SALES_AND_SUPPORT},
        ["call 1 queue=support"],
        "call 2 queue=support",
        [CallReceived(0, "2", "support", 0), CallQueued(0, "2", "support", False, 0, 1, 1, False)],
    ),
    (
        "an answer tells the wait and the ring",
        {},
        ["call 1", 3],
        "answer A",
        [CallAnswered(3, "1", "A", D, 3.0, 3.0)],
    ),
    (
        "the ring time is the last ring's",
        {},
        ["call 1", 2, "reject A", 3],
        "answer B",
        [CallAnswered(5, "1", "B", D, 5.0, 3.0)],
    ),
    (
        "ring-all: the first answer ends the other rings, and the freed operator takes the queue",
        {"strategy": "ring-all"},
        ["call 1", "call 2", 2],
        "answer A",
        [
            CallAnswered(2, "1", "A", D, 2.0, 2.0),
            RingCanceled(2, "1", "B", D, 2.0, events.ANSWERED_ELSEWHERE),
            CallRinging(2, "2", "B", D, 10),
        ],
    ),
    (
        "a rejected call goes round to the next available operator",
        {"operators": ["A", "B", "C"]},
        ["call 1", 1],
        "reject A",
        [CallRejected(1, "1", "A", D, 1.0), CallRinging(1, "1", "B", D, 10)],
    ),
    (
        "a rejected call rings the same operator when it is the only one available",
        {"operators": ["A"]},
        ["call 1"],
        "reject A",
        [CallRejected(0, "1", "A", D, 0.0), CallRinging(0, "1", "A", D, 10)],
    ),
    (
        "a waiting call hung up is missed where it waited",
        {"operators": ["A"]},
        ["call 1", "call 2", "call 3", 4],
        "hangup 3",
        [CallMissed(4, "3", D, 4.0, 2, 2)],
    ),
    (
        "a ringing call hung up is missed and its ring canceled; the operator takes the queue",
        {"operators": ["A"]},
        ["call 1", "call 2", 2],
        "hangup 1",
        [
            CallMissed(2, "1", D, 2.0, None, None),
            RingCanceled(2, "1", "A", D, 2.0, events.HUNG_UP),
            CallRinging(2, "2", "A", D, 10),
        ],
    ),
    (
        "an answered call finishes with its wait and talk",
        {"operators": ["A"]},
        ["call 1", 1, "answer A", 60],
        "hangup 1",
        [CallFinished(61, "1", "A", D, 1.0, 60.0, events.CALLER, events.THEN_AVAILABLE)],
    ),
    (
        "with wrap-up the operator is in wrap-up after the call",
        {"operators": ["A"], "wrap_up": 5},
        ["call 1", "answer A", 60],
        "hangup 1",
        [
            CallFinished(60, "1", "A", D, 0.0, 60.0, events.CALLER, events.THEN_WRAP_UP),
            WrapUpStarted(60, "A", "1", 5.0),
        ],
    ),
    (
        "a pending pause takes effect after the call",
        {"operators": ["A"]},
        ["call 1", "answer A", "pause A lunch", 30],
        "hangup 1",
        [
            CallFinished(30, "1", "A", D, 0.0, 30.0, events.CALLER, events.THEN_PAUSED),
            OperatorPaused(30, "A", "lunch", "1"),
        ],
    ),
    (
        "a pending logout takes effect after the call",
        {"operators": ["A"]},
        ["call 1", "answer A", "logout A"],
        "hangup 1",
        [
            CallFinished(0, "1", "A", D, 0.0, 0.0, events.CALLER, events.THEN_LOGGED_OUT),
            OperatorLoggedOut(0, "A", "1"),
        ],
    ),
    (
        "the operator ends its call: finished by the operator, then as after a caller's hangup",
        {"operators": ["A"]},
        ["call 1", "call 2", 1, "answer A", 60],
        "finish A",
        [
            CallFinished(61, "1", "A", D, 1.0, 60.0, events.OPERATOR, events.THEN_AVAILABLE),
            CallRinging(61, "2", "A", D, 10),
        ],
    ),
    (
        "the operator ends its call into its wrap-up",
        {"operators": ["A"], "wrap_up": 5},
        ["call 1", "answer A", 60],
        "finish A",
        [
            CallFinished(60, "1", "A", D, 0.0, 60.0, events.OPERATOR, events.THEN_WRAP_UP),
            WrapUpStarted(60, "A", "1", 5.0),
        ],
    ),
    (
        "the operator ends its call into its pending pause",
        {"operators": ["A"]},
        ["call 1", "answer A", "pause A lunch", 30],
        "finish A",
        [
            CallFinished(30, "1", "A", D, 0.0, 30.0, events.OPERATOR, events.THEN_PAUSED),
            OperatorPaused(30, "A", "lunch", "1"),
        ],
    ),
    ("a level changes in the default queue", {}, [], "level A 2", [OperatorLevelChanged(0, "A", D, True, 2, 0)]),
    (
        "a level changes in every queue of the operator without a queue",
        {"operators": ["A", "B"], "queues": [QueueConfig("sales", [("A", 0)]), QueueConfig("support", [("A", 3)])]},
        [],
        "level A 3",
        [OperatorLevelChanged(0, "A", "sales", True, 3, 0)],
    ),
    (
        "a level changes in the queue named",
        {"queues": SALES_AND_SUPPORT},
        [],
        "level B 1 queue=support",
        [OperatorLevelChanged(0, "B", "support", False, 1, 0)],
    ),
    ("an available operator pauses", {}, [], "pause A", [OperatorPaused(0, "A", None, None)]),
    (
        "a ringing operator pauses: the call rings the next one",
        {},
        ["call 1", 1],
        "pause A",
        [
            OperatorPaused(1, "A", None, None),
            RingCanceled(1, "1", "A", D, 1.0, events.PAUSED_WHILE_RINGING),
            CallRinging(1, "1", "B", D, 10),
        ],
    ),
    (
        "a ringing operator pauses and nobody else is available: the call waits at the head",
        {"operators": ["A"]},
        ["call 1", "call 2"],
        "pause A",
        [
            OperatorPaused(0, "A", None, None),
            RingCanceled(0, "1", "A", D, 0.0, events.PAUSED_WHILE_RINGING),
            CallQueued(0, "1", D, True, 0, 1, 2, True),
        ],
    ),
    (
        "a busy operator will pause after its call",
        {"operators": ["A"]},
        ["call 1", "answer A"],
        "pause A lunch",
        [OperatorWillPause(0, "A", "1", "lunch")],
    ),
    (
        "an unpaused operator takes the head of the queue",
        {"operators": ["A"]},
        ["pause A", "call 1"],
        "unpause A",
        [OperatorUnpaused(0, "A"), CallRinging(0, "1", "A", D, 10)],
    ),
    (
        "unpause calls a pending pause off",
        {"operators": ["A"]},
        ["call 1", "answer A", "pause A"],
        "unpause A",
        [PauseCalledOff(0, "A", "1")],
    ),
    ("an available operator logs out", {}, [], "logout A", [OperatorLoggedOut(0, "A", None)]),
    (
        "a busy operator will log out after its call",
        {"operators": ["A"]},
        ["call 1", "answer A"],
        "logout A",
        [OperatorWillLogOut(0, "A", "1")],
    ),
    ("a logged-out operator logs in", {}, ["logout A"], "login A", [OperatorLoggedIn(0, "A", None)]),
    ("a new operator joins the default queue", {}, [], "login Q", [OperatorLoggedIn(0, "Q", D)]),
    (
        "login calls a pending logout off",
        {"operators": ["A"]},
        ["call 1", "answer A", "logout A"],
        "login A",
        [LogoutCalledOff(0, "A", "1")],
    ),
    (
        "a pause ends a wrap-up",
        {"operators": ["A"], "wrap_up": 5},
        ["call 1", "answer A", "hangup 1"],
        "pause A",
        [OperatorPaused(0, "A", None, None)],
    ),
    # The timers.
    (
        "a ring timeout: the call rings the next operator",
        {},
        ["call 1"],
        10,
        [CallIgnored(10, "1", "A", D, 10.0), CallRinging(10, "1", "B", D, 10)],
    ),
    (
        "ring timeouts in a row pause the operator, and the call waits at the head",
        {"operators": ["A"], "max_no_answer": 1},
        ["call 1"],
        10,
        [
            CallIgnored(10, "1", "A", D, 10.0),
            OperatorPaused(10, "A", "no answer", None),
            CallQueued(10, "1", D, True, 0, 1, 1, True),
        ],
    ),
    (
        "the end of a wrap-up: the operator takes the head of the queue",
        {"operators": ["A"], "wrap_up": 5},
        ["call 1", "answer A", "call 2", "hangup 1"],
        5,
        [WrapUpEnded(5, "A", 5.0), CallRinging(5, "2", "A", D, 10)],
    ),
    (
        "a call that waited its queue's maximum leaves it",
        {"operators": ["A"], "ring_timeout": 0, "max_wait": 12},
        ["call 1", "call 2", 5, "call 3"],
        7,
        [CallTimedOut(12, "2", D, True, 12.0, 1, 1)],
    ),
    (
        "a call that comes back to the queue past its maximum wait leaves at once",
        {"operators": ["A"], "ring_timeout": 0, "max_wait": 12},
        ["call 1", 13],
        "pause A",
        [
            OperatorPaused(13, "A", None, None),
            RingCanceled(13, "1", "A", D, 13.0, events.PAUSED_WHILE_RINGING),
            CallTimedOut(13, "1", D, True, 13.0, None, None),
        ],
    ),
]


@pytest.mark.parametrize(
    "options, before, step, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_each_command_and_timer_makes_its_events(options, before, step, expected):
    assert events_of(options, before, step) == expected


def test_the_table_has_every_kind_of_event_of_the_core():
    seen = {type(event) for case in CASES for event in case[-1]}
    assert seen == set(events.CALL_EVENTS + events.OPERATOR_EVENTS)


@pytest.mark.parametrize("kind", sorted(events.EVENTS.values(), key=lambda kind: kind.__name__))
def test_an_event_is_immutable_plain_data_with_a_docstring(kind):
    values = [float(n) if field == "at" else "x%d" % n for n, field in enumerate(kind.fields)]
    event = kind(*values)
    assert kind.fields[0] == "at" and event.values() == tuple(values)
    assert kind.__doc__ and len(kind.__doc__.split()) > 5
    assert not hasattr(event, "__dict__")  # __slots__ all the way
    for field in kind.fields:
        with pytest.raises(AttributeError):
            setattr(event, field, "changed")
    assert json.loads(json.dumps(event.to_dict())) == dict(zip(("event", *kind.fields), (kind.__name__, *values)))
    assert event == kind(*values) and hash(event) == hash(kind(*values)) and event != kind(*values[:-1], "other")
    assert repr(event).startswith(kind.__name__ + "(at=0.0")


# Positions: where a call waits, in offer order, as it joins and as it leaves from anywhere.


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["call", "hangup", "free"]), st.integers(0, 30), st.sampled_from([0, 0, 3, 7])),
        max_size=120,
    )
)
def test_the_positions_events_tell_are_the_places_in_the_queue(steps):
    clock = Clock()
    center = CallCenter(["A"], clock.callLater, 0, now=clock.seconds)
    center.execute("call", "busy")
    center.execute("answer", "A")
    first_positions = {}
    for action, number, priority in steps:
        call_id = str(number)
        queue = list(center.queue)
        if action == "call" and call_id not in center.calls:
            _, queued = center.call(call_id, priority)
            assert queued.position == list(center.queue).index(call_id) + 1 and queued.waiting == len(queue) + 1
            first_positions[call_id] = queued.position
        elif action == "hangup" and call_id in queue:
            (missed,) = center.hangup(call_id)
            assert missed.position == queue.index(call_id) + 1
            assert missed.original_position == first_positions[call_id]
        elif action == "free" and queue:
            # The busy call ends: the head rings A, who answers it; the next call keeps A busy.
            _, ringing = center.hangup(center.operators[0].call.id)
            assert ringing.call == queue[0]
            center.answer("A")
    assert list(center.queue) == [call.id for call in center.queue.calls()]


def test_the_protocol_document_lists_every_event_with_its_fields():
    path = os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs", "protocol.md"
    )
    with open(path, encoding="utf-8") as document:
        rows = re.findall(r"^\| `(\w+)` \| ?([^|]*) \|", document.read(), re.MULTILINE)
    listed = {name: re.findall(r"`(\w+)`", fields) for name, fields in rows if name in events.EVENTS}
    assert listed == {name: list(kind.fields[1:]) for name, kind in events.EVENTS.items()}

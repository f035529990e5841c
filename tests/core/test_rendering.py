"""The renderer (callcenter.core.rendering): every event gives today's line, and for random command
sequences the rendered events are, line for line, what the core printed before it had events (a
frozen copy of that core, old_center.py)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from old_center import CallCenter as OldCallCenter
from old_center import CallCenterError as OldCallCenterError
from twisted.internet.task import Clock

from callcenter.core import events
from callcenter.core.center import CallCenter, CallCenterError
from callcenter.core.queues import QueueConfig
from callcenter.core.rendering import LINES, line_of, render, text_of
from callcenter.core.strategies import STRATEGIES

# One of each event, and the line it prints (None: another line tells it).
EXAMPLES = [
    (events.CallReceived(1.0, "7", "default", 0), "Call 7 received"),
    (events.CallRefused(1.0, "7", "default", True, 2), "Call 7 refused: queue full"),
    (events.CallRefused(1.0, "7", "sales", False, 2), "Call 7 refused: queue sales full"),
    (events.CallQueued(1.0, "7", "default", True, 0, 1, 1, False), "Call 7 waiting in queue"),
    (events.CallQueued(1.0, "7", "support", False, 3, 1, 4, True), "Call 7 waiting in queue support"),
    (events.CallRinging(1.0, "7", "A", "default", 10.0), "Call 7 ringing for operator A"),
    (events.CallAnswered(1.0, "7", "A", "default", 5.0, 2.0), "Call 7 answered by operator A"),
    (events.CallRejected(1.0, "7", "A", "default", 2.0), "Call 7 rejected by operator A"),
    (events.CallIgnored(1.0, "7", "A", "default", 10.0), "Call 7 ignored by operator A"),
    (events.RingCanceled(1.0, "7", "B", "default", 2.0, events.ANSWERED_ELSEWHERE), None),
    (events.CallMissed(1.0, "7", "default", 3.0, 2, 2), "Call 7 missed"),
    (events.CallTimedOut(1.0, "7", "default", True, 12.0, 1, 1), "Call 7 timed out in queue"),
    (events.CallTimedOut(1.0, "7", "support", False, 12.0, None, None), "Call 7 timed out in queue support"),
    (
        events.CallFinished(1.0, "7", "A", "default", 5.0, 60.0, events.CALLER, events.THEN_AVAILABLE),
        "Call 7 finished and operator A available",
    ),
    (
        events.CallFinished(1.0, "7", "A", "default", 5.0, 60.0, events.CALLER, events.THEN_WRAP_UP),
        "Call 7 finished and operator A in wrap-up",
    ),
    (
        events.CallFinished(1.0, "7", "A", "default", 5.0, 60.0, events.CALLER, events.THEN_PAUSED),
        "Call 7 finished and operator A paused",
    ),
    (
        events.CallFinished(1.0, "7", "A", "default", 5.0, 60.0, events.CALLER, events.THEN_LOGGED_OUT),
        "Call 7 finished and operator A logged out",
    ),
    (
        events.CallFinished(1.0, "7", "A", "default", 5.0, 60.0, events.OPERATOR, events.THEN_AVAILABLE),
        "Call 7 finished by operator A, now available",
    ),
    (
        events.CallFinished(1.0, "7", "A", "default", 5.0, 60.0, events.OPERATOR, events.THEN_WRAP_UP),
        "Call 7 finished by operator A, now in wrap-up",
    ),
    (
        events.CallFinished(1.0, "7", "A", "default", 5.0, 60.0, events.OPERATOR, events.THEN_PAUSED),
        "Call 7 finished by operator A, now paused",
    ),
    (
        events.CallFinished(1.0, "7", "A", "default", 5.0, 60.0, events.OPERATOR, events.THEN_LOGGED_OUT),
        "Call 7 finished by operator A, now logged out",
    ),
    (events.OperatorLevelChanged(1.0, "A", "default", True, 2, 0), "Operator A at level 2"),
    (events.OperatorLevelChanged(1.0, "A", "sales", False, 0, 5), "Operator A at level 0 in queue sales"),
    (events.OperatorPaused(1.0, "A", None, None), "Operator A paused"),
    (events.OperatorPaused(1.0, "A", "lunch break", None), "Operator A paused: lunch break"),
    (events.OperatorPaused(1.0, "A", "no answer", None), "Operator A paused: no answer"),
    (events.OperatorPaused(1.0, "A", "lunch", "7"), None),
    (events.OperatorUnpaused(1.0, "A"), "Operator A available"),
    (events.OperatorLoggedOut(1.0, "A", None), "Operator A logged out"),
    (events.OperatorLoggedOut(1.0, "A", "7"), None),
    (events.OperatorLoggedIn(1.0, "A", None), "Operator A available"),
    (events.OperatorLoggedIn(1.0, "Q", "default"), "Operator Q available"),
    (events.OperatorWillPause(1.0, "A", "7", "lunch"), "Operator A will pause after call 7"),
    (events.OperatorWillLogOut(1.0, "A", "7"), "Operator A will log out after call 7"),
    (events.PauseCalledOff(1.0, "A", "7"), "Operator A busy with call 7"),
    (events.LogoutCalledOff(1.0, "A", "7"), "Operator A busy with call 7"),
    (events.WrapUpStarted(1.0, "A", "7", 5.0), None),
    (events.WrapUpEnded(1.0, "A", 5.0), "Operator A available"),
    (
        events.ChangesRefused(1.0, "no space left", "/var/lib/callcenter"),
        "The call center cannot store changes: no space left in /var/lib/callcenter; status and stats still work",
    ),
    (events.ChangesAccepted(1.0), "The call center stores changes again"),
]


@pytest.mark.parametrize("event, line", EXAMPLES, ids=[type(event).__name__ for event, _ in EXAMPLES])
def test_each_event_renders_as_todays_line(event, line):
    assert line_of(event) == line
    assert render([event]) == ([] if line is None else [line])


def test_every_event_class_has_an_example_and_a_line():
    assert {type(event) for event, _ in EXAMPLES} == set(events.EVENTS.values()) == set(LINES)


def test_rendering_keeps_the_order_and_leaves_out_what_another_line_told():
    happened = [
        events.CallFinished(1.0, "7", "A", "default", 1.0, 2.0, events.CALLER, events.THEN_PAUSED),
        events.OperatorPaused(1.0, "A", "lunch", "7"),
        events.CallRinging(1.0, "8", "B", "default", 0.0),
    ]
    assert render(happened) == ["Call 7 finished and operator A paused", "Call 8 ringing for operator B"]


@pytest.mark.parametrize("first", [event for event, _ in EXAMPLES], ids=[type(event).__name__ for event, _ in EXAMPLES])
def test_a_replys_text_is_its_lines_joined(first):
    """``text_of``, which words one or two events without a list, says what ``render`` does."""
    for count in (0, 1, 2, 3):
        for second, _ in EXAMPLES:
            happened = ([first, second, first] if count == 3 else [first, second])[:count]
            assert text_of(happened) == "\n".join(render(happened))


# The property: random sessions on the frozen old core and on this one print the same lines.

CALL_IDS = ["1", "2", "3", "4", "5"]
OPERATOR_IDS = ["A", "B", "C", "D"]
QUEUE_NAMES = ["first", "second"]


@st.composite
def settings_of_a_center(draw):
    """The operators and the options of a call center: one queue or two, any strategy and limits."""
    operators = OPERATOR_IDS[: draw(st.integers(1, 3))]
    options = {
        "ring_timeout": draw(st.sampled_from([0, 10])),
        "wrap_up": draw(st.sampled_from([0, 5])),
        "max_no_answer": draw(st.sampled_from([0, 0, 1, 2])),
        "seed": 1,
    }
    if draw(st.booleans()):
        members = st.lists(
            st.tuples(st.sampled_from(operators), st.sampled_from([0, 0, 1])), min_size=1, unique_by=lambda m: m[0]
        )
        options["queues"] = [
            QueueConfig(
                name,
                draw(members),
                draw(st.sampled_from(STRATEGIES)),
                draw(st.sampled_from([0, 0, 2])),
                draw(st.sampled_from([0, 0, 12])),
                draw(st.sampled_from([0, 1])),
            )
            for name in QUEUE_NAMES
        ]
    else:
        options["strategy"] = draw(st.sampled_from(STRATEGIES))
        options["max_queue"] = draw(st.sampled_from([0, 0, 2]))
        options["max_wait"] = draw(st.sampled_from([0, 0, 12]))
    return operators, options


def next_step(data, center):
    """A step drawn from what the center is now: mostly commands that apply (a ringing operator
    answers, a call in progress hangs up), some that do not, and time passing."""
    operator_ids = [operator.id for operator in center.operators]
    ringing = [
        operator.id for operator in center.operators if operator.call is not None and operator.state == "ringing"
    ]
    calls = sorted(center.calls)
    kind = data.draw(
        st.sampled_from(["call", "call", "answer", "answer", "reject", "hangup", "hangup", "presence", "time", "time"])
    )
    if kind == "time":
        return data.draw(st.sampled_from([1, 2, 5, 10, 12]))
    if kind == "call":
        words = [data.draw(st.sampled_from(CALL_IDS))]
        priority = data.draw(st.sampled_from([0, 0, 3, 9]))
        if priority:
            words.append("priority=%d" % priority)
        if len(center.queues) > 1:
            queue = data.draw(st.sampled_from([None, *QUEUE_NAMES]))
            if queue is not None:
                words.append("queue=" + queue)
        return "call", " ".join(words)
    if kind in ("answer", "reject"):
        return kind, data.draw(st.sampled_from(ringing or operator_ids))
    if kind == "hangup":
        return kind, data.draw(st.sampled_from(calls or CALL_IDS))
    command = data.draw(st.sampled_from(["pause", "pause", "unpause", "unpause", "logout", "login", "login"]))
    operator_id = data.draw(st.sampled_from([*operator_ids, "D", "Z"]))  # D may log in; Z never does
    if command == "pause":
        operator_id += data.draw(st.sampled_from(["", " lunch"]))
    return command, operator_id


class TimerBatches(object):
    def __init__(self):
        self.batches = []

    def heard(self, happened, command):
        if command is None:
            self.batches.append(render(happened))


def said(center, command, argument, words=lambda said: said):
    """What ``command`` printed (through ``words``), or its error."""
    try:
        return words(center.execute(command, argument))
    except (CallCenterError, OldCallCenterError) as error:
        return "error: %s" % error


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(settings_of_a_center(), st.data())
def test_the_rendered_events_are_the_lines_the_old_core_printed(center_settings, data):
    operators, options = center_settings
    old_clock, new_clock = Clock(), Clock()
    old_events = []
    old = OldCallCenter(operators, old_clock.callLater, now=old_clock.seconds, on_event=old_events.append, **options)
    new = CallCenter(operators, new_clock.callLater, now=new_clock.seconds, **options)
    timers = TimerBatches()
    new.subscribe(timers)
    for _ in range(STEPS):
        step = next_step(data, new)
        if isinstance(step, int):
            old_clock.advance(step)
            new_clock.advance(step)
            assert timers.batches == old_events
            del timers.batches[:], old_events[:]
        else:
            command, argument = step
            assert said(new, command, argument, render) == said(old, command, argument)
            assert timers.batches == old_events == []


STEPS = 100  # long enough that the sessions, together, reach every kind of event

"""The event bus (callcenter.core.bus) as a call center's subscribers meet it: every event, in
order, each once, after the change; a subscriber that raises is reported once and stops
nothing."""

from twisted.internet.task import Clock
from zope.interface import implementer
from zope.interface.verify import verifyObject

from callcenter.core.bus import EventBus
from callcenter.core.center import CallCenter
from callcenter.core.events import CallAnswered, CallReceived, CallRinging
from callcenter.interfaces import IEventSubscriber


@implementer(IEventSubscriber)
class Recorder(object):
    def __init__(self, center=None):
        self.center = center
        self.heard_events = []
        self.states = []  # A's state when each batch was heard

    def heard(self, events, command):
        self.heard_events.extend((event, command) for event in events)
        if self.center is not None:
            self.states.append(self.center.operators[0].state)


class Failing(object):
    def __init__(self):
        self.calls = 0

    def heard(self, events, command):
        self.calls += 1
        raise ValueError("a subscriber's bug")


def test_every_subscriber_hears_every_event_in_order_once_after_the_change():
    clock = Clock()
    center = CallCenter(["A"], clock.callLater, 10, now=clock.seconds)
    first, second = Recorder(center), Recorder(center)
    assert verifyObject(IEventSubscriber, first)
    center.subscribe(first)
    center.subscribe(second)
    center.subscribe(first)  # once is enough
    told = []
    for command, argument in [("call", "1"), ("call", "2"), ("answer", "A"), ("hangup", "1")]:
        told.extend((event, command) for event in center.execute(command, argument))
    clock.advance(10)  # call 2 rings A: its ring times out, and it rings A again
    timer = [event for event, command in first.heard_events if command is None]
    assert [type(event).__name__ for event in timer] == ["CallIgnored", "CallRinging"]
    assert first.heard_events == second.heard_events == told + [(event, None) for event in timer]
    assert all(a is b for (a, _), (b, _) in zip(first.heard_events, second.heard_events))  # the same objects
    assert first.states == ["ringing", "ringing", "busy", "ringing", "ringing"]  # heard after each change
    center.unsubscribe(second)
    center.execute("answer", "A")
    assert len(first.heard_events) == len(second.heard_events) + 1


def test_a_subscriber_that_raises_is_reported_once_and_stops_neither_the_others_nor_the_command():
    reports = []
    center = CallCenter(
        ["A"], Clock().callLater, 10, report=lambda subscriber, error: reports.append((subscriber, error))
    )
    failing, recorder = Failing(), Recorder()
    center.subscribe(failing)
    center.subscribe(recorder)
    assert [type(event) for event in center.execute("call", "1")] == [CallReceived, CallRinging]
    assert [type(event) for event in center.execute("answer", "A")] == [CallAnswered]
    assert failing.calls == 2  # told still
    assert [type(event) for event, _ in recorder.heard_events] == [CallReceived, CallRinging, CallAnswered]
    ((subscriber, error),) = reports
    assert subscriber is failing and str(error) == "a subscriber's bug"
    assert center.operators[0].state == "busy"


def test_a_failing_report_stops_nothing_either():
    def report(subscriber, error):
        raise RuntimeError("the log is gone")

    bus = EventBus(report)
    bus.subscribe(Failing())
    recorder = Recorder()
    bus.subscribe(recorder)
    bus.publish(["an event"], "call")
    assert recorder.heard_events == [("an event", "call")]


def test_the_default_report_is_the_standard_logging(caplog):
    bus = EventBus()
    bus.subscribe(Failing())
    bus.publish(["an event"], None)
    bus.publish(["another"], None)
    (record,) = caplog.records
    assert record.levelname == "ERROR" and "An event subscriber failed" in record.getMessage()


def test_events_of_a_command_a_subscriber_runs_come_after_the_events_being_told():
    center = CallCenter(["A"], Clock().callLater, 10)

    class Answering(object):
        def heard(self, events, command):
            for event in events:
                if isinstance(event, CallRinging):
                    center.answer(event.operator)  # the simulator's operators answer at once

    later = Recorder()
    center.subscribe(Answering())
    center.subscribe(later)
    center.execute("call", "1")
    assert [(type(event), command) for event, command in later.heard_events] == [
        (CallReceived, "call"),
        (CallRinging, "call"),
        (CallAnswered, "answer"),
    ]


def test_a_subscriber_may_hear_only_what_no_command_caused():
    clock = Clock()
    center = CallCenter(["A"], clock.callLater, 10, now=clock.seconds)
    timers, everything = Recorder(), Recorder()
    center.subscribe(timers, commands=False)  # as the server's factory: a command's events are its reply
    assert not center.bus.hears_commands
    center.execute("call", "1")
    clock.advance(10)
    assert [(type(event).__name__, command) for event, command in timers.heard_events] == [
        ("CallIgnored", None),
        ("CallRinging", None),
    ]
    center.subscribe(everything)
    center.execute("answer", "A")
    assert len(timers.heard_events) == 2 and [command for _, command in everything.heard_events] == ["answer"]
    center.unsubscribe(everything)
    assert not center.bus.hears_commands

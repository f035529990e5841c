"""The server's timers (one reactor call for a heap of them) against the reactor's own calls,
on task.Clock: the same calls at the same times in the same order, and the core alike."""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import task
from twisted.internet.interfaces import IDelayedCall
from zope.interface.verify import verifyObject

from callcenter.core.center import CallCenter, CallCenterError
from callcenter.core.rendering import render
from callcenter.sim.heapclock import SWEEP_AT
from callcenter.wiring.timers import ReactorTimers
from support import check_delayed_call_changes, delayed_call_scripts, play_delayed_calls


def timers_on(clock):
    return ReactorTimers(clock.callLater, clock.seconds)


def test_a_timer_is_a_delayed_call_and_the_reactor_holds_one_call_for_all():
    clock = task.Clock()
    timers, ran = timers_on(clock), []
    verifyObject(IDelayedCall, timers.call_later(5, ran.append, "five"))
    for name in "abc":
        timers.call_later(7, ran.append, name)
    assert [call.getTime() for call in clock.getDelayedCalls()] == [5]
    timers.call_later(2, ran.append, "two")  # sooner: the reactor's call moves to it
    assert [call.getTime() for call in clock.getDelayedCalls()] == [2]
    clock.advance(2)
    assert ran == ["two"] and [call.getTime() for call in clock.getDelayedCalls()] == [5]
    clock.advance(5)
    assert ran == ["two", "five", "a", "b", "c"]
    assert clock.getDelayedCalls() == [] and timers.pending() == 0


def test_cancel_reset_and_delay_behave_as_twisted_says():
    clock = task.Clock()
    timers = timers_on(clock)
    check_delayed_call_changes(timers.call_later, clock.advance)
    assert timers.pending() == 0 and clock.getDelayedCalls() == []


def test_a_timer_that_raises_is_logged_and_the_others_still_run(twisted_log):
    clock = task.Clock()
    timers, ran = timers_on(clock), []
    timers.call_later(1, ran.append, "before")
    timers.call_later(1, lambda: 1 / 0)
    timers.call_later(1, ran.append, "after")
    timers.call_later(2, ran.append, "later")
    clock.advance(1)
    assert ran == ["before", "after"]
    assert any("Unhandled error in a timer" in line for line in twisted_log)
    clock.advance(1)
    assert ran == ["before", "after", "later"]


def test_a_timer_cancelled_or_made_by_one_that_runs_before_it():
    clock = task.Clock()
    timers, ran = timers_on(clock), []
    later = []
    timers.call_later(1, lambda: later[0].cancel())
    later.append(timers.call_later(1, ran.append, "cancelled by the one before"))
    timers.call_later(0.5, lambda: timers.call_later(0, ran.append, "made at 0.5"))
    timers.call_later(1, lambda: (ran.append("first"), timers.call_later(0, ran.append, "made at 1")))
    timers.call_later(1, ran.append, "last due at 1")
    clock.advance(0.5)
    assert ran == ["made at 0.5"]
    clock.advance(0.5)
    assert ran == ["made at 0.5", "first", "last due at 1", "made at 1"]
    assert not later[0].active() and timers.pending() == 0 and clock.getDelayedCalls() == []


def test_cancelled_entries_are_swept_and_memory_stays_flat():
    clock = task.Clock()
    timers = timers_on(clock)
    keep = timers.call_later(10**6, lambda: None)
    for _ in range(20 * SWEEP_AT):
        timers.call_later(100, lambda: None).cancel()
        clock.advance(0.001)
    assert len(timers._heap) < 3 * SWEEP_AT
    assert timers.pending() == 1 and keep.active()
    assert len(clock.getDelayedCalls()) == 1


@settings(max_examples=300, deadline=None)
@given(delayed_call_scripts(0))
def test_the_same_script_gives_what_the_reactors_own_calls_give(script):
    """The same calls at the same times, and, among calls due at the same time, the same order
    unless one was reset or delayed (task.Clock orders those by where its last sort left them)."""
    clock = task.Clock()
    expected_log, expected_pending, expected_active = play_delayed_calls(clock, clock.callLater, script)
    clock = task.Clock()
    log, pending, active = play_delayed_calls(clock, timers_on(clock).call_later, script)
    if any(action[0] in ("reset", "delay") for action in script):
        assert sorted(log) == sorted(expected_log)
    else:
        assert log == expected_log
    assert (pending, active) == (expected_pending, expected_active)


# The core on either: commands and the passing of time, the same lines and the same deadlines.
core_steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["call", "hangup"]), st.sampled_from(["1", "2", "3", "4"])),
        st.tuples(st.sampled_from(["answer", "reject", "pause", "unpause"]), st.sampled_from(["A", "B"])),
        st.tuples(st.just("advance"), st.integers(1, 12)),
    ),
    max_size=40,
)


class Lines(object):
    """The lines of the events no command caused (a ring timeout, a wrap-up's end)."""

    def __init__(self, lines):
        self.lines = lines

    def heard(self, events, command):
        self.lines.extend(render(events))


def run_core(clock, call_later, steps):
    center = CallCenter(["A", "B"], call_later, 10, now=clock.seconds, wrap_up=3, max_wait=15)
    lines = []
    center.subscribe(Lines(lines), commands=False)
    for step in steps:
        if step[0] == "advance":
            clock.advance(step[1])
            continue
        try:
            lines.extend(render(center.execute(step[0], step[1])))
        except CallCenterError as error:
            lines.append("error: %s" % error)
        lines.append(
            "deadlines %r"
            % sorted(operator.timer.getTime() for operator in center.operators if operator.timer is not None)
        )
    clock.advance(100)
    return lines


@settings(max_examples=200, deadline=None)
@given(core_steps)
def test_the_core_on_these_timers_tells_what_it_tells_on_the_reactors_calls(steps):
    clock = task.Clock()
    expected = run_core(clock, clock.callLater, steps)
    clock = task.Clock()
    assert run_core(clock, timers_on(clock).call_later, steps) == expected


def test_the_server_without_a_journal_hands_its_core_these_timers():
    from callcenter.wiring.options import ServerOptions
    from callcenter.wiring.server import make_core

    options = ServerOptions()
    options.parseOptions(["--operators", "A,B", "--ring-timeout", "10"])
    clock = task.Clock()
    core = make_core(options, clock, None)
    lines = []
    core.subscribe(Lines(lines), commands=False)
    core.execute("call", "1")
    clock.advance(1)
    core.execute("call", "2")
    assert [call.getTime() for call in clock.getDelayedCalls()] == [10]  # one reactor call for both rings
    clock.advance(9)
    assert lines == ["Call 1 ignored by operator A", "Call 1 ringing for operator A"]
    assert [call.getTime() for call in clock.getDelayedCalls()] == [
        11
    ]  # call 2's ring; call 1's new one waits behind it

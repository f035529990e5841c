"""The heap clock against task.Clock: the same calls at the same times in the same order."""

from hypothesis import given, settings
from twisted.internet import task
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from zope.interface.verify import verifyObject

from callcenter.sim.heapclock import SWEEP_AT, HeapClock
from support import check_delayed_call_changes, delayed_call_scripts, play_delayed_calls


def test_it_provides_reactor_time():
    clock = HeapClock()
    verifyObject(IReactorTime, clock)
    verifyObject(IDelayedCall, clock.callLater(1, lambda: None))


def test_equal_times_run_first_scheduled_first():
    clock, ran = HeapClock(), []
    for name in "abc":
        clock.callLater(2, ran.append, name)
    clock.callLater(1, ran.append, "first")
    clock.advance(2)
    assert ran == ["first", "a", "b", "c"]


def test_each_call_sees_its_own_time_and_calls_it_schedules_run_in_the_same_advance():
    clock, seen = HeapClock(), []

    def tick(label):
        seen.append((label, clock.seconds()))
        if label == "one":
            clock.callLater(1.5, tick, "later")

    clock.callLater(1, tick, "one")
    clock.advance(10)
    assert seen == [("one", 1.0), ("later", 2.5)]
    assert clock.seconds() == 10


def test_cancel_reset_and_delay_behave_as_twisted_says():
    clock = HeapClock()
    check_delayed_call_changes(clock.callLater, clock.advance)
    assert clock.getDelayedCalls() == []


def test_stale_entries_are_swept_and_memory_stays_flat():
    clock = HeapClock()
    keep = clock.callLater(10**6, lambda: None)
    for _ in range(20 * SWEEP_AT):
        clock.callLater(100, lambda: None).cancel()
        clock.schedule(clock.now + 0.001, lambda _: None, None)
        clock.advance(0.001)
    assert len(clock.heap) < 3 * SWEEP_AT
    assert clock.getDelayedCalls() == [keep]


def play_on(clock, script):
    # Delays of 1 s at least in the scripts (only callbacks schedule for "now"): task.Clock's
    # seconds() stands at a step's end, where each call that comes due is due.
    return play_delayed_calls(clock, clock.callLater, script)


def test_a_script_whose_calls_due_together_run_in_another_order_still_compares():
    # A reset call runs after the calls already due at its new time (task.Clock: before them);
    # each then schedules a call of its own, and the script cancels one of those by its label.
    script = [("later", 4), ("advance", 1), ("advance", 2), ("later", 1), ("reset", 0, 1), ("advance", 1)]
    script.append(("cancel", 2))
    expected_log, expected_pending, expected_active = play_on(task.Clock(), script)
    log, pending, active = play_on(HeapClock(), script)
    assert sorted(log) == sorted(expected_log) and log != expected_log
    assert (pending, active) == (expected_pending, expected_active)


@settings(max_examples=300, deadline=None)
@given(delayed_call_scripts(1))
def test_the_same_script_gives_what_task_clock_gives(script):
    """The same calls at the same times, and, among calls due at the same time, the same order
    unless one was reset or delayed (task.Clock orders those by where its last sort left them)."""
    expected_log, expected_pending, expected_active = play_on(task.Clock(), script)
    log, pending, active = play_on(HeapClock(), script)
    if any(action[0] in ("reset", "delay") for action in script):
        assert sorted(log) == sorted(expected_log)
    else:
        assert log == expected_log
    assert pending == expected_pending
    assert active == expected_active


def test_a_reset_call_goes_after_those_already_due_then():
    clock, ran = HeapClock(), []
    early = clock.callLater(1, ran.append, "reset")
    clock.callLater(3, ran.append, "waiting")
    early.reset(3)
    clock.callLater(3, ran.append, "newer")
    clock.advance(3)
    assert ran == ["waiting", "reset", "newer"]


def test_a_call_cancelled_by_the_call_that_scheduled_it_never_reaches_the_heap():
    clock, ran = HeapClock(), []

    def ring():
        timer = clock.callLater(10, ran.append, "timeout")
        timer.cancel()  # answered in the same instant
        clock.callLater(5, ran.append, "kept")

    clock.schedule(1, lambda _: ring(), None)
    clock.advance(1)
    assert len(clock.heap) == 1 and clock.pending() == 1
    assert [call.getTime() for call in clock.getDelayedCalls()] == [6]
    clock.advance(20)
    assert ran == ["kept"] and clock.pending() == 0

"""The figures of ``stats``, with time from task.Clock: every figure, its table, its saved state."""

import json

import pytest
from twisted.internet.task import Clock

from callcenter.core import state
from callcenter.core.center import CallCenter, CallCenterError
from callcenter.core.events import CallAnswered
from callcenter.core.rendering import render
from callcenter.core.stats import duration
from support import read_golden


class Center(object):
    """A call center on a Clock, the waits and ring times its events tell recorded."""

    def __init__(self, operators=("A", "B"), ring_timeout=10.0, service_level=20.0, clock=None):
        self.clock = clock or Clock()
        self.timings = []
        self.center = CallCenter(
            operators,
            self.clock.callLater,
            ring_timeout,
            now=self.clock.seconds,
            service_level=service_level,
        )
        self.center.subscribe(self)

    def heard(self, events, command):
        for event in events:
            if hasattr(event, "ring"):
                self.timings.append(("ring", event.ring))
            if isinstance(event, CallAnswered):
                self.timings.append(("wait", event.wait))

    def at(self, when, *commands):
        """Move the clock to ``when`` (timers fire on the way), then run 'call 1'-style commands."""
        self.clock.advance(when - self.clock.seconds())
        for text in commands:
            command, argument = text.split()
            self.center.execute(command, argument)
        return self

    def stats(self):
        return self.center.query("stats", None)

    def figure(self, name):
        """The text after ``name: `` in the stats lines."""
        (line,) = [line for line in self.stats() if line.startswith(name + ": ")]
        return line[len(name) + 2 :]

    def operator_row(self, operator_id):
        """The operator's row of the table, as its cells."""
        (row,) = [line.split() for line in self.stats()[8:] if line.split()[0] == operator_id]
        return row


def a_busy_morning(service_level=20.0):
    """Two operators, five calls: answers, a reject, a ring timeout, a hangup of each kind."""
    center = Center(service_level=service_level)
    center.at(0, "call 1", "call 2", "call 3")  # 1 rings A, 2 rings B, 3 waits
    center.at(5, "answer A")  # call 1 waited 5 s
    center.at(8, "reject B")  # call 2 goes round to B again, the only one free
    center.at(18)  # B lets it ring 10 s: ignored, and it rings B again
    center.at(20, "answer B")  # call 2 waited 20 s
    center.at(25, "hangup 3")  # missed while waiting
    center.at(30, "hangup 1")  # A talked 25 s
    center.at(32, "call 4")  # rings A
    center.at(35, "call 5")  # waits
    center.at(40)
    return center


def test_the_table_line_by_line():
    assert a_busy_morning().stats() == [
        "Calls received: 5",
        "Calls answered: 2 (1 talking now, 1 finished)",
        "Calls missed: 1",
        "Calls waiting: 1 (longest waiting 0:00:05)",
        "Calls ringing: 1",
        "Wait before answer: average 0:00:13, longest 0:00:20",
        "Service level: 100.0% (2 of 2 answered within 20 s)",
        "Operator  State    For      Answered  Rejected  Ignored  Talk time",
        "A         ringing  0:00:08         1         0        0    0:00:25",
        "B         busy     0:00:20         1         1        1    0:00:20",
    ]


def test_a_fresh_call_center_has_no_figures_yet():
    center = Center().at(7)
    assert center.stats() == [
        "Calls received: 0",
        "Calls answered: 0 (0 talking now, 0 finished)",
        "Calls missed: 0",
        "Calls waiting: 0 (longest waiting -)",
        "Calls ringing: 0",
        "Wait before answer: average -, longest -",
        "Service level: - (no call answered yet; threshold 20 s)",
        "Operator  State      For      Answered  Rejected  Ignored  Talk time",
        "A         available  0:00:07         0         0        0    0:00:00",
        "B         available  0:00:07         0         0        0    0:00:00",
    ]


def test_the_service_level_counts_calls_answered_within_the_threshold():
    assert a_busy_morning(service_level=10).figure("Service level") == "50.0% (1 of 2 answered within 10 s)"
    # Exactly at the threshold counts as within it, as Asterisk's servicelevel.
    assert a_busy_morning(service_level=20).figure("Service level") == "100.0% (2 of 2 answered within 20 s)"
    assert a_busy_morning(service_level=0.5).figure("Service level") == "0.0% (0 of 2 answered within 0.5 s)"


def test_a_call_hung_up_while_ringing_is_missed_and_frees_the_operator():
    center = Center(["A"]).at(0, "call 1").at(3, "hangup 1").at(10)
    assert center.figure("Calls missed") == "1"
    assert center.figure("Calls answered") == "0 (0 talking now, 0 finished)"
    assert center.figure("Calls ringing") == "0"
    assert center.operator_row("A") == ["A", "available", "0:00:07", "0", "0", "0", "0:00:00"]
    assert center.timings == [("ring", 3.0)]


def test_a_call_hung_up_while_waiting_is_missed_and_leaves_the_queue():
    center = Center(["A"]).at(0, "call 1", "call 2", "call 3").at(4, "hangup 2").at(6)
    assert center.figure("Calls missed") == "1"
    assert center.figure("Calls waiting") == "1 (longest waiting 0:00:06)"  # call 3, since 0
    center.at(9, "hangup 1")  # call 3 rings A
    assert center.figure("Calls waiting") == "0 (longest waiting -)"
    assert center.figure("Calls ringing") == "1"


def test_the_longest_waiting_call_is_the_head_of_the_queue():
    center = Center(["A"]).at(0, "call 1").at(2, "call 2").at(5, "call 3").at(6, "hangup 2").at(10)
    assert center.figure("Calls waiting") == "1 (longest waiting 0:00:05)"


def test_rejects_and_ignores_count_per_operator_and_the_wait_runs_on():
    center = Center(["A", "B"]).at(0, "call 1").at(2, "reject A").at(3, "reject B")
    center.at(13)  # A, rung again at 3, lets it ring out
    center.at(14, "answer B")
    assert center.operator_row("A")[3:6] == ["0", "1", "1"]
    assert center.operator_row("B")[3:6] == ["1", "1", "0"]
    # The wait is from arrival to answer, through every ring.
    assert center.figure("Wait before answer") == "average 0:00:14, longest 0:00:14"
    assert center.timings == [("ring", 2.0), ("ring", 1.0), ("ring", 10.0), ("ring", 1.0), ("wait", 14.0)]


def test_talk_time_adds_finished_calls_and_the_call_in_progress():
    center = Center(["A"]).at(0, "call 1").at(1, "answer A").at(61, "hangup 1")
    center.at(70, "call 2").at(71, "answer A").at(3671)
    assert center.operator_row("A") == ["A", "busy", "1:00:00", "2", "0", "0", "1:01:00"]


def test_a_re_used_call_id_is_a_new_call():
    center = Center(["A"]).at(0, "call 1").at(1, "answer A").at(2, "hangup 1")
    center.at(10, "call 1").at(13, "answer A")
    assert center.figure("Calls received") == "2"
    assert center.figure("Calls answered") == "2 (1 talking now, 1 finished)"
    assert center.figure("Wait before answer") == "average 0:00:02, longest 0:00:03"  # 1 s and 3 s


def test_the_state_since_when_follows_every_change():
    center = Center(["A"]).at(0, "call 1")
    assert center.at(4).operator_row("A")[:3] == ["A", "ringing", "0:00:04"]
    assert center.at(5, "answer A").at(9).operator_row("A")[:3] == ["A", "busy", "0:00:04"]
    assert center.at(10, "hangup 1").at(12).operator_row("A")[:3] == ["A", "available", "0:00:02"]


def test_stats_takes_no_argument_and_changes_nothing():
    center = a_busy_morning()
    before = (center.stats(), center.center.status())
    with pytest.raises(CallCenterError, match="stats takes no argument"):
        center.center.query("stats", "now")
    assert (center.stats(), center.center.status()) == before


def test_the_golden_transcript_is_unchanged_with_a_clock_and_shows_in_the_figures():
    commands, expected = read_golden()
    center = Center()
    out = []
    for text in commands:
        command, argument = text.split()
        out.extend(render(center.center.execute(command, argument)))
    assert "".join(line + "\n" for line in out) == expected
    figures = center.center.figures
    assert figures.received == figures.answered + figures.missed + len(center.center.queue) + sum(
        1 for operator in center.center.operators if operator.state == "ringing"
    )


def test_durations_round_to_the_second_and_grow_to_hours():
    assert [duration(s) for s in (0, 0.49, 0.5, 59.5, 3599.4, 3600, 36000 + 61, -3)] == [
        "0:00:00",
        "0:00:00",
        "0:00:01",
        "0:01:00",
        "0:59:59",
        "1:00:00",
        "10:01:01",
        "0:00:00",
    ]


def test_without_a_clock_time_stands_still():
    center = CallCenter(["A"], ring_timeout=0)
    center.call("1")
    center.answer("A")
    assert center.stats()[5] == "Wait before answer: average 0:00:00, longest 0:00:00"


def test_a_long_operator_id_widens_its_column():
    center = Center(["A", "Operator-Long"])
    lines = center.stats()
    assert lines[7].startswith("Operator       State ")
    assert lines[9].startswith("Operator-Long  available ")


# Saving and restoring the figures (what --state-dir builds on): core/state.py's data.


def restored(center):
    """A Center on a clock of its own at ``center``'s time, its call center built from
    ``center``'s state as JSON."""
    data = json.loads(json.dumps(state.center_to_data(center.center)))
    copy = Center()
    copy.clock.advance(center.clock.seconds())
    copy.center = state.center_from_data(data, copy.clock.callLater, copy.clock.seconds)
    return copy


def test_the_saved_state_restores_the_same_table():
    morning = a_busy_morning()
    again = restored(morning)
    assert again.stats() == morning.stats()
    # Time goes on from there on the same clock (until A's ring timer, at 42, in the morning).
    again.at(41)
    morning.at(41)
    assert again.stats() == morning.stats()
    again.at(43)
    morning.at(43)
    assert again.stats() == morning.stats()


def test_the_saved_state_is_a_copy():
    center = a_busy_morning()
    data = state.center_to_data(center.center)
    data["figures"]["received"] = 99
    data["operators"][0]["answered"] = 99
    assert center.figure("Calls received") == "5"
    assert center.operator_row("A")[3] == "1"


@pytest.mark.parametrize(
    "spoil",
    [
        lambda data: data["figures"].pop("received"),
        lambda data: data["figures"].update(received="five"),
        lambda data: data["figures"].update(answered=-1),
        lambda data: data["figures"].update(missed=1.5),
        lambda data: data["operators"][0].update(since=None),
        lambda data: data["queues"][0]["figures"].update(wait_total=float("inf")),
    ],
)
def test_spoilt_figures_are_refused(spoil):
    data = json.loads(json.dumps(state.center_to_data(a_busy_morning().center)))
    spoil(data)
    with pytest.raises(CallCenterError, match="the saved state cannot be read"):
        state.center_from_data(data, Clock().callLater)


def test_calls_in_the_same_millisecond_share_their_received_at_time():
    clock = Clock()
    center = Center(["A"], clock=clock)
    center.at(1.0, "call 1").at(1.0004, "call 2").at(1.002, "call 3")
    calls = center.center.calls
    assert calls["1"].received_at is calls["2"].received_at == 1.0
    assert calls["3"].received_at == pytest.approx(1.002)

"""Random command sequences against the core, with its invariants checked after every step."""

import re

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from old_center import CallCenter as OldCallCenter
from old_center import CallCenterError as OldCallCenterError
from twisted.internet.task import Clock

from callcenter.core.center import (
    ANSWERED,
    AVAILABLE,
    BUSY,
    LOGGED_OUT,
    PAUSED,
    QUEUED,
    RINGING,
    WRAP_UP,
    CallCenter,
    CallCenterError,
)
from callcenter.core.events import CallAnswered, CallIgnored, CallRejected, CallRinging, RingCanceled
from callcenter.core.rendering import render
from callcenter.core.strategies import STRATEGIES
from transcript import Heard, lines_of

CALL_IDS = st.sampled_from([str(n) for n in range(8)])
OPERATORS = ["A", "B", "C"]
MORE_OPERATORS = [*OPERATORS, "D", "Z"]  # D may log in; Z never does
EVENT_SHAPES = [
    re.compile(pattern)
    for pattern in [
        r"Call (\S+) received",
        r"Call (\S+) ringing for operator (\S+)",
        r"Call (\S+) answered by operator (\S+)",
        r"Call (\S+) rejected by operator (\S+)",
        r"Call (\S+) finished and operator (\S+) available",
        r"Call (\S+) waiting in queue",
        r"Call (\S+) missed",
        r"Call (\S+) ignored by operator (\S+)",
        r"Call (\S+) refused: queue full",
        r"Call (\S+) timed out in queue",
        r"Call (\S+) finished and operator (\S+) (paused|logged out|in wrap-up)",
        r"Operator (\S+) (available|paused|logged out)",
        r"Operator (\S+) paused: (lunch|no answer)",
        r"Operator (\S+) will (pause|log out) after call (\S+)",
        r"Operator (\S+) busy with call (\S+)",
    ]
]


class CallCenterMachine(RuleBasedStateMachine):
    @initialize(
        operator_count=st.integers(1, 3),
        ring_timeout=st.sampled_from([0, 10]),
        strategy=st.sampled_from(STRATEGIES),
        wrap_up=st.sampled_from([0, 0, 5]),
        max_no_answer=st.sampled_from([0, 0, 1, 2]),
        max_queue=st.sampled_from([0, 0, 2]),
        max_wait=st.sampled_from([0, 0, 12]),
    )
    def start(self, operator_count, ring_timeout, strategy, wrap_up, max_no_answer, max_queue, max_wait):
        self.clock = Clock()
        self.heard = Heard()
        self.center = CallCenter(
            OPERATORS[:operator_count],
            self.clock.callLater,
            ring_timeout,
            now=self.clock.seconds,
            strategy=strategy,
            seed=1,
            wrap_up=wrap_up,
            max_no_answer=max_no_answer,
            max_queue=max_queue,
            max_wait=max_wait,
        )
        self.center.subscribe(self.heard)
        # The core as it was before events, side by side: its lines are the rendered events'.
        self.old_clock = Clock()
        self.old_events = []
        self.old = OldCallCenter(
            OPERATORS[:operator_count],
            self.old_clock.callLater,
            ring_timeout,
            self.old_events.append,
            now=self.old_clock.seconds,
            strategy=strategy,
            seed=1,
            wrap_up=wrap_up,
            max_no_answer=max_no_answer,
            max_queue=max_queue,
            max_wait=max_wait,
        )
        self.rings = {}  # operator id -> the call it rings, as the events tell
        self.lines = []
        # The model's own queue: one FIFO per priority, in the order calls entered it (a
        # call coming back from a ring goes to the head of its own).
        self.lanes = {priority: [] for priority in range(10)}
        self.priorities = {}

    @property
    def expected_queue(self):
        return [call for priority in range(9, -1, -1) for call in self.lanes[priority]]

    def _run(self, command, argument):
        before = self.center.status()
        del self.heard.batches[:]
        try:
            old_lines = self.old.execute(command, argument)
        except OldCallCenterError as error:
            old_lines = "error: %s" % error
        try:
            lines = lines_of(self.center, command, argument)
        except CallCenterError as error:
            assert self.center.status() == before  # bad input changes nothing
            assert old_lines == "error: %s" % error
            return []
        assert lines == old_lines
        ((events, heard_command),) = self.heard.batches
        assert heard_command == command and render(events) == lines  # the subscriber heard the reply
        self._follow_rings(events)
        self.lines.extend(lines)
        self._follow_queue(lines)
        return lines

    def _follow_rings(self, events):
        """Every ring starts with CallRinging and ends with one event that tells its ring time."""
        for event in events:
            if isinstance(event, CallRinging):
                assert event.operator not in self.rings
                self.rings[event.operator] = event.call
            elif isinstance(event, (CallAnswered, CallRejected, CallIgnored, RingCanceled)):
                assert self.rings.pop(event.operator) == event.call
                assert event.ring >= 0

    def _follow_queue(self, lines):
        received = set()
        for line in lines:
            call_id = line.split()[1]
            if line.endswith(" received"):
                received.add(call_id)
            lane = self.lanes[self.priorities.get(call_id, 0)]
            if line.endswith("waiting in queue"):
                if call_id in received:
                    lane.append(call_id)
                else:
                    lane.insert(0, call_id)  # back from a ring whose operator left
            elif (line.endswith("missed") or line.endswith("timed out in queue")) and call_id in lane:
                lane.remove(call_id)
            elif " ringing for " in line and call_id in lane:
                # Only the head may leave the queue to ring.
                assert self.expected_queue[0] == call_id
                lane.pop(0)

    @rule(call_id=CALL_IDS, priority=st.sampled_from([None, None, 0, 3, 9, 10]))
    def call(self, call_id, priority):
        if call_id not in self.center.calls and priority is not None and priority < 10:
            self.priorities[call_id] = priority
        elif call_id not in self.center.calls:
            self.priorities[call_id] = 0
        self._run("call", call_id if priority is None else "%s priority=%d" % (call_id, priority))

    @rule(operator=st.sampled_from(MORE_OPERATORS), reason=st.sampled_from(["", " lunch"]))
    def pause(self, operator, reason):
        self._run("pause", operator + reason)

    @rule(operator=st.sampled_from(MORE_OPERATORS))
    def unpause(self, operator):
        self._run("unpause", operator)

    @rule(operator=st.sampled_from(MORE_OPERATORS[:-1]))
    def login(self, operator):
        self._run("login", operator)

    @rule(operator=st.sampled_from(MORE_OPERATORS))
    def logout(self, operator):
        self._run("logout", operator)

    @rule(operator=st.sampled_from(MORE_OPERATORS))
    def answer(self, operator):
        self._run("answer", operator)

    @rule(operator=st.sampled_from(MORE_OPERATORS))
    def reject(self, operator):
        self._run("reject", operator)

    @rule(call_id=CALL_IDS)
    def hangup(self, call_id):
        self._run("hangup", call_id)

    @rule(seconds=st.sampled_from([1, 5, 10]))
    def time_passes(self, seconds):
        del self.heard.batches[:], self.old_events[:]
        self.clock.advance(seconds)
        self.old_clock.advance(seconds)
        for events, command in self.heard.batches:
            assert command is None
            self._follow_rings(events)
        timer_lines = self.heard.timer_lines()
        assert timer_lines == self.old_events
        for lines in timer_lines:
            self.lines.extend(lines)
            self._follow_queue(lines)

    @rule()
    def stats(self):
        before = self.center.status()
        lines = self.center.query("stats", None)
        # Seven figures (nine with queue limits), the headings, one row each, then a line for
        # each operator that was paused, logged out or in wrap-up.
        table = lines[: lines.index(next(line for line in lines if line.startswith("Operator  "))) + 1]
        limits = self.center.max_queue or self.center.max_wait
        assert len(table) == (10 if limits else 8)
        rows = lines[len(table) : len(table) + len(self.center.operators)]
        assert [row.split()[0] for row in rows] == [operator.id for operator in self.center.operators]
        assert all(line.startswith("Operator ") for line in lines[len(table) + len(rows) :])
        assert self.center.status() == before

    @invariant()
    def every_call_received_is_answered_missed_refused_timed_out_waiting_or_ringing(self):
        # "answered" counts the calls talking now as well as the finished ones.
        figures = self.center.figures
        ringing = len({operator.call.id for operator in self.center.operators if operator.state == RINGING})
        assert figures.received == (
            figures.answered + figures.missed + figures.refused + figures.timed_out + len(self.center.queue) + ringing
        )
        talking = sum(1 for operator in self.center.operators if operator.state == BUSY)
        assert figures.answered - figures.finished == talking
        operators = self.center.operators
        assert figures.answered == sum(operator.answered for operator in operators)
        assert figures.rejected == sum(operator.rejected for operator in operators)
        assert figures.ignored == sum(operator.ignored for operator in operators)
        assert figures.answered_in_service_level <= figures.answered

    @invariant()
    def each_call_is_in_exactly_one_place(self):
        center = self.center
        queued = list(center.queue)
        assert len(queued) == len(set(queued)) == len(center.queue)
        at_operators = [operator.call.id for operator in center.operators if operator.call is not None]
        if center.strategy != "ring-all":
            assert len(at_operators) == len(set(at_operators))
        assert not set(queued) & set(at_operators)
        assert set(queued) | set(at_operators) == set(center.calls)
        for call_id, call in center.calls.items():
            assert call.id == call_id
            if call.state == QUEUED:
                assert call_id in queued
            elif call.state == RINGING and call.ringers is not None:  # ring-all
                assert call.ringers and all(ringer.call is call for ringer in call.ringers)
                assert sorted(o.id for o in center.operators if o.call is call) == sorted(o.id for o in call.ringers)
            else:
                assert call.state in (RINGING, ANSWERED)
                assert call.operator.call is call
                assert at_operators.count(call_id) == 1

    @invariant()
    def an_operator_is_ringing_or_busy_iff_one_call_points_at_it(self):
        for operator in self.center.operators:
            pointing = [
                call
                for call in self.center.calls.values()
                if operator in (call.ringers if call.ringers is not None else [call.operator])
            ]
            if operator.state in (AVAILABLE, PAUSED, LOGGED_OUT, WRAP_UP):
                # No paused, logged-out or wrap-up operator ever rings.
                assert operator.call is None and pointing == []
                assert all(operator not in (call.ringers or ()) for call in self.center.calls.values())
                assert (operator.timer is not None) == (operator.state == WRAP_UP)
                assert (operator.index in self.center.queues[0].levels[0]) == (operator.state == AVAILABLE)
            else:
                assert pointing == [operator.call]
                assert operator.index not in self.center.queues[0].levels[0]
                assert operator.state == (RINGING if operator.call.state == RINGING else BUSY)
                has_timer = operator.timer is not None
                assert has_timer == (operator.state == RINGING and bool(self.center.ring_timeout))

    @invariant()
    def the_rings_the_events_told_are_the_operators_ringing(self):
        ringing = {operator.id: operator.call.id for operator in self.center.operators if operator.state == RINGING}
        assert self.rings == ringing

    @invariant()
    def the_queue_is_fifo(self):
        assert list(self.center.queue) == self.expected_queue

    @invariant()
    def no_operator_is_available_while_calls_wait(self):
        if self.center.queue:
            assert all(operator.state != AVAILABLE for operator in self.center.operators)

    @invariant()
    def event_lines_have_the_assignments_shapes(self):
        for line in self.lines:
            assert any(shape.fullmatch(line) for shape in EVENT_SHAPES), line

    @invariant()
    def timers_pending_are_the_ringing_and_wrap_up_operators_and_the_wait_timer(self):
        operators = self.center.operators
        ringing = sum(1 for operator in operators if operator.state == RINGING)
        wrapping_up = sum(1 for operator in operators if operator.state == WRAP_UP)
        waiting = self.center._wait_timer is not None
        pending = len(self.clock.getDelayedCalls())
        assert pending == (ringing if self.center.ring_timeout else 0) + wrapping_up + waiting
        if self.center.queue and self.center.max_wait:
            assert waiting


CallCenterMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
TestCallCenter = CallCenterMachine.TestCase

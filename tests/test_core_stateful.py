"""Random command sequences against the core, with its invariants checked after every step."""

import re

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from twisted.internet.task import Clock

from callcenter.core import ANSWERED, AVAILABLE, BUSY, QUEUED, RINGING, CallCenter, CallCenterError

CALL_IDS = st.sampled_from([str(n) for n in range(8)])
OPERATORS = ["A", "B", "C"]
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
    ]
]


class CallCenterMachine(RuleBasedStateMachine):
    @initialize(operator_count=st.integers(1, 3), ring_timeout=st.sampled_from([0, 10]))
    def start(self, operator_count, ring_timeout):
        self.clock = Clock()
        self.events = []
        self.center = CallCenter(
            OPERATORS[:operator_count], self.clock.callLater, ring_timeout, self.events.append, now=self.clock.seconds
        )
        self.lines = []
        # The model's own FIFO: the order calls entered the queue.
        self.expected_queue = []

    def _run(self, command, argument):
        before = self.center.status()
        try:
            lines = self.center.execute(command, argument)
        except CallCenterError:
            assert self.center.status() == before  # bad input changes nothing
            return []
        self.lines.extend(lines)
        self._follow_queue(lines)
        return lines

    def _follow_queue(self, lines):
        for line in lines:
            if line.endswith("waiting in queue"):
                self.expected_queue.append(line.split()[1])
            elif line.endswith("missed") and line.split()[1] in self.expected_queue:
                self.expected_queue.remove(line.split()[1])
            elif " ringing for " in line and line.split()[1] in self.expected_queue:
                # Only the head may leave the queue to ring.
                assert self.expected_queue[0] == line.split()[1]
                self.expected_queue.pop(0)

    @rule(call_id=CALL_IDS)
    def call(self, call_id):
        self._run("call", call_id)

    @rule(operator=st.sampled_from([*OPERATORS, "Z"]))
    def answer(self, operator):
        self._run("answer", operator)

    @rule(operator=st.sampled_from([*OPERATORS, "Z"]))
    def reject(self, operator):
        self._run("reject", operator)

    @rule(call_id=CALL_IDS)
    def hangup(self, call_id):
        self._run("hangup", call_id)

    @rule(seconds=st.sampled_from([1, 5, 10]))
    def time_passes(self, seconds):
        self.clock.advance(seconds)
        for lines in self.events:
            self.lines.extend(lines)
            self._follow_queue(lines)
        del self.events[:]

    @rule()
    def stats(self):
        before = self.center.status()
        lines = self.center.execute("stats", None)
        assert len(lines) == 8 + len(self.center.operators)  # seven figures, the headings, one row each
        assert self.center.status() == before

    @invariant()
    def every_call_received_is_answered_missed_waiting_or_ringing(self):
        # "answered" counts the calls talking now as well as the finished ones.
        figures = self.center.figures
        ringing = sum(1 for operator in self.center.operators if operator.state == RINGING)
        assert figures.received == figures.answered + figures.missed + len(self.center.queue) + ringing
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
        queued = set(center.queue)
        at_operators = [operator.call.id for operator in center.operators if operator.call is not None]
        assert len(at_operators) == len(set(at_operators))
        assert not queued & set(at_operators)
        assert queued | set(at_operators) == set(center.calls)
        for call_id, call in center.calls.items():
            assert call.id == call_id
            if call.state == QUEUED:
                assert call_id in queued
            else:
                assert call.state in (RINGING, ANSWERED)
                assert call.operator.call is call

    @invariant()
    def an_operator_is_ringing_or_busy_iff_one_call_points_at_it(self):
        for operator in self.center.operators:
            pointing = [call for call in self.center.calls.values() if call.operator is operator]
            if operator.state == AVAILABLE:
                assert operator.call is None and pointing == []
                assert operator.timer is None
            else:
                assert pointing == [operator.call]
                assert operator.state == (RINGING if operator.call.state == RINGING else BUSY)
                has_timer = operator.timer is not None
                assert has_timer == (operator.state == RINGING and bool(self.center.ring_timeout))

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
    def timers_pending_are_exactly_the_ringing_operators(self):
        ringing = sum(1 for operator in self.center.operators if operator.state == RINGING)
        pending = len(self.clock.getDelayedCalls())
        assert pending == (ringing if self.center.ring_timeout else 0)


CallCenterMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
TestCallCenter = CallCenterMachine.TestCase

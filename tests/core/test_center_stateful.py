"""Random command sequences against the core with one queue, side by side with the core as it was
before events (the same lines), with its invariants and those of commands_machine.py checked
after every step."""

import re
from collections import defaultdict

from commands_machine import CALL_IDS, OPERATORS, CommandsMachine
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule
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
from callcenter.core.strategies import STRATEGIES

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
        r"Call (\S+) finished by operator (\S+), now (available|paused|logged out|in wrap-up)",
        r"Operator (\S+) at level (0|1|2|7)",
    ]
]


class CallCenterMachine(CommandsMachine):
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
        settings = dict(
            strategy=strategy,
            seed=1,
            wrap_up=wrap_up,
            max_no_answer=max_no_answer,
            max_queue=max_queue,
            max_wait=max_wait,
        )
        clock = Clock()
        center = CallCenter(OPERATORS[:operator_count], clock.callLater, ring_timeout, now=clock.seconds, **settings)
        # One queue, which every operator serves, D too once logged in.
        self.watch(center, clock, defaultdict(lambda: {center.queues[0].name}))
        # The core as it was before events, side by side: its lines are the rendered events'.
        self.old_clock = Clock()
        self.old_events = []
        self.old = OldCallCenter(
            OPERATORS[:operator_count],
            self.old_clock.callLater,
            ring_timeout,
            self.old_events.append,
            now=self.old_clock.seconds,
            **settings,
        )
        self.lines = []

    def run(self, command, argument):
        if self.old is None:  # levels changed: the invariants check the lines from here on
            result = CommandsMachine.run(self, command, argument)
            if not isinstance(result, CallCenterError):
                self.lines.extend(result)
            return result
        if command == "level":
            result = CommandsMachine.run(self, command, argument)
            if not isinstance(result, CallCenterError):
                self.lines.extend(result)
                self.old = None  # the old core has no levels: it would route otherwise now
            return result
        old_lines = self._old_run(command, argument)
        result = CommandsMachine.run(self, command, argument)
        if isinstance(result, CallCenterError):
            assert old_lines == "error: %s" % result
        else:
            assert result == old_lines
            self.lines.extend(result)
        return result

    def _old_run(self, command, argument):
        """The old core's lines for the command; ``finish A`` is its ``hangup`` of A's call, the
        first line said as the operator's."""
        if command == "finish":
            operator = {operator.id: operator for operator in self.center.operators}.get(argument)
            if operator is None or operator.state is not BUSY:
                return "error: %s" % (CallCenterError(self._refusal(command, argument)),)
            lines = self.old.execute("hangup", operator.call.id)
            head = "Call %s finished and operator %s " % (operator.call.id, argument)
            assert lines[0].startswith(head)
            then = lines[0][len(head) :]
            return ["Call %s finished by operator %s, now %s" % (operator.call.id, argument, then), *lines[1:]]
        try:
            return self.old.execute(command, argument)
        except OldCallCenterError as error:
            return "error: %s" % error

    def _refusal(self, command, argument):
        try:
            self.center.execute(command, argument)
        except CallCenterError as error:
            return str(error)
        raise AssertionError("%s %s was expected to be refused" % (command, argument))

    def advance(self, seconds):
        del self.old_events[:]
        self.clock.advance(seconds)
        self.old_clock.advance(seconds)

    def timers_fired(self, batches):
        if self.old is not None:
            assert batches == self.old_events
        for lines in batches:
            self.lines.extend(lines)

    @rule(call_id=CALL_IDS, priority=st.sampled_from([None, None, 0, 3, 9, 10]))
    def call(self, call_id, priority):
        self.arrives(call_id, self.center.queues[0].name, priority or 0)
        self.run("call", call_id if priority is None else "%s priority=%d" % (call_id, priority))

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
                assert (operator.index in operator.serves[0][1]) == (operator.state == AVAILABLE)
            else:
                assert pointing == [operator.call]
                assert operator.index not in operator.serves[0][1]
                assert operator.state == (RINGING if operator.call.state == RINGING else BUSY)
                has_timer = operator.timer is not None
                assert has_timer == (operator.state == RINGING and bool(self.center.ring_timeout))

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

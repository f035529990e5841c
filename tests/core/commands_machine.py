"""What the core's two state machines share (test_center_stateful.py, test_queues_stateful.py):
the rules a user's commands and time passing make, a model of who waits where built from the
lines the core prints, and the invariants that hold of any configuration.

The model: each call's queue, priority and place in the order of arrival, and the calls waiting
now, by queue, in offer order; a call back from a ring whose operator left waits at the head of
its priority. A call handed out of a queue must be the one the rule picks: the head of one of
the queues its operator serves, the best of those heads (highest weight, then priority, then the
earliest arrival)."""

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from callcenter.core.center import AVAILABLE, BUSY, RINGING, CallCenterError
from callcenter.core.events import CallAnswered, CallIgnored, CallReceived, CallRejected, CallRinging, RingCanceled
from callcenter.core.rendering import render
from transcript import Heard, lines_of

CALL_IDS = st.sampled_from([str(n) for n in range(10)])
# A to D may be configured or log in; Z never does (every command naming it is an error).
OPERATORS = ["A", "B", "C", "D", "Z"]
OUTCOMES = ("received", "answered", "missed", "refused", "timed_out", "finished", "rejected", "ignored")


class CommandsMachine(RuleBasedStateMachine):
    """A subclass builds the center in an ``@initialize`` rule, calls :meth:`watch` with it and
    its clock, says which queues each operator serves (``serves``) and adds its ``call`` rule,
    which records each new call with :meth:`arrives`."""

    def watch(self, center, clock, serves):
        self.center, self.clock = center, clock
        self.heard = Heard()
        center.subscribe(self.heard)
        self.serves = serves  # operator id -> the names of the queues it serves
        self.weights = {queue.name: queue.weight for queue in center.queues}
        self.labels = {queue.name: queue.label for queue in center.queues}
        self.queue_of, self.priority_of, self.arrival_of = {}, {}, {}
        self.arrivals = 0
        self.waiting = {queue.name: [] for queue in center.queues}
        self.rings = {}  # operator id -> the call it rings, as the events tell

    def arrives(self, call_id, queue, priority):
        """A ``call`` command is about to be run: what the call will be if it is received."""
        if call_id not in self.center.calls and queue in self.waiting:
            self.queue_of[call_id], self.priority_of[call_id] = queue, priority
            self.arrivals += 1
            self.arrival_of[call_id] = self.arrivals

    def may_change_presence(self, operator_id):
        return True

    def run(self, command, argument):
        """The command's lines, after checking that the subscriber heard them as the reply; the
        error when the command is refused, after checking that it changed nothing."""
        before = self.center.status()
        lowest = self._lowest_free_levels()
        del self.heard.batches[:]
        try:
            lines = lines_of(self.center, command, argument)
        except CallCenterError as error:
            assert self.center.status() == before
            assert self.heard.batches == []
            return error
        ((events, heard_command),) = self.heard.batches
        assert heard_command == command and render(events) == lines
        if command == "call":
            self._check_levels_rung(events, lowest)
        self.follow(events, lines)
        return lines

    def _lowest_free_levels(self):
        """Each queue's lowest level with an available member (None: nobody is available)."""
        free = {operator.id for operator in self.center.operators if operator.state is AVAILABLE}
        return {
            queue.name: min((level for member, level in queue.members.items() if member in free), default=None)
            for queue in self.center.queues
        }

    def _check_levels_rung(self, events, lowest):
        """A new call rings only members of the lowest level with anyone available, at once."""
        if events and isinstance(events[0], CallReceived):
            queue = {queue.name: queue for queue in self.center.queues}[events[0].queue]
            for event in events[1:]:
                if isinstance(event, CallRinging) and event.call == events[0].call:
                    assert queue.members[event.operator] == lowest[queue.name]

    def advance(self, seconds):
        self.clock.advance(seconds)

    def timers_fired(self, batches):
        """A subclass's check of the lines the timers printed, one list a batch."""

    def follow(self, events, lines):
        self._follow_rings(events)
        self._follow_queues(lines)

    def _follow_rings(self, events):
        """Every ring starts with CallRinging and ends with one event that tells its ring time."""
        for event in events:
            if isinstance(event, CallRinging):
                assert event.operator not in self.rings
                self.rings[event.operator] = event.call
            elif isinstance(event, (CallAnswered, CallRejected, CallIgnored, RingCanceled)):
                assert self.rings.pop(event.operator) == event.call
                assert event.ring >= 0

    def _follow_queues(self, lines):
        received = set()
        for line in lines:
            words = line.split()
            if words[0] != "Call":
                continue
            call_id = words[1]
            queue = self.queue_of.get(call_id)
            if line.endswith(" received"):
                received.add(call_id)
            elif " ringing for operator " in line:
                operator_id = words[-1]
                assert queue in self.serves[operator_id], "%s rang %s, not of %s" % (call_id, operator_id, queue)
                if call_id in self.waiting[queue]:
                    self._check_hand_out(call_id, operator_id)
                    self.waiting[queue].remove(call_id)
            elif line == "Call %s waiting in queue%s" % (call_id, self.labels[queue]):
                waiting, priority = self.waiting[queue], self.priority_of[call_id]
                if call_id in received:  # behind every call of its priority or higher
                    after = [n for n, other in enumerate(waiting) if self.priority_of[other] < priority]
                else:  # back from a ring: ahead of every call of its priority
                    after = [n for n, other in enumerate(waiting) if self.priority_of[other] <= priority]
                waiting.insert(after[0] if after else len(waiting), call_id)
            elif line in (
                "Call %s missed" % call_id,
                "Call %s timed out in queue%s" % (call_id, self.labels[queue]),
                "Call %s refused: queue%s full" % (call_id, self.labels[queue]),
            ):
                if call_id in self.waiting[queue]:
                    self.waiting[queue].remove(call_id)

    def _check_hand_out(self, call_id, operator_id):
        def key(waiting_id):
            return (
                self.weights[self.queue_of[waiting_id]],
                self.priority_of[waiting_id],
                -self.arrival_of[waiting_id],
            )

        heads = [self.waiting[name][0] for name in self.serves[operator_id] if self.waiting[name]]
        assert call_id in heads and key(call_id) == max(key(head) for head in heads)

    @rule(operator_id=st.sampled_from(OPERATORS))
    def answer(self, operator_id):
        self.run("answer", operator_id)

    @rule(operator_id=st.sampled_from(OPERATORS))
    def reject(self, operator_id):
        self.run("reject", operator_id)

    @rule(call_id=CALL_IDS)
    def hangup(self, call_id):
        self.run("hangup", call_id)

    @rule(operator_id=st.sampled_from(OPERATORS), reason=st.sampled_from(["", " lunch"]))
    def pause(self, operator_id, reason):
        if self.may_change_presence(operator_id):
            self.run("pause", operator_id + reason)

    @rule(operator_id=st.sampled_from(OPERATORS))
    def unpause(self, operator_id):
        if self.may_change_presence(operator_id):
            self.run("unpause", operator_id)

    @rule(operator_id=st.sampled_from(OPERATORS[:-1]))
    def login(self, operator_id):
        if self.may_change_presence(operator_id):
            self.run("login", operator_id)

    @rule(operator_id=st.sampled_from(OPERATORS))
    def logout(self, operator_id):
        if self.may_change_presence(operator_id):
            self.run("logout", operator_id)

    @rule(operator_id=st.sampled_from(OPERATORS))
    def finish(self, operator_id):
        self.run("finish", operator_id)

    @rule(operator_id=st.sampled_from(OPERATORS), level=st.sampled_from([0, 1, 2, 7]), queue=st.integers(-1, 3))
    def level(self, operator_id, level, queue):
        names = [queue.name for queue in self.center.queues]
        where = " queue=" + names[queue] if 0 <= queue < len(names) else " queue=nowhere" if queue == 3 else ""
        self.run("level", "%s %d%s" % (operator_id, level, where))

    @rule(seconds=st.sampled_from([1, 5, 10, 12]))
    def time_passes(self, seconds):
        del self.heard.batches[:]
        self.advance(seconds)
        batches = list(self.heard.batches)
        del self.heard.batches[:]
        assert all(command is None for _, command in batches)
        self.timers_fired([render(events) for events, _ in batches])
        for events, _ in batches:
            self.follow(events, render(events))

    @invariant()
    def the_model_waits_as_the_center_does(self):
        for queue in self.center.queues:
            assert [call.id for call in queue.waiting.calls()] == self.waiting[queue.name]

    @invariant()
    def the_rings_the_events_told_are_the_operators_ringing(self):
        ringing = {operator.id: operator.call.id for operator in self.center.operators if operator.state == RINGING}
        assert self.rings == ringing

    @invariant()
    def every_call_received_is_answered_missed_refused_timed_out_waiting_or_ringing(self):
        # "answered" counts the calls talking now as well as the finished ones.
        center, total = self.center, self.center.figures
        if len(center.queues) == 1:  # the one queue's figures are the center's
            counted = [(center.queues[0], total)]
        else:
            counted = [(queue, queue.figures) for queue in center.queues]
            for name in OUTCOMES:
                assert getattr(total, name) == sum(getattr(figures, name) for _, figures in counted)
        for queue, figures in counted:
            ringing = sum(1 for call in center.calls.values() if call.queue is queue and call.state is RINGING)
            assert figures.received == (
                figures.answered + figures.missed + figures.refused + figures.timed_out + len(queue.waiting) + ringing
            )
        operators = center.operators
        assert total.answered - total.finished == sum(1 for operator in operators if operator.state == BUSY)
        assert total.answered == sum(operator.answered for operator in operators)
        assert total.rejected == sum(operator.rejected for operator in operators)
        assert total.ignored == sum(operator.ignored for operator in operators)
        assert total.answered_in_service_level <= total.answered

    @invariant()
    def each_member_is_in_the_strategy_of_its_level_and_every_level_has_a_member(self):
        for queue in self.center.queues:
            assert sorted(queue.by_level) == sorted(set(queue.members.values()))
            assert queue.levels == [queue.by_level[level] for level in sorted(queue.by_level)]
        for operator in self.center.operators:
            for queue, free in operator.serves:
                assert free is queue.by_level[queue.members[operator.id]]
                assert (operator.index in free) == (operator.state is AVAILABLE)
                for other in queue.levels:
                    assert other is free or operator.index not in other

    @invariant()
    def no_operator_of_a_queue_is_available_while_its_calls_wait(self):
        for queue in self.center.queues:
            if queue.waiting:
                assert all(not free.offer() for free in queue.levels)

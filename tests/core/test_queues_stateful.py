"""Random command sequences against a core with two or three queues (docs/queues.md), checked
after every step from the lines it prints: no operator rings for a queue it does not serve,
every call handed out of a queue is the one the rule picks (highest weight, then priority,
then the longest wait among the queues the operator serves), and the outcome counts add up
per queue and in total."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from twisted.internet.task import Clock

from callcenter.core.center import RINGING, CallCenter, CallCenterError
from callcenter.core.queues import QueueConfig
from callcenter.core.strategies import STRATEGIES
from transcript import Heard, lines_of

OPERATORS = ["A", "B", "C", "D"]
CALL_IDS = st.sampled_from([str(n) for n in range(10)])
NAMES = ["first", "second", "third"]

members_of = st.lists(
    st.tuples(st.sampled_from(OPERATORS), st.sampled_from([0, 0, 1])), min_size=1, max_size=4, unique_by=lambda m: m[0]
)
queue_settings = st.tuples(
    members_of,
    st.sampled_from(STRATEGIES),
    st.sampled_from([0, 0, 2]),  # max-queue
    st.sampled_from([0, 0, 12]),  # max-wait
    st.sampled_from([0, 0, 1, 2]),  # weight
)


class QueuesMachine(RuleBasedStateMachine):
    @initialize(
        settings_of_queues=st.lists(queue_settings, min_size=2, max_size=3),
        ring_timeout=st.sampled_from([0, 10]),
        wrap_up=st.sampled_from([0, 0, 5]),
    )
    def start(self, settings_of_queues, ring_timeout, wrap_up):
        self.configs = [
            QueueConfig(NAMES[position], members, strategy, max_queue, max_wait, weight)
            for position, (members, strategy, max_queue, max_wait, weight) in enumerate(settings_of_queues)
        ]
        self.clock = Clock()
        self.heard = Heard()
        self.center = CallCenter(
            (),
            self.clock.callLater,
            ring_timeout,
            now=self.clock.seconds,
            seed=1,
            wrap_up=wrap_up,
            queues=self.configs,
        )
        self.center.subscribe(self.heard)
        self.serves = {}
        for config in self.configs:
            for operator_id, _ in config.members:
                self.serves.setdefault(operator_id, set()).add(config.name)
        self.operator_ids = list(self.serves)
        self.weights = {config.name: config.weight for config in self.configs}
        self.labels = {
            config.name: "" if position == 0 else " " + config.name for position, config in enumerate(self.configs)
        }
        # The model: each call's queue, priority and place in the order of arrival, and the
        # calls waiting now, by queue, in offer order (a call back from a ring whose operator
        # left waits at the head of its priority).
        self.queue_of, self.priority_of, self.arrival_of = {}, {}, {}
        self.arrivals = 0
        self.waiting = {config.name: [] for config in self.configs}

    def _run(self, command, argument):
        before = self.center.status()
        try:
            lines = lines_of(self.center, command, argument)
        except CallCenterError:
            assert self.center.status() == before  # bad input changes nothing
            return
        self._follow(lines)

    def _follow(self, lines):
        received = set()
        for line in lines:
            words = line.split()
            if words[0] != "Call":
                continue
            call_id = words[1]
            queue = self.queue_of.get(call_id)
            if line.endswith(" received"):
                received.add(call_id)
                continue
            if " ringing for operator " in line:
                operator_id = words[-1]
                assert queue in self.serves[operator_id], "%s rang %s, which does not serve %s" % (
                    call_id,
                    operator_id,
                    queue,
                )
                if call_id in self.waiting[queue]:
                    self._check_hand_out(call_id, operator_id)
                    self.waiting[queue].remove(call_id)
            elif line == "Call %s waiting in queue%s" % (call_id, self.labels[queue]):
                waiting = self.waiting[queue]
                if call_id in received:
                    after = [
                        n for n, other in enumerate(waiting) if self.priority_of[other] < self.priority_of[call_id]
                    ]
                    waiting.insert(after[0] if after else len(waiting), call_id)
                else:  # back from a ring: the head of its priority
                    after = [
                        n for n, other in enumerate(waiting) if self.priority_of[other] <= self.priority_of[call_id]
                    ]
                    waiting.insert(after[0] if after else len(waiting), call_id)
            elif line in (
                "Call %s missed" % call_id,
                "Call %s timed out in queue%s" % (call_id, self.labels[queue]),
                "Call %s refused: queue%s full" % (call_id, self.labels[queue]),
            ):
                if call_id in self.waiting[queue]:
                    self.waiting[queue].remove(call_id)

    def _check_hand_out(self, call_id, operator_id):
        """The call leaving a queue for ``operator_id`` is the head of one of the queues it
        serves, the best of those heads: highest weight, then priority, then the earliest
        arrival."""

        def key(waiting_id):
            return (
                self.weights[self.queue_of[waiting_id]],
                self.priority_of[waiting_id],
                -self.arrival_of[waiting_id],
            )

        heads = [self.waiting[name][0] for name in self.serves[operator_id] if self.waiting[name]]
        assert call_id in heads and key(call_id) == max(key(head) for head in heads)

    @rule(call_id=CALL_IDS, queue=st.sampled_from([*NAMES, "nowhere"]), priority=st.sampled_from([0, 0, 4]))
    def call(self, call_id, queue, priority):
        words = [call_id, "queue=" + queue]
        if priority:
            words.append("priority=%d" % priority)
        if call_id not in self.center.calls and queue in self.waiting:
            self.queue_of[call_id], self.priority_of[call_id] = queue, priority
            self.arrivals += 1
            self.arrival_of[call_id] = self.arrivals
        self._run("call", " ".join(words))

    @rule(operator_id=st.sampled_from(OPERATORS))
    def answer(self, operator_id):
        self._run("answer", operator_id)

    @rule(operator_id=st.sampled_from(OPERATORS))
    def reject(self, operator_id):
        self._run("reject", operator_id)

    @rule(call_id=CALL_IDS)
    def hangup(self, call_id):
        self._run("hangup", call_id)

    @rule(operator_id=st.sampled_from(OPERATORS), command=st.sampled_from(["pause", "unpause", "logout", "login"]))
    def presence(self, operator_id, command):
        if operator_id in self.serves:  # a new id would join the default queue: not modelled here
            self._run(command, operator_id)

    @rule(seconds=st.sampled_from([1, 5, 10, 12]))
    def wait(self, seconds):
        del self.heard.batches[:]
        self.clock.advance(seconds)
        for lines in self.heard.timer_lines():
            self._follow(lines)

    @invariant()
    def the_model_waits_as_the_center_does(self):
        for queue in self.center.queues:
            assert [call.id for call in queue.waiting.calls()] == self.waiting[queue.name]

    @invariant()
    def outcome_counts_add_up_per_queue_and_in_total(self):
        total = self.center.figures
        for name in ("received", "answered", "missed", "refused", "timed_out", "finished", "rejected", "ignored"):
            assert getattr(total, name) == sum(getattr(queue.figures, name) for queue in self.center.queues)
        for queue in self.center.queues:
            figures = queue.figures
            ringing = sum(1 for call in self.center.calls.values() if call.queue is queue and call.state is RINGING)
            waiting = len(queue.waiting)
            assert figures.received == (
                figures.answered + figures.missed + figures.refused + figures.timed_out + waiting + ringing
            )

    @invariant()
    def no_operator_of_a_queue_is_available_while_its_calls_wait(self):
        for queue in self.center.queues:
            if queue.waiting:
                assert all(not free.offer() for free in queue.levels)


QueuesMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
TestQueues = QueuesMachine.TestCase

"""Random command sequences against a core with two or three queues (docs/queues.md), checked
after every step (commands_machine.py): no operator rings for a queue it does not serve, every
call handed out of a queue is the one the rule picks (highest weight, then priority, then the
longest wait among the queues the operator serves), and the outcome counts add up per queue and
in total."""

from commands_machine import CALL_IDS, OPERATORS, CommandsMachine
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule
from twisted.internet.task import Clock

from callcenter.core.center import CallCenter
from callcenter.core.queues import QueueConfig
from callcenter.core.strategies import STRATEGIES

NAMES = ["first", "second", "third"]

members_of = st.lists(
    st.tuples(st.sampled_from(OPERATORS[:4]), st.sampled_from([0, 0, 1])),
    min_size=1,
    max_size=4,
    unique_by=lambda m: m[0],
)
queue_settings = st.tuples(
    members_of,
    st.sampled_from(STRATEGIES),
    st.sampled_from([0, 0, 2]),  # max-queue
    st.sampled_from([0, 0, 12]),  # max-wait
    st.sampled_from([0, 0, 1, 2]),  # weight
)


class QueuesMachine(CommandsMachine):
    @initialize(
        settings_of_queues=st.lists(queue_settings, min_size=2, max_size=3),
        ring_timeout=st.sampled_from([0, 10]),
        wrap_up=st.sampled_from([0, 0, 5]),
    )
    def start(self, settings_of_queues, ring_timeout, wrap_up):
        configs = [
            QueueConfig(NAMES[position], members, strategy, max_queue, max_wait, weight)
            for position, (members, strategy, max_queue, max_wait, weight) in enumerate(settings_of_queues)
        ]
        clock = Clock()
        center = CallCenter(
            (), clock.callLater, ring_timeout, now=clock.seconds, seed=1, wrap_up=wrap_up, queues=configs
        )
        serves = {}
        for config in configs:
            for operator_id, _ in config.members:
                serves.setdefault(operator_id, set()).add(config.name)
        self.watch(center, clock, serves)

    def may_change_presence(self, operator_id):
        return operator_id in self.serves  # a new id would join the default queue: not modelled here

    @rule(call_id=CALL_IDS, queue=st.sampled_from([*NAMES, "nowhere"]), priority=st.sampled_from([0, 0, 4]))
    def call(self, call_id, queue, priority):
        self.arrives(call_id, queue, priority)
        words = [call_id, "queue=" + queue]
        if priority:
            words.append("priority=%d" % priority)
        self.run("call", " ".join(words))


QueuesMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
TestQueues = QueuesMachine.TestCase

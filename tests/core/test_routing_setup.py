"""core/routing.py: the queues a call center routes with, built from its configuration; each
operator's queues and levels; the strategies' members; what the transitions look up."""

import pytest

from callcenter.core import routing
from callcenter.core.center import CallCenter, CallCenterError
from callcenter.core.model import PAUSED, Operator
from callcenter.core.queues import QueueConfig, parse_queues
from callcenter.core.stats import QueueFigures
from callcenter.core.waiting import AllWaiting, WaitingCalls

FILE = """
[sales]
operators = A, B:1, C:1
strategy = round-robin
[support]
operators = C, D
weight = 2
max-wait = 30
"""


def operators(*ids):
    made = [Operator(operator_id, index, 0.0) for index, operator_id in enumerate(ids)]
    return made, {operator.id: operator for operator in made}


def test_without_a_file_there_is_one_default_queue_of_every_operator():
    made, _ = operators("A", "B")
    (config,) = routing.queue_configs(made, "random", 3, 12.5, None)
    assert config == QueueConfig("default", [("A", 0), ("B", 0)], "random", 3, 12.5)
    given = parse_queues(FILE)
    assert routing.queue_configs(made, "linear", 0, 0.0, given) == given


def test_each_operator_serves_its_queues_at_its_level_and_the_available_ones_are_members():
    made, by_id = operators("A", "B", "C", "D", "Z")
    made[3].state = PAUSED
    sales, support = routing.build_queues(parse_queues(FILE), made, by_id, seed=None, can_schedule=True)
    assert (sales.name, sales.label, support.label) == ("sales", "", " support")
    assert (support.weight, support.max_wait) == (2, 30.0)
    assert len(sales.levels) == 2 and sales.levels[0] is not sales.levels[1]
    a, _, c, _, z = made
    assert a.serves == [(sales, sales.levels[0])]
    assert c.serves == [(sales, sales.levels[1]), (support, support.levels[0])]
    assert z.serves == [(sales, sales.levels[0])]  # named by no queue: the default one, its first level
    assert [index for index in range(5) if index in sales.levels[0]] == [0, 4]
    assert [index for index in range(5) if index in support.levels[0]] == [2]  # D is paused


@pytest.mark.parametrize(
    "configs, why",
    [
        ([QueueConfig("a", [("A", 0), ("Q", 0)])], "queue a names operator Q, who is not here"),
        ([QueueConfig("a", [("A", 0)], "loudest")], "unknown strategy 'loudest'"),
        ([QueueConfig("a", [("A", 0)], max_wait=5)], "a maximum wait needs a call_later to schedule it"),
    ],
)
def test_a_configuration_that_cannot_be_routed_changes_no_operator(configs, why):
    made, by_id = operators("A", "B")
    routing.build_queues([QueueConfig("a", [("A", 0)]), QueueConfig("b", [("B", 0)])], made, by_id, None, False)
    before = [list(operator.serves) for operator in made]
    with pytest.raises(CallCenterError) as refused:
        routing.build_queues(configs, made, by_id, seed=None, can_schedule=False)
    assert why in str(refused.value)
    assert [list(operator.serves) for operator in made] == before


def test_queue_names_must_be_unique_and_a_queue_needs_operators():
    made, by_id = operators("A")
    with pytest.raises(CallCenterError, match="queue names must be unique"):
        routing.build_queues([QueueConfig("a", [("A", 0)])] * 2, made, by_id, None, True)
    with pytest.raises(CallCenterError, match="queue a has no operators"):
        routing.build_queues([QueueConfig("a", [])], made, by_id, None, True)


def test_the_index_reads_one_queue_as_its_own_line_and_several_as_one():
    made, by_id = operators("A", "B", "C", "D")
    one = routing.build_queues(routing.queue_configs(made, "linear", 0, 0.0, None), made, by_id, None, True)
    by_name, waiting, max_waits, several = routing.index_queues(one)
    assert isinstance(waiting, WaitingCalls) and waiting is one[0].waiting
    assert (list(by_name), max_waits, several) == (["default"], False, False)
    two = routing.build_queues(parse_queues(FILE), made, by_id, None, True)
    by_name, waiting, max_waits, several = routing.index_queues(two)
    assert isinstance(waiting, AllWaiting)
    assert (list(by_name), max_waits, several) == (["sales", "support"], True, True)


def test_a_call_counts_in_the_totals_and_with_several_queues_in_its_queue_too():
    made, by_id = operators("A", "B", "C", "D")
    totals = QueueFigures()
    one = routing.build_queues(routing.queue_configs(made, "linear", 0, 0.0, None), made, by_id, None, True)
    routing.tally(one, totals)
    assert one[0].tallies == (totals,)
    two = routing.build_queues(parse_queues(FILE), made, by_id, None, True)
    routing.tally(two, totals)
    assert [queue.tallies for queue in two] == [(totals, two[0].figures), (totals, two[1].figures)]


def test_the_queues_cannot_change_while_calls_wait():
    center = CallCenter(["A"], ring_timeout=0)
    center.execute("call", "1")
    center.use_routing("random", 1)  # nobody waits: the available operators stay available
    center.execute("call", "2")
    with pytest.raises(CallCenterError, match="the queues cannot change while calls wait"):
        center.use_routing("linear")

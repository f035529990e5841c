"""The routing set-up: the queues a call center routes with, built from its configuration.

Layer: core (pure). From the ``--queues`` file's :class:`QueueConfig` list (or, without one, one
default queue of every operator with ``--strategy``, ``--max-queue`` and ``--max-wait``) it builds
each :class:`Queue` with one ring strategy a level, tells every operator the queues it serves,
puts the available ones in those strategies, and indexes the queues for the transitions of
:mod:`callcenter.core.center`. The routing rules themselves are the transitions' (docs/queues.md).
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

from callcenter.core.model import AVAILABLE, CallCenterError, Operator
from callcenter.core.queues import DEFAULT_QUEUE, QueueConfig
from callcenter.core.stats import QueueFigures
from callcenter.core.strategies import LINEAR, make_strategy
from callcenter.core.waiting import AllWaiting, WaitingCalls


class Queue(object):
    """One queue of calls (``--queues``; without it, one queue of every operator): its waiting
    calls, its members by level, each level's ring strategy over its available members, its
    limits, its weight against the other queues, and its figures.

    ``levels`` holds one strategy a level, the lowest level first: a new call rings at the
    first level with an available member; ``by_level`` the same strategies by level and
    ``members`` each member's level (by operator id): a level with no member has none.
    ``strategy`` and ``seed`` make the strategy of a level a member moves to. ``tallies`` is
    what a call of this queue counts in: the call center's figures, and this queue's own
    when there are several."""

    __slots__ = (
        "by_level",
        "figures",
        "label",
        "levels",
        "max_queue",
        "max_wait",
        "members",
        "name",
        "seed",
        "strategy",
        "tallies",
        "waiting",
        "weight",
    )

    def __init__(
        self,
        name: str,
        label: str,
        max_queue: int,
        max_wait: float,
        weight: int,
        strategy: str = LINEAR,
        seed: Optional[int] = None,
    ) -> None:
        self.name = name
        self.label = label  # "" for the default queue, " sales" for the others: "waiting in queue sales"
        self.waiting = WaitingCalls()
        self.levels: List[Any] = []
        self.by_level: Dict[int, Any] = {}
        self.members: Dict[str, int] = {}
        self.strategy = strategy
        self.seed = seed
        self.max_queue = max_queue
        self.max_wait = max_wait
        self.weight = weight
        self.figures = QueueFigures()
        self.tallies: "Tuple[QueueFigures, ...]" = ()


def queue_configs(
    operators: Sequence[Operator],
    strategy: str,
    max_queue: int,
    max_wait: float,
    queues: Optional[Sequence[QueueConfig]],
) -> List[QueueConfig]:
    """The queues to route with: ``queues``, or without them one queue of every operator with
    ``strategy`` and the limits."""
    if queues is not None:
        return list(queues)
    return [QueueConfig(DEFAULT_QUEUE, [(operator.id, 0) for operator in operators], strategy, max_queue, max_wait)]


def build_queues(
    configs: Sequence[QueueConfig],
    operators: Sequence[Operator],
    operators_by_id: Dict[str, Operator],
    seed: Optional[int],
    can_schedule: bool,
) -> List[Queue]:
    """The queues of ``configs``, in order (the first is the default queue). Each operator now
    serves the queues that name it, at its level there; those no queue names (members that
    joined with ``login``) serve the default queue at its first level. The available operators
    that hold no call are members of the strategies of the queues they serve.
    CallCenterError when the configs cannot be routed with (nothing changed then)."""
    if len({config.name for config in configs}) != len(configs):
        raise CallCenterError("queue names must be unique")
    built = []
    for position, config in enumerate(configs):
        if config.max_wait and not can_schedule:
            raise CallCenterError("a maximum wait needs a call_later to schedule it")
        if not config.members:
            raise CallCenterError("queue %s has no operators" % config.name)
        # Each queue's random draws of its own: the seed moved along by its place.
        queue_seed = seed if seed is None else seed + position
        queue = Queue(
            config.name,
            "" if position == 0 else " " + config.name,
            config.max_queue,
            config.max_wait,
            config.weight,
            config.strategy,
            queue_seed,
        )
        levels = sorted({level for _, level in config.members})
        try:
            by_level = {level: make_strategy(config.strategy, operators, queue_seed) for level in levels}
        except ValueError as error:
            raise CallCenterError(str(error)) from None
        queue.levels = [by_level[level] for level in levels]
        queue.by_level = by_level
        built.append((queue, by_level, config.members))
    for queue, _, members in built:
        for operator_id, _ in members:
            if operator_id not in operators_by_id:
                raise CallCenterError("queue %s names operator %s, who is not here" % (queue.name, operator_id))
    for operator in operators:
        operator.serves = []
    for queue, by_level, members in built:
        for operator_id, level in members:
            operators_by_id[operator_id].serves.append((queue, by_level[level]))
            queue.members[operator_id] = level
    queues = [queue for queue, _, _ in built]
    default = queues[0]
    for operator in operators:
        if not operator.serves:
            join_default(default, operator)
        if operator.state is AVAILABLE and operator.call is None:
            for _, free in operator.serves:
                free.add(operator.index)
    return queues


def join_default(default: Queue, operator: Operator) -> None:
    """``operator``, whom no queue names (it joined with ``login``), serves the default queue at
    its first level."""
    operator.serves.append((default, default.levels[0]))
    default.members[operator.id] = min(default.by_level)


def move_to_level(queue: Queue, operator: Operator, level: int, operators: Sequence[Operator]) -> None:
    """``operator``, a member of ``queue``, serves it at ``level`` from now on: a member of that
    level's strategy (made now when the level had no member), out of the one it leaves (gone
    when it was the level's last member). Available, it stays available there."""
    previous = queue.members[operator.id]
    old = queue.by_level[previous]
    new = queue.by_level.get(level)
    if new is None:
        new = queue.by_level[level] = make_strategy(queue.strategy, operators, queue.seed)
    new.reserve(len(operators))  # operators that joined with login since it was made
    queue.members[operator.id] = level
    operator.serves = [(served, new if served is queue else free) for served, free in operator.serves]
    if operator.index in old:
        old.discard(operator.index)
        new.add(operator.index)
    if previous not in queue.members.values():
        del queue.by_level[previous]
    queue.levels = [queue.by_level[number] for number in sorted(queue.by_level)]


def index_queues(queues: Sequence[Queue]) -> "Tuple[Dict[str, Queue], Any, bool, bool]":
    """What the transitions look up in the queues: each by name, the waiting calls read as one
    (the one queue's :class:`WaitingCalls`, or :class:`AllWaiting`), whether any queue has a
    maximum wait, and whether there are several queues."""
    waiting = queues[0].waiting if len(queues) == 1 else AllWaiting(queues)
    return {queue.name: queue for queue in queues}, waiting, any(queue.max_wait for queue in queues), len(queues) > 1


def tally(queues: Sequence[Queue], figures: QueueFigures) -> None:
    """What each queue's calls count in: the totals, and with several queues its own too (the
    commands every call runs, ``call``, ``answer`` and the end of a talk, count in the same two
    written out)."""
    for queue in queues:
        queue.tallies = (figures,) if len(queues) == 1 else (figures, queue.figures)

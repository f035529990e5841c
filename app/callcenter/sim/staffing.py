"""Staffing a day of several queues by simulation: the fewest operators in each operator group
and interval such that every queue meets its target with 95 % confidence.

Layer: sim. Pure but for the runner it is handed: no I/O. The model and the search are those of
docs/simulation.md ("Staffing by simulation"):

- A **group** is a set of (queue, level) skills: the operators a queue file names with the same
  skills are one group, and the plan says how many of each group are needed.
- Each **interval** is staffed as a stationary system (SIPP: stationary, independent period by
  period): its rates, played through the product's own core with the queue file's routing, for a
  warm-up and then a measured window. Every candidate staffing of an interval is played with the
  same seeds (common random numbers), so candidates differ by their staffing, not their luck.
- A queue **meets** its target when its service level (the share of answered calls answered
  within its target seconds, per replication) is at or above the share asked with 95 %
  confidence (one-sided Student t over the replications), and its abandoned % (calls not
  answered: gave up, refused, or timed out in the queue) at or below the most allowed, likewise.
- The **search** starts from each queue's Erlang C (A with patience) answer alone, given to the
  queue's own group, adds operators where a queue fails until all meet, then takes away: one
  operator, or two for one of another group, as long as every queue still meets; then it moves
  one operator to another group while that makes the worst queue's margin strictly larger,
  and takes away again. Every step lowers (operators, minus the worst margin) in a fixed order
  over a finite set of staffings, so no staffing comes back and the search ends; ``MAX_STEPS``
  bounds it besides.
"""

import configparser
import heapq
import math
from typing import Any, Dict, FrozenSet, Generator, Iterable, List, Optional, Sequence, Tuple

from callcenter.core.queues import QueueConfig, QueuesError, parse_queues
from callcenter.core.strategies import RING_ALL
from callcenter.sim import erlang
from callcenter.sim.simulate import (
    Estimate,
    Model,
    Replication,
    Segment,
    SimulationError,
    Stream,
    Tally,
    handle_sampler,
    replication_seed,
    t_quantile,
)

# The keys a queue file for staffing may add to a queue's section (the rest are the core's).
STAFF_KEYS = ("handle-time", "patience", "service-level", "target", "abandoned")
# Each replication of an interval: a warm-up of this many mean handle times (of the longest) ...
WARM_UP_HANDLE_TIMES = 5.0
# ... then the interval's length, or longer so that this many calls are expected
# (--replication-calls): over 10 replications, enough that the 95 % bound costs at most one
# operator against Erlang C at 80/20 ...
MIN_CALLS = 2000
# ... but never longer than this.
MAX_WINDOW = 8 * 3600.0
# A search takes at most this many steps (it ends well before: see the module's docstring).
MAX_STEPS = 400
# Staffings past this many times the Erlang start (and 20 more) are not tried: the targets are
# out of reach (a service level of 1, say).
MAX_FACTOR = 4
# Replication numbers: an interval's own block, search and verification apart.
SEEDS_PER_INTERVAL = 100003
VERIFY_OFFSET = 50000


class StaffingError(SimulationError):
    """A queue file or profile staffing cannot use: one line for the user."""


class QueueTarget(object):
    """What one queue asks for and what its calls are like."""

    __slots__ = ("abandoned", "handle_time", "name", "patience", "service_level", "target")

    def __init__(
        self,
        name: str,
        handle_time: float,
        target: float,
        service_level: Optional[float] = None,
        abandoned: Optional[float] = None,
        patience: Optional[float] = None,
    ) -> None:
        if service_level is None and abandoned is None:
            raise StaffingError(
                "queue %s has no target: give it service-level or abandoned (or --service-level)" % name
            )
        self.name = name
        self.handle_time = handle_time
        self.target = target  # seconds of the service level
        self.service_level = service_level  # the share to reach, or None
        self.abandoned = abandoned  # the most abandoned %, or None
        self.patience = patience

    def describe(self) -> str:
        parts = []
        if self.service_level is not None:
            parts.append("%g%% within %g s" % (100 * self.service_level, self.target))
        if self.abandoned is not None:
            parts.append("at most %g%% abandoned" % self.abandoned)
        return " and ".join(parts)


def split_staff_keys(text: str) -> Tuple[str, Dict[str, Dict[str, str]]]:
    """The queue file's text without the staffing keys (those lines blanked, so the core's errors
    keep their line numbers), and those keys' values by queue."""
    kept = []
    values: Dict[str, Dict[str, str]] = {}
    section = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
        elif section is not None and stripped and stripped[0] not in "#;" and line[:1] not in " \t":
            for separator in ("=", ":"):
                key, found, value = stripped.partition(separator)
                if found and key.strip().lower() in STAFF_KEYS:
                    values.setdefault(section, {})[key.strip().lower()] = value.strip()
                    line = "#"
                    break
        kept.append(line)
    return "\n".join(kept) + "\n", values


def parse_staff_queues(
    text: str,
    handle_time: Optional[float],
    target: float,
    service_level: Optional[float],
    abandoned: Optional[float],
    patience: Optional[float],
) -> Tuple[List[QueueConfig], List[QueueTarget]]:
    """A queue file's queues (the core's format) and each queue's target; the options' values are
    the defaults of the queues that do not set their own. StaffingError names the line."""
    core_text, values = split_staff_keys(text)
    try:
        configs = parse_queues(core_text)
    except (QueuesError, configparser.Error) as error:
        message = str(error)
        if "unknown setting" in message:
            message += ", or for staffing %s" % ", ".join(STAFF_KEYS)
        raise StaffingError(message) from None
    targets = []
    for config in configs:
        if config.strategy == RING_ALL:
            raise StaffingError(
                "queue %s: the ring-all strategy cannot be staffed yet (one operator answers each call)" % config.name
            )

        def number(key: str, default: Optional[float], low: float, high: float, name: str = config.name) -> Any:
            return staff_number(values.get(name, {}), name, key, default, low, high)

        handle = number("handle-time", handle_time, 1e-9, float("inf"))
        if handle is None:
            raise StaffingError("queue %s has no handle time: give it handle-time (or --handle-time)" % config.name)
        targets.append(
            QueueTarget(
                config.name,
                handle,
                number("target", target, 0.0, float("inf")),
                number("service-level", service_level, 1e-9, 1.0),
                number("abandoned", abandoned, 0.0, 100.0),
                number("patience", patience, 1e-9, float("inf")),
            )
        )
    return configs, targets


def staff_number(own: Dict[str, str], name: str, key: str, default: Optional[float], low: float, high: float) -> Any:
    """Queue ``name``'s value of ``key`` (``own``: its staffing keys), or ``default``; it must be
    at least ``low`` and below ``high``."""
    if key not in own:
        return default
    try:
        value = float(own[key])
    except ValueError:
        value = float("nan")
    if not low <= value < high:
        raise StaffingError("queue %s: %s must be at least %g and below %g, not %r" % (name, key, low, high, own[key]))
    return value


class Group(object):
    """Operators with the same skills: ``skills`` is ((queue, level), ...) in the file's order."""

    __slots__ = ("index", "label", "skills")

    def __init__(self, index: int, skills: Sequence[Tuple[str, int]]) -> None:
        self.index = index
        self.skills = tuple(skills)
        self.label = "+".join(queue if not level else "%s:%d" % (queue, level) for queue, level in self.skills)

    def queues(self) -> FrozenSet[str]:
        return frozenset(queue for queue, _ in self.skills)

    def serves(self, queue: str) -> Optional[int]:
        """The level at which this group serves ``queue``, or None."""
        for name, level in self.skills:
            if name == queue:
                return level
        return None


def groups_of(configs: Sequence[QueueConfig]) -> List[Group]:
    """The operator groups of a queue file: operators with the same skills, in the order the first
    of each appears."""
    skills: Dict[str, List[Tuple[str, int]]] = {}
    for config in configs:
        for operator_id, level in config.members:
            skills.setdefault(operator_id, []).append((config.name, level))
    groups: Dict[Tuple[Tuple[str, int], ...], Group] = {}
    for operator_skills in skills.values():
        key = tuple(operator_skills)
        if key not in groups:
            groups[key] = Group(len(groups), key)
    return list(groups.values())


def operator_id(group: int, number: int) -> str:
    """The id of operator ``number`` of group ``group`` in a simulated staffing (``g2-7``)."""
    return "g%d-%d" % (group + 1, number + 1)


def staffed_queues(configs: Sequence[QueueConfig], groups: Sequence[Group], counts: Sequence[int]) -> List[QueueConfig]:
    """The queue file with ``counts[g]`` operators in group ``g``; a queue left with none is left
    out (its calls cannot be answered: see :class:`IntervalReplication`)."""
    staffed = []
    for config in configs:
        members = []
        for group in groups:
            level = group.serves(config.name)
            if level is not None:
                members += [(operator_id(group.index, number), level) for number in range(counts[group.index])]
        if members:
            staffed.append(
                QueueConfig(config.name, members, config.strategy, config.max_queue, config.max_wait, config.weight)
            )
    return staffed


class IntervalModel(Model):
    """One interval as a stationary system: each stream of calls (a queue and a priority) at its
    rate for a warm-up and a measured window, served by a staffing of the groups, with the queue
    file's routing. ``streams``: (queue, priority, calls per hour); every queue with calls must
    have an operator in ``queues`` (the staffed ones)."""

    def __init__(
        self,
        queues: Sequence[QueueConfig],
        targets: Sequence[QueueTarget],
        streams: Sequence[Tuple[str, int, float]],
        window: float,
        ring_timeout: float,
    ) -> None:
        handle = max(target.handle_time for target in targets)
        warm_up = WARM_UP_HANDLE_TIMES * handle
        end = warm_up + window
        served = {config.name for config in queues}
        arrivals = []
        for queue, priority, rate in streams:
            if rate > 0:
                if queue not in served:
                    raise StaffingError("queue %s has calls and no operator in this staffing" % queue)
                arrivals.append(Stream([Segment(0.0, end, rate)], queue, priority))
        operator_ids = sorted({operator for config in queues for operator, _ in config.members}) or ["none"]
        super().__init__(
            [Segment(0.0, end, 0.0)],  # no calls at all: the default queue's, none
            operator_ids,
            handle,
            ring_timeout=ring_timeout,
            warm_up=warm_up,
            streams=arrivals,
            routing={"queues": list(queues)} if queues else None,
        )
        self.targets = list(targets)


class IntervalReplication(Replication):
    """A :class:`Replication` of an :class:`IntervalModel`: its tallies are the queues' (each
    over the measured window), and each call has its queue's handle time, patience and service
    level."""

    def __init__(self, model: IntervalModel, seed: int) -> None:
        super().__init__(model, seed)
        targets = model.targets
        self.tallies = [Tally(model.measured_from, model.end) for _ in targets]
        position = {target.name: index for index, target in enumerate(targets)}
        # A stream of no queue (no calls at all) goes to the first queue, the default one.
        queues = [targets[position.get(stream.queue or "", 0)] for stream in model.streams]
        self.stream_tallies = [[self.tallies[position[target.name]]] for target in queues]
        self.give_ups = [1.0 / target.patience if target.patience else 0.0 for target in queues]
        # By queue name: its handle times and the seconds of its service level.
        self.answering = {
            target.name: (handle_sampler(self.rng, target.handle_time), target.target) for target in targets
        }

    def _answered(self, event: Any) -> None:
        """A call answered: its caller hangs up after its queue's handle time; counted against its
        queue's service level."""
        call_id = event.call
        caller = self.callers[call_id]
        caller.operator = ""
        now = self.clock.now
        handle, target = self.answering[event.queue]
        heapq.heappush(self._heap, (now + handle(), self._order(), self._hangup, call_id))
        if caller.tally is not None:
            caller.tally.answered_after(now - caller.arrived, target)

    def sample(self, index: int) -> None:
        """The calls waiting are not counted per queue: staffing reads no such figure."""


class Counts(object):
    """One replication's counts of one queue: what a worker sends back."""

    __slots__ = ("abandoned", "answered", "offered", "within")

    def __init__(self, tally: Tally) -> None:
        self.offered = tally.offered
        self.answered = tally.answered
        self.within = tally.within
        self.abandoned = tally.abandoned + tally.refused

    def service_level(self) -> Optional[float]:
        return self.within / self.answered if self.answered else None

    def abandoned_pct(self) -> Optional[float]:
        return 100.0 * self.abandoned / self.offered if self.offered else None


def play_interval(model: IntervalModel, seed: int) -> List[Counts]:
    """One replication of one staffing of one interval, as a worker runs it: each queue's counts."""
    return [Counts(tally) for tally in IntervalReplication(model, seed).run().tallies]


def confident(estimate: Estimate, above: bool) -> Optional[float]:
    """The value the mean is above (``above``) or below with 95 % confidence (one-sided Student
    t over the replications); with one value, that value; with none, None."""
    if estimate.mean is None or estimate.error is None:
        return estimate.mean
    half = t_quantile(len(estimate.values) - 1, one_sided=True) * estimate.error
    return estimate.mean - half if above else estimate.mean + half


class Evaluation(object):
    """A staffing's figures over the replications: per queue, the service level's and the
    abandoned %'s estimates and 95 % bounds, whether the queue meets its target, by how much."""

    def __init__(self, targets: Sequence[QueueTarget], rows: Sequence[List[Counts]]) -> None:
        self.service_level: List[Estimate] = []
        self.abandoned: List[Estimate] = []
        self.service_bound: List[Optional[float]] = []  # the service level is above it, 95 %
        self.abandoned_bound: List[Optional[float]] = []  # the abandoned % is below it, 95 %
        self.margins: List[float] = []
        for index, target in enumerate(targets):
            counts = [row[index] for row in rows]
            levels = [value for value in (count.service_level() for count in counts) if value is not None]
            lost = [value for value in (count.abandoned_pct() for count in counts) if value is not None]
            level, abandoned = Estimate(levels), Estimate(lost)
            self.service_level.append(level)
            self.abandoned.append(abandoned)
            level_bound, lost_bound = confident(level, above=True), confident(abandoned, above=False)
            self.service_bound.append(level_bound)
            self.abandoned_bound.append(lost_bound)
            margin = float("inf")
            if sum(count.offered for count in counts):
                if target.service_level is not None:
                    # No call answered at all: as far from the target as can be.
                    margin = min(margin, (level_bound if level_bound is not None else -1.0) - target.service_level)
                if target.abandoned is not None:
                    margin = min(margin, (target.abandoned - (lost_bound if lost_bound is not None else 101.0)) / 100.0)
            self.margins.append(margin)
        self.margin = min(self.margins) if self.margins else float("inf")

    @property
    def meets(self) -> bool:
        return self.margin >= 0


def erlang_alone(rate: float, target: QueueTarget) -> int:
    """The operators Erlang C (Erlang A with a patience) asks for the queue alone."""
    if rate <= 0:
        return 0
    operators = 1
    if target.service_level is not None:
        operators = erlang.fewest_operators(
            rate, target.handle_time, target.target, target.service_level, target.patience
        ).operators
    if target.abandoned is not None:
        if target.patience is None:
            operators = max(operators, math.floor(rate / 3600.0 * target.handle_time) + 1)
        else:
            while (
                100.0 * erlang.figures(rate, target.handle_time, operators, target.target, target.patience).p_abandon
                > target.abandoned
            ):
                operators += 1
    return operators


class Interval(object):
    """One interval to staff: when, each queue's calls per hour (``rates``, in the order of the
    queues), and its streams of calls, (queue index, priority, calls per hour): by default one a
    queue, of priority 0."""

    __slots__ = ("end", "rates", "start", "streams")

    def __init__(
        self,
        start: float,
        end: float,
        rates: Sequence[float],
        streams: Optional[Sequence[Tuple[int, int, float]]] = None,
    ) -> None:
        self.start = start
        self.end = end
        self.rates = list(rates)
        self.streams = list(streams) if streams is not None else [(queue, 0, rate) for queue, rate in enumerate(rates)]

    def window(self, min_calls: float = MIN_CALLS) -> float:
        """The measured window: the interval's length, or longer so that ``min_calls`` calls are
        expected (of all queues together), and at most MAX_WINDOW."""
        total = sum(self.rates)
        length = self.end - self.start
        if total > 0:
            length = max(length, min_calls * 3600.0 / total)
        return min(length, MAX_WINDOW)


class Problem(object):
    """The day to staff: the queue file's queues, their targets, the groups, the intervals."""

    def __init__(
        self,
        configs: Sequence[QueueConfig],
        targets: Sequence[QueueTarget],
        intervals: Sequence[Interval],
        ring_timeout: float = 10.0,
        min_calls: float = MIN_CALLS,
    ) -> None:
        self.configs = list(configs)
        self.min_calls = min_calls
        self.targets = list(targets)
        self.groups = groups_of(configs)
        self.intervals = list(intervals)
        self.ring_timeout = ring_timeout

    def model(self, interval: Interval, counts: Sequence[int]) -> IntervalModel:
        return IntervalModel(
            staffed_queues(self.configs, self.groups, counts),
            self.targets,
            [(self.targets[queue].name, priority, rate) for queue, priority, rate in interval.streams],
            interval.window(self.min_calls),
            self.ring_timeout,
        )

    def covers(self, interval: Interval, counts: Sequence[int]) -> bool:
        """Whether every queue with calls in ``interval`` has an operator of ``counts`` (a
        staffing without loses every call of that queue: never a plan)."""
        return all(
            any(counts[group.index] for group in self.groups if group.serves(target.name) is not None)
            for target, rate in zip(self.targets, interval.rates)
            if rate > 0
        )

    def start(self, interval: Interval) -> Tuple[List[int], List[int]]:
        """The search's start and each queue's Erlang answer alone: each queue's answer is given
        to its own group (the one serving it at its lowest level with the fewest other skills)."""
        alone = [erlang_alone(rate, target) for rate, target in zip(interval.rates, self.targets)]
        counts = [0] * len(self.groups)
        for queue, operators in zip(self.targets, alone):
            counts[self.own_group(queue.name).index] += operators
        return counts, alone

    def own_group(self, queue: str) -> Group:
        serving = [group for group in self.groups if group.serves(queue) is not None]
        return min(serving, key=lambda group: (group.serves(queue), len(group.skills), group.index))


# A search yields the staffings it wants played and is sent their evaluations, in that order.
Search = Generator[List[Tuple[int, ...]], List[Evaluation], Tuple[Tuple[int, ...], Evaluation]]


def search(problem: Problem, interval: Interval) -> Search:
    """The fewest operators per group for ``interval`` (see the module's docstring): a generator
    that yields lists of staffings to play and returns (staffing, its evaluation)."""
    start, alone = problem.start(interval)
    groups = len(problem.groups)
    ceiling = MAX_FACTOR * sum(alone) + 20
    known: Dict[Tuple[int, ...], Evaluation] = {}

    def play(staffings: Iterable[Tuple[int, ...]]) -> Generator[Any, Any, List[Evaluation]]:
        wanted = [staffing for staffing in dict.fromkeys(staffings) if staffing not in known]
        if wanted:
            for staffing, evaluation in zip(wanted, (yield wanted)):
                known[staffing] = evaluation
        return [known[staffing] for staffing in staffings]

    if not any(rate > 0 for rate in interval.rates):
        empty = tuple([0] * groups)
        (evaluation,) = yield from play([empty])
        return empty, evaluation
    current = tuple(start)
    (evaluation,) = yield from play([current])
    steps = 0
    # Up: add to the own group of every queue that fails, until all meet.
    while not evaluation.meets and sum(current) < ceiling and steps < MAX_STEPS:
        steps += 1
        grown = list(current)
        for index, margin in enumerate(evaluation.margins):
            if margin < 0:
                grown[problem.own_group(problem.targets[index].name).index] += 1
        current = tuple(grown)
        (evaluation,) = yield from play([current])
    if not evaluation.meets:
        return current, evaluation
    # Down: take away while every queue meets; move while the worst margin grows. The cheaper
    # neighbourhoods first: a later one is played only when no earlier one has a way down.
    while steps < MAX_STEPS:
        steps += 1
        best = None
        for neighbours, allowed in (
            (removals, meets),
            (pooled, meets),
            (moves, lambda candidate, worst=evaluation.margin: candidate.meets and candidate.margin > worst),
        ):
            candidates = sorted(
                candidate
                for candidate in set(neighbours(current, problem.groups))
                if problem.covers(interval, candidate)
            )
            evaluations = yield from play(candidates)
            best = best_of(candidates, evaluations, allowed)
            if best is not None:
                break
        if best is None:
            break
        current, evaluation = best
    return current, evaluation


def meets(evaluation: Evaluation) -> bool:
    return evaluation.meets


def removals(counts: Tuple[int, ...], groups: Sequence[Group]) -> Iterable[Tuple[int, ...]]:
    """One operator fewer in one group."""
    for taken in range(len(counts)):
        if counts[taken] > 0:
            yield step(counts, {taken: -1})


def pooled(counts: Tuple[int, ...], groups: Sequence[Group]) -> Iterable[Tuple[int, ...]]:
    """One operator fewer: two taken away and one added to a group that serves every queue of both
    (pooling: one flexible operator for two dedicated ones)."""
    indices = range(len(counts))
    for first in indices:
        for second in indices:
            if second < first or counts[first] < (2 if second == first else 1) or counts[second] < 1:
                continue
            needed = groups[first].queues() | groups[second].queues()
            for added in indices:
                if added not in (first, second) and groups[added].queues() >= needed:
                    change = {first: -1, added: 1}
                    change[second] = change.get(second, 0) - 1
                    yield step(counts, change)


def moves(counts: Tuple[int, ...], groups: Sequence[Group]) -> Iterable[Tuple[int, ...]]:
    """As many operators, one of them moved to another group that serves a queue it served."""
    for taken in range(len(counts)):
        if counts[taken] > 0:
            for added in range(len(counts)):
                if added != taken and groups[added].queues() & groups[taken].queues():
                    yield step(counts, {taken: -1, added: 1})


def step(counts: Tuple[int, ...], change: Dict[Any, int]) -> Tuple[int, ...]:
    stepped = tuple(count + change.get(index, 0) for index, count in enumerate(counts))
    assert min(stepped) >= 0, (counts, change)
    return stepped


def best_of(candidates: Sequence[Tuple[int, ...]], evaluations: Sequence[Evaluation], allowed: Any) -> Any:
    """The allowed candidate of the largest worst margin (ties: the first in order), with its evaluation."""
    best = None
    for candidate, evaluation in zip(candidates, evaluations):
        if allowed(evaluation) and (best is None or evaluation.margin > best[1].margin):
            best = (candidate, evaluation)
    return best


class Staffed(object):
    """One interval's plan: the staffing, its evaluation in the search, the verification's, and
    each queue's Erlang answer alone."""

    __slots__ = ("alone", "counts", "evaluation", "interval", "verified")

    def __init__(self, interval: Interval, counts: Tuple[int, ...], evaluation: Evaluation, alone: List[int]) -> None:
        self.interval = interval
        self.counts = counts
        self.evaluation = evaluation
        self.alone = alone
        self.verified: Optional[Evaluation] = None


def seeds(seed: int, interval: int, replications: int, verify: bool = False) -> List[int]:
    base = interval * SEEDS_PER_INTERVAL + (VERIFY_OFFSET if verify else 0)
    return [replication_seed(seed, base + number) for number in range(replications)]


def staff(problem: Problem, runner: Any, replications: int = 10, seed: int = 1, progress: Any = None) -> List[Staffed]:
    """Every interval's plan, searched in lock step (each round plays the staffings every
    unfinished search asks for, all at once on ``runner``), then verified with other seeds."""
    if replications < 2:
        raise StaffingError("staffing needs at least 2 replications (a 95% interval needs two values)")
    if replications >= VERIFY_OFFSET:
        raise StaffingError("at most %d replications" % (VERIFY_OFFSET - 1))
    searches = {index: search(problem, interval) for index, interval in enumerate(problem.intervals)}
    asked: Dict[int, List[Tuple[int, ...]]] = {}
    found: Dict[int, Tuple[Tuple[int, ...], Evaluation]] = {}
    for index, running in list(searches.items()):
        asked[index] = next(running)
    rounds = 0
    while asked:
        rounds += 1
        if progress is not None:
            progress.restart("round %d, %d of %d intervals settled" % (rounds, len(found), len(problem.intervals)))
        items = []
        for index, staffings in sorted(asked.items()):
            interval = problem.intervals[index]
            for staffing in staffings:
                model = problem.model(interval, staffing)
                items += [(model, replication) for replication in seeds(seed, index, replications)]
        results = runner.map(play_interval, items, progress)
        position = 0
        following: Dict[int, List[Tuple[int, ...]]] = {}
        for index, staffings in sorted(asked.items()):
            evaluations = []
            for _ in staffings:
                evaluations.append(Evaluation(problem.targets, results[position : position + replications]))
                position += replications
            try:
                following[index] = searches[index].send(evaluations)
            except StopIteration as done:
                found[index] = done.value
        asked = following
    plans = []
    for index, interval in enumerate(problem.intervals):
        counts, evaluation = found[index]
        plans.append(Staffed(interval, counts, evaluation, problem.start(interval)[1]))
    if progress is not None:
        progress.restart("checking the plan with other seeds")
    items = []
    for index, plan in enumerate(plans):
        model = problem.model(plan.interval, plan.counts)
        items += [(model, replication) for replication in seeds(seed, index, replications, verify=True)]
    results = runner.map(play_interval, items, progress)
    for index, plan in enumerate(plans):
        plan.verified = Evaluation(problem.targets, results[index * replications : (index + 1) * replications])
    return plans


def verified_meets(plan: Staffed, problem: Problem, index: int) -> Optional[bool]:
    """Whether queue ``index`` met its target in the check: False only when the check shows it
    missed with 95 % confidence (its service level below the share asked, or its abandoned %
    above the most allowed, at the one-sided 95 % bound the other way); None without calls."""
    evaluation = plan.verified
    assert evaluation is not None
    target = problem.targets[index]
    level, lost = evaluation.service_level[index], evaluation.abandoned[index]
    if level.mean is None and lost.mean is None:
        return None
    ok = True
    if target.service_level is not None:
        best = confident(level, above=False)
        ok = ok and best is not None and best >= target.service_level
    if target.abandoned is not None:
        least = confident(lost, above=True)
        ok = ok and least is not None and least <= target.abandoned
    return ok

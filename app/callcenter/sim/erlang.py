"""Erlang C (M/M/c) and Erlang A (M/M/c+M) figures for staffing a queue. Pure: no I/O.

Layer: sim (pure).

Both start from the Erlang B recursion ``B(k) = a B(k-1) / (k + a B(k-1))``, which
never forms a factorial or a power and so stays finite for any number of operators.

- ``a`` is the offered load in erlangs: calls per second times the mean handle time.
- Erlang C (callers wait for ever): ``C = c B / (c - a (1 - B))`` is the chance a caller
  waits; the wait of those who do is exponential with rate ``(c - a) / handle_time``.
- Erlang A (callers give up after an exponential patience): the birth-death chain above
  ``c`` has death rate ``c/h + j/patience`` with ``j`` callers queued; its weights are
  summed until they vanish. The service level there needs the wait's distribution,
  worked out by uniformisation of the queue ahead of a caller (see :func:`erlang_a`).

The service level is the share of *answered* calls answered within the target, as the
core's ``stats`` counts it (for Erlang C every call is answered, so it is ``P(W <= t)``).
"""

import math
from typing import Dict, List, Optional, Sequence

# Erlang A: the queue's weights are summed until one is this small next to the sum.
NEGLIGIBLE = 1e-15
# ... and never past this many queued callers (the chain must be stable to get there).
MAX_QUEUE_TERMS = 10**6


class ErlangError(ValueError):
    """Inputs the formulas cannot take: the message is one line for the user."""


def erlang_b(operators: int, load: float) -> float:
    """The Erlang B blocking probability of ``operators`` servers offered ``load`` erlangs."""
    if operators < 0 or load < 0:
        raise ErlangError("operators and load cannot be negative")
    blocking = 1.0
    for k in range(1, operators + 1):
        blocking = load * blocking / (k + load * blocking)
    return blocking


def erlang_c(operators: int, load: float) -> float:
    """The probability that a caller waits (Erlang C); 1 when the load reaches the operators."""
    if operators <= load:
        return 1.0
    blocking = erlang_b(operators, load)
    return operators * blocking / (operators - load * (1.0 - blocking))


class Figures(object):
    """What a staffing level gives: ``p_wait``, ``service_level``, ``asa`` (average speed of
    answer of the answered calls, seconds), ``occupancy``, and ``p_abandon`` (0 for Erlang C).
    A figure the system cannot reach (Erlang C overloaded) is ``None``."""

    __slots__ = ("asa", "load", "occupancy", "operators", "p_abandon", "p_wait", "service_level")

    def __init__(
        self,
        operators: int,
        load: float,
        p_wait: float,
        service_level: Optional[float],
        asa: Optional[float],
        occupancy: float,
        p_abandon: float = 0.0,
    ) -> None:
        self.operators = operators
        self.load = load
        self.p_wait = p_wait
        self.service_level = service_level
        self.asa = asa
        self.occupancy = occupancy
        self.p_abandon = p_abandon

    def to_dict(self) -> Dict[str, Optional[float]]:
        return {name: getattr(self, name) for name in self.__slots__}


def _check(calls_per_hour: float, handle_time: float, operators: int, target: float) -> None:
    if not 0 <= calls_per_hour < float("inf"):
        raise ErlangError("the calls per hour must be 0 or a positive number")
    if not 0 < handle_time < float("inf"):
        raise ErlangError("the handle time must be a positive number of seconds")
    if operators < 1:
        raise ErlangError("at least one operator is needed")
    if not 0 <= target < float("inf"):
        raise ErlangError("the target must be 0 or a positive number of seconds")


def erlang_c_figures(calls_per_hour: float, handle_time: float, operators: int, target: float) -> Figures:
    """Erlang C: ``operators`` answering Poisson calls with exponential handle times, for ever patient."""
    _check(calls_per_hour, handle_time, operators, target)
    load = calls_per_hour / 3600.0 * handle_time
    if operators <= load:
        return Figures(operators, load, 1.0, None, None, 1.0)
    p_wait = erlang_c(operators, load)
    rate = (operators - load) / handle_time  # of the exponential wait of those who wait
    service_level = 1.0 - p_wait * math.exp(-rate * target)
    return Figures(operators, load, p_wait, service_level, p_wait / rate, load / operators)


def erlang_a_figures(
    calls_per_hour: float, handle_time: float, operators: int, target: float, patience: float
) -> Figures:
    """Erlang A (M/M/c+M): as Erlang C, but a waiting caller hangs up after an exponential
    patience of mean ``patience`` seconds (``inf`` is Erlang C).

    With ``j`` callers queued the queue shrinks at ``r_j = c/h + j/p``. A caller who finds
    ``j`` ahead is answered after ``j + 1`` stages, stage ``k`` (``k`` ahead) ending at
    ``r_k`` unless it hangs up first (at ``1/p``), so it is answered with probability
    ``prod r_k / (r_k + 1/p)``, and its wait when it is, is the sum of exponentials of rates
    ``r_k + 1/p``: the chance it is within the target is computed for all ``j`` at once by
    uniformisation of that pure-death chain.
    """
    _check(calls_per_hour, handle_time, operators, target)
    if not 0 < patience <= float("inf"):
        raise ErlangError("the patience must be a positive number of seconds")
    if patience == float("inf"):
        return erlang_c_figures(calls_per_hour, handle_time, operators, target)
    arrival = calls_per_hour / 3600.0
    load = arrival * handle_time
    if arrival == 0:
        return Figures(operators, 0.0, 0.0, 1.0, 0.0, 0.0)
    service = operators / handle_time
    give_up = 1.0 / patience
    # Weights of the states with c + j calls present, relative to the state with c (j = 0).
    weights = [1.0]
    total = 1.0
    weight = 1.0
    j = 0
    while True:
        j += 1
        weight *= arrival / (service + j * give_up)
        weights.append(weight)
        total += weight
        if weight < NEGLIGIBLE * total and arrival < service + j * give_up:
            break
        if j >= MAX_QUEUE_TERMS:
            raise ErlangError("the queue does not settle: the patience is too long for this load")
    blocking = erlang_b(operators, load)
    below = 1.0 / blocking - 1.0  # the states with fewer than c calls, relative to state c
    norm = below + total
    p_wait = total / norm
    queued = sum(k * w for k, w in enumerate(weights)) / norm  # mean queue length
    p_abandon = give_up * queued / arrival
    # Per state j (j ahead on arrival): the chance to be answered, and the answered wait's mean.
    answered_weights = []
    answered_wait = 0.0
    p_answered = 1.0
    mean_wait = 0.0
    for k, w in enumerate(weights):
        stage = service + k * give_up
        p_answered *= stage / (stage + give_up)
        mean_wait += 1.0 / (stage + give_up)
        answered_weights.append(w * p_answered)
        answered_wait += w * p_answered * mean_wait
    answered_waiting = sum(answered_weights)  # (relative) answered calls that waited
    answered = below + answered_waiting
    asa = answered_wait / answered
    within = _answered_within(answered_weights, service, give_up, target)
    service_level = min(1.0, (below + within) / answered)  # rounding can pass 1 by an ulp or two
    occupancy = min(1.0, load * (1.0 - p_abandon) / operators)
    return Figures(operators, load, p_wait, service_level, asa, occupancy, p_abandon)


def _answered_within(start: Sequence[float], service: float, give_up: float, target: float) -> float:
    """The mass of ``start`` (``start[j]``: answered callers who found ``j`` ahead) whose wait,
    a sum of exponentials of rates ``service + (k + 1) give_up`` for ``k = j .. 0``, is at most
    ``target``: uniformisation of the pure-death chain they go down, at the fastest rate."""
    if target == 0:
        return 0.0
    top = len(start) - 1
    rates = [service + (k + 1) * give_up for k in range(top + 1)]
    fastest = rates[-1]
    stay = [1.0 - rate / fastest for rate in rates]
    move = [rate / fastest for rate in rates]
    mean = fastest * target
    # Poisson(mean) weights, in log space so that a large mean does not underflow at n = 0.
    steps = int(mean + 12.0 * math.sqrt(mean) + 30)
    log_mean = math.log(mean)
    mass = list(start)
    absorbed = 0.0  # answered by step n of the uniformised chain
    within = 0.0
    for n in range(steps + 1):
        weight = math.exp(-mean + n * log_mean - math.lgamma(n + 1))
        within += weight * absorbed
        # One step of the chain: from k, down to k - 1 (or answered, from 0) with move[k].
        absorbed += mass[0] * move[0]
        for k in range(top):
            mass[k] = mass[k] * stay[k] + mass[k + 1] * move[k + 1]
        mass[top] *= stay[top]
    # Mass still in the chain after the last step was never answered within the target.
    return within


def figures(
    calls_per_hour: float, handle_time: float, operators: int, target: float, patience: Optional[float] = None
) -> Figures:
    """Erlang C, or Erlang A when a ``patience`` is given."""
    if patience is None:
        return erlang_c_figures(calls_per_hour, handle_time, operators, target)
    return erlang_a_figures(calls_per_hour, handle_time, operators, target, patience)


def fewest_operators(
    calls_per_hour: float,
    handle_time: float,
    target: float,
    service_level: float,
    patience: Optional[float] = None,
    limit: int = 100000,
) -> Figures:
    """The smallest staffing whose service level reaches ``service_level`` (a share, 0 to 1)."""
    if not 0 < service_level < 1:
        raise ErlangError("the service level to reach must be a share between 0 and 1, like 0.8")
    load = calls_per_hour / 3600.0 * handle_time
    if patience is None:
        operators = math.floor(load) + 1
    else:
        # With abandonment fewer operators than the load can be enough; start well below it.
        operators = max(1, int(load - 4.0 * math.sqrt(load)))
    while operators <= limit:
        result = figures(calls_per_hour, handle_time, operators, target, patience)
        if result.service_level is not None and result.service_level >= service_level:
            return result
        operators += 1
    raise ErlangError("no staffing up to %d operators reaches the service level" % limit)


def parse_operator_range(text: str) -> List[int]:
    """``--operators`` of ``erlang``: a count (``13``) or an inclusive range (``10..20``)."""
    first, dots, last = text.strip().partition("..")
    if not first.isdigit() or (dots and not last.isdigit()):
        raise ErlangError("--operators takes a count or a range like 10..20, not %r" % (text,))
    low, high = int(first), int(last) if dots else int(first)
    if low < 1 or high < low:
        raise ErlangError("--operators: the range must go up from at least 1, not %r" % (text,))
    if high - low > 10000:
        raise ErlangError("--operators: at most 10,000 staffing levels at once")
    return list(range(low, high + 1))


def staffing_table(
    calls_per_hour: float, handle_time: float, counts: Sequence[int], target: float, patience: Optional[float] = None
) -> List[Figures]:
    return [figures(calls_per_hour, handle_time, count, target, patience) for count in counts]

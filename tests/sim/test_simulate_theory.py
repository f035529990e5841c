"""The simulation, through the real core, against queueing theory (Erlang C and Erlang A).

Setting: Poisson arrivals, exponential handle times (60 s), 10 operators, no answer delay,
the ring timeout off (0), the core's own routing (first free operator in order, or another
ring strategy: it does not matter to M/M/c). Each case runs 8 replications of 15,000 calls after a warm-up of 100 handle
times from an empty center, with fixed seeds, so the outcome is the same on every run.

Tolerance: the theoretical figure must lie inside the replications' 95 % Student-t confidence
interval of the simulated mean. Each check alone would fail 5 % of the time by chance if the
simulation were right; the seeds are the first ones tried, not chosen to pass. So that a wide
interval cannot pass everything, each interval must also be narrow (the limits below).
"""

import pytest

from callcenter.core.center import operator_names
from callcenter.sim.erlang import erlang_a_figures, erlang_c_figures
from callcenter.sim.simulate import Model, Segment, simulate

OPERATORS = 10
HANDLE = 60.0
TARGET = 20.0
CALLS = 15000
REPLICATIONS = 8

# The widest 95 % interval each figure may have (P(wait) and service level are shares;
# ASA in seconds; abandoned in percent; occupancy a share).
WIDEST = {"p_wait": 0.07, "service_level": 0.1, "asa": 40.0, "abandoned_pct": 1.2, "occupancy": 0.025}


def run(occupancy, patience=None, strategy="linear"):
    calls_per_hour = occupancy * OPERATORS / HANDLE * 3600
    model = Model(
        [Segment(0, CALLS / calls_per_hour * 3600, calls_per_hour)],
        operator_names(OPERATORS),
        HANDLE,
        ring_timeout=0,
        warm_up=100 * HANDLE,
        patience=patience,
        service_level=TARGET,
        routing={"strategy": strategy},
    )
    return calls_per_hour, simulate(model, REPLICATIONS, seed=1)


def check(result, metric, theory):
    estimate = result.total[metric]
    assert estimate.contains(theory), "%s: theory %.4f outside [%.4f, %.4f] (mean %.4f)" % (
        metric,
        theory,
        estimate.low,
        estimate.high,
        estimate.mean,
    )
    assert estimate.high - estimate.low < WIDEST[metric]


@pytest.mark.parametrize("occupancy", [0.5, 0.7, 0.85, 0.95])
def test_erlang_c_inside_the_confidence_interval(occupancy):
    calls_per_hour, result = run(occupancy)
    theory = erlang_c_figures(calls_per_hour, HANDLE, OPERATORS, TARGET)
    check(result, "p_wait", theory.p_wait)
    check(result, "service_level", theory.service_level)
    check(result, "asa", theory.asa)
    check(result, "occupancy", theory.occupancy)
    assert result.total["abandoned_pct"].mean == 0 and result.unexpected == 0


@pytest.mark.parametrize("occupancy,patience", [(0.9, 120.0), (1.1, 60.0)])
def test_erlang_a_inside_the_confidence_interval(occupancy, patience):
    """Impatient callers, as offered load 0.9 and 1.1 (more calls than operators can take)."""
    calls_per_hour, result = run(occupancy, patience)
    theory = erlang_a_figures(calls_per_hour, HANDLE, OPERATORS, TARGET, patience)
    check(result, "abandoned_pct", 100 * theory.p_abandon)
    check(result, "p_wait", theory.p_wait)
    check(result, "service_level", theory.service_level)
    check(result, "asa", theory.asa)
    check(result, "occupancy", theory.occupancy)


@pytest.mark.parametrize("strategy", ["round-robin", "longest-idle", "random", "ring-all"])
def test_every_strategy_is_still_erlang_c(strategy):
    """Whom a call rings changes nothing to M/M/c while every operator is alike: the core's ring
    strategies, ring-all's several rings included, give Erlang C's figures too."""
    calls_per_hour, result = run(0.85, strategy=strategy)
    theory = erlang_c_figures(calls_per_hour, HANDLE, OPERATORS, TARGET)
    check(result, "p_wait", theory.p_wait)
    check(result, "asa", theory.asa)
    check(result, "occupancy", theory.occupancy)
    assert result.unexpected == 0

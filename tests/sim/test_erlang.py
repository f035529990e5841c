"""The Erlang C and Erlang A calculator against a published table and against itself."""

import math

import pytest

from callcenter.sim import erlang

# pyworkforce's README: 100 calls per 30 minutes, 180 s handle time, 20 s target.
PUBLISHED = [(13, 0.2853, 0.7956), (14, 0.1741, 0.8884), (15, 0.1020, 0.9415)]


@pytest.mark.parametrize("operators,p_wait,service_level", PUBLISHED)
def test_erlang_c_matches_the_published_table(operators, p_wait, service_level):
    figures = erlang.erlang_c_figures(200, 180, operators, 20)
    assert round(figures.p_wait, 4) == p_wait
    assert round(figures.service_level, 4) == service_level
    assert figures.occupancy == pytest.approx(10.0 / operators)
    # ASA = C * h / (c - a): the mean of the exponential wait times the chance to wait.
    assert figures.asa == pytest.approx(figures.p_wait * 180 / (operators - 10))


def test_erlang_b_recursion_matches_the_factorial_formula_where_that_fits():
    load = 7.5
    for operators in range(0, 30):
        terms = [load**k / math.factorial(k) for k in range(operators + 1)]
        assert erlang.erlang_b(operators, load) == pytest.approx(terms[-1] / sum(terms), rel=1e-12)


def test_thousands_of_operators_do_not_overflow():
    # The published case scaled up 200 times: the same occupancy, far better figures (pooling).
    figures = erlang.erlang_c_figures(200 * 200, 180, 2100, 20)
    assert 0 < figures.p_wait < 0.2853
    assert 0.7956 < figures.service_level <= 1
    assert figures.occupancy == pytest.approx(2000 / 2100)
    big = erlang.erlang_c_figures(3.6e6, 180, 180200, 20)  # 180,000 erlangs
    assert 0 < big.p_wait < 1 and 0 < big.service_level <= 1
    patient = erlang.erlang_a_figures(200 * 200, 180, 2100, 20, 1e9)
    assert patient.p_wait == pytest.approx(figures.p_wait, rel=1e-4)


def test_an_overloaded_erlang_c_has_no_service_level():
    figures = erlang.erlang_c_figures(200, 180, 10, 20)  # 10 erlangs on 10 operators
    assert figures.p_wait == 1.0 and figures.service_level is None and figures.asa is None


@pytest.mark.parametrize("operators", [11, 13, 15, 40])
def test_erlang_a_with_endless_patience_is_erlang_c(operators):
    c = erlang.erlang_c_figures(200, 180, operators, 20)
    a = erlang.erlang_a_figures(200, 180, operators, 20, 1e10)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-5)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-5)
    assert a.asa == pytest.approx(c.asa, rel=1e-4)
    assert a.p_abandon < 1e-5
    assert erlang.erlang_a_figures(200, 180, operators, 20, float("inf")).p_wait == c.p_wait


def test_erlang_a_abandonment_agrees_two_ways():
    """P(abandon) is computed as (mean queue / patience) / arrival rate; the same must come out
    of the chance each arriving caller has to be answered before giving up."""
    for operators, patience in ((8, 60.0), (10, 180.0), (13, 30.0)):
        a = erlang.erlang_a_figures(200, 180, operators, 20, patience)
        arrival, service, give_up = 200 / 3600.0, operators / 180.0, 1 / patience
        weights, weight, j = [1.0], 1.0, 0
        while weight > 1e-18:
            j += 1
            weight *= arrival / (service + j * give_up)
            weights.append(weight)
        below = 1 / erlang.erlang_b(operators, arrival * 180) - 1
        answered, p = below, 1.0
        for k, w in enumerate(weights):
            p *= (service + k * give_up) / (service + (k + 1) * give_up)
            answered += w * p
        assert a.p_abandon == pytest.approx(1 - answered / (below + sum(weights)), rel=1e-9)


def test_erlang_a_known_shape():
    """With impatient callers, fewer operators than the load still answer most calls, and each
    added operator lowers every bad figure."""
    previous = None
    for operators in range(6, 16):
        a = erlang.erlang_a_figures(200, 180, operators, 20, 60)
        assert 0 <= a.p_abandon < a.p_wait <= 1 and 0 < a.service_level <= 1
        if previous is not None:
            assert a.p_wait < previous.p_wait and a.p_abandon < previous.p_abandon
            assert a.service_level > previous.service_level and a.asa < previous.asa
        previous = a
    # M/M/1+M with the patience equal to the handle time: the queue is an M/M/infinity shifted by
    # one, so P(wait) = 1 - P(empty) = 1 - 1 / (1 + (e^rho - 1)) = 1 - e^-rho.
    a = erlang.erlang_a_figures(1800, 2, 1, 10, 2)  # rho = 0.5 call/s * 2 s = 1
    assert a.p_wait == pytest.approx(1 - math.exp(-1.0), rel=1e-12)


def test_fewest_operators_meets_the_target():
    best = erlang.fewest_operators(200, 180, 20, 0.8)
    assert best.operators == 14 and best.service_level >= 0.8
    assert erlang.erlang_c_figures(200, 180, 13, 20).service_level < 0.8
    impatient = erlang.fewest_operators(200, 180, 20, 0.8, patience=60)
    assert impatient.operators <= 14 and impatient.service_level >= 0.8
    fewer = erlang.erlang_a_figures(200, 180, impatient.operators - 1, 20, 60)
    assert fewer.service_level < 0.8
    large = erlang.fewest_operators(200 * 300, 180, 20, 0.8)
    assert 3000 < large.operators < 3100


def test_operator_ranges():
    assert erlang.parse_operator_range("13") == [13]
    assert erlang.parse_operator_range("10..12") == [10, 11, 12]
    for bad in ("", "0", "12..10", "a..b", "3..", "-1"):
        with pytest.raises(erlang.ErlangError):
            erlang.parse_operator_range(bad)


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(erlang.ErlangError, match="handle time"):
        erlang.erlang_c_figures(200, 0, 10, 20)
    with pytest.raises(erlang.ErlangError, match="patience"):
        erlang.erlang_a_figures(200, 180, 10, 20, 0)
    with pytest.raises(erlang.ErlangError, match="service level"):
        erlang.fewest_operators(200, 180, 20, 1.5)

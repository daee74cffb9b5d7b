"""The series table (sim.protocol.series.ListedSeries): relisting around a moving spot reuses
series, and marks, deltas, payoffs and stress marks are the pricing kernel's (design 5, 16)."""

from __future__ import annotations

import numpy as np
import pytest

from kernels import pricing
from sim.protocol.series import ListedSeries

SPOTS = np.array([100_000.0, 2_500.0])        # BTC, ETH (USD)
SIGMAS = np.array([0.55, 0.75])
T = 1 / 365.25                                 # funding period (years)
STRIKES = [-0.2, -0.1, 0.0, 0.1, 0.2]
MARGIN_MOVES = [-0.15, 0.0, 0.15]
POOL_MOVES = [-0.2, -0.1, 0.1, 0.2]


def table() -> ListedSeries:
    series = ListedSeries(["BTC", "ETH"], SPOTS, STRIKES, True, T, MARGIN_MOVES, POOL_MOVES)
    series.relist(SPOTS)
    return series


def test_relisting_at_a_spot_seen_before_gives_the_same_series():
    series = table()
    first = dict(series.listed)
    perps = dict(series.perp_of)
    series.relist(SPOTS * np.array([1.12, 0.9]))      # spot moves: new strikes are listed
    assert series.n > len(first) + len(perps)
    assert series.listed != first
    n = series.n
    series.relist(SPOTS)                               # and back: the old indices, nothing new
    assert series.listed == first and series.perp_of == perps
    assert series.n == n


def test_a_strike_listed_again_keeps_its_index_and_its_strike():
    series = table()
    atm_call = series.listed[(0, 0.0, True)]
    strike = float(series.strike[atm_call])
    series.relist(SPOTS * 1.1)                          # the old ATM strike is now 10% below spot
    assert series.listed[(0, -0.1, True)] == atm_call
    assert series.strike[atm_call] == strike


def test_relisting_never_moves_a_series_a_position_refers_to():
    series = table()
    before = series.strike[: series.n].copy(), series.is_call[: series.n].copy()
    for factor in (1.3, 0.7, 1.05, 2.0):
        series.relist(SPOTS * factor)
    assert np.array_equal(series.strike[: before[0].size], before[0])
    assert np.array_equal(series.is_call[: before[1].size], before[1])


def test_marks_deltas_payoffs_and_stress_marks_are_the_pricing_kernels():
    series = table()
    series.relist(SPOTS * 1.1)
    spots, sigmas = SPOTS * np.array([1.07, 0.95]), np.array([0.6, 0.8])
    series.update_marks(spots, sigmas)
    n = series.n
    u = series.underlying[:n]
    S, K, sig, call = spots[u], series.strike[:n], sigmas[u], series.is_call[:n].astype(bool)
    mark = pricing.everlasting_price(S, K, sig, T, call)
    delta = pricing.everlasting_delta(S, K, sig, T, call)
    np.testing.assert_allclose(series.view("mark"), mark, rtol=1e-12)
    np.testing.assert_allclose(series.view("delta"), delta, rtol=1e-12)
    np.testing.assert_allclose(series.view("payoff"), pricing.payoff(S, K, call), rtol=1e-12)
    np.testing.assert_array_equal(series.view("spot"), S)
    for i, move in enumerate(MARGIN_MOVES):
        want = pricing.everlasting_price(S * (1 + move), K, sig, T, call)
        np.testing.assert_allclose(series.stress_margin[i], want, rtol=1e-12)
    for i, move in enumerate(POOL_MOVES):
        want = pricing.everlasting_price(S * (1 + move), K, sig, T, call)
        np.testing.assert_allclose(series.stress_pool[i], want, rtol=1e-12)


def test_the_perpetual_is_the_zero_strike_call_marked_at_spot():
    series = table()
    series.update_marks(SPOTS, SIGMAS)
    for u in (0, 1):
        s = series.perp_of[u]
        assert series.is_perp[s] and series.is_call[s] and series.strike[s] == 0.0
        assert series.mark[s] == pytest.approx(SPOTS[u], rel=1e-12)
        assert series.delta[s] == pytest.approx(1.0)


def test_listed_near_picks_the_nearest_listed_relative_strike():
    series = table()
    assert series.listed_near(0, 0.08, True) == series.listed[(0, 0.1, True)]
    assert series.listed_near(1, -0.04, False) == series.listed[(1, 0.0, False)]
    assert series.listed_near(0, 5.0, True) == series.listed[(0, 0.2, True)]

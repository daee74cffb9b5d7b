"""Bass arrivals: the Poisson quantile against scipy's distribution, and nesting of twins."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import poisson

from sim.arrivals import bass_arrivals, poisson_quantile


@settings(max_examples=300, deadline=None)
@given(u=st.floats(0.0, 1.0, exclude_min=True, exclude_max=True), lam=st.floats(1e-6, 500.0))
def test_poisson_quantile_is_scipys_ppf(u, lam):
    """The fast path gives exactly ``scipy.stats.poisson.ppf`` (an outside implementation);
    at u = 0 scipy answers -1 (below the support) and we answer 0 arrivals."""
    assert poisson_quantile(u, lam) == int(poisson.ppf(u, lam))


@pytest.mark.parametrize("lam", [0.01, 0.7, 3.0, 42.0])
def test_poisson_quantile_draws_have_poisson_moments(lam):
    """Quantiles of uniforms are Poisson draws: mean and variance lam within sampling error."""
    u = np.random.default_rng(5).random(40_000)
    k = np.array([poisson_quantile(x, lam) for x in u])
    se = np.sqrt(lam / k.size)
    assert abs(k.mean() - lam) < 5 * se
    assert abs(k.var() - lam) < 5 * lam * np.sqrt(2.0 / k.size) + 5 * se


def test_arrivals_are_nested_in_quality():
    """Same uniform, higher quality: never fewer arrivals (twin runs stay nested)."""
    u = np.random.default_rng(1).random(500)
    for x in u:
        low = bass_arrivals(x, 1 / 8760, 0.5, 0.5, 2.0, 100, 3000)
        high = bass_arrivals(x, 1 / 8760, 2.0, 0.5, 2.0, 100, 3000)
        assert high >= low

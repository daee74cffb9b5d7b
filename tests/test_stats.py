"""VaR95, LaR95 and Wilson intervals (design 11) against values computed independently."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from sim import stats


def test_var95_of_twenty_seeds_interpolates_between_the_19th_and_20th():
    bad_debt = np.arange(1.0, 21.0)[::-1] * 1000.0          # 1k .. 20k, any order
    assert stats.var95(bad_debt) == pytest.approx(19_050.0)   # 19k + 0.05 x 1k (type 7)
    assert stats.var95(bad_debt) == pytest.approx(sps.scoreatpercentile(bad_debt, 95))


def test_lar95_matches_scipy_on_random_samples():
    rng = np.random.default_rng(5)
    for n in (1, 2, 5, 10, 37):
        x = rng.lognormal(12.0, 2.0, n)
        assert stats.lar95(x) == pytest.approx(sps.scoreatpercentile(x, 95), rel=1e-12)


def test_var95_of_mostly_zero_bad_debt_is_zero_until_the_tail_reaches_it():
    assert stats.var95([0.0] * 19 + [5e6]) == pytest.approx(0.05 * 5e6)
    assert stats.var95([0.0] * 100) == 0.0


@pytest.mark.parametrize(("k", "n"), [(0, 10), (7, 10), (10, 10), (3, 5), (41, 100), (1, 1)])
def test_wilson_interval_matches_scipy(k, n):
    expected = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = stats.wilson_interval(k, n)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)


def test_wilson_interval_of_7_in_10_is_the_textbook_value():
    low, high = stats.wilson_interval(7, 10)
    assert (round(low, 4), round(high, 4)) == (0.3968, 0.8922)


def test_share_with_interval_counts_flags():
    share, low, high = stats.share_with_interval([True, False, True, True])
    assert share == 0.75 and (low, high) == stats.wilson_interval(3, 4)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: stats.var95([]), "at least one"),
    (lambda: stats.lar95([1.0, float("nan")]), "finite"),
    (lambda: stats.wilson_interval(3, 0), "at least one"),
    (lambda: stats.wilson_interval(4, 3), "successes"),
    (lambda: stats.wilson_interval(1, 3, confidence=1.0), "confidence"),
])
def test_bad_inputs_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()

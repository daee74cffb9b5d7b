"""Random streams: keyed streams and the agents' buffered scalar draws."""

import numpy as np
from scipy import stats

from sim.rng import ScalarDraws, stream


def test_buffered_uniforms_are_the_streams_own_sequence():
    """ScalarDraws.random() gives exactly what successive Generator.random() calls give."""
    a, b = stream(7, "initial", 2, 5), stream(7, "initial", 2, 5)
    draws = ScalarDraws(a, block=16)
    got = [draws.random() for _ in range(100)]          # crosses several blocks
    want = [b.random() for _ in range(100)]
    assert got == want


def test_streams_with_different_keys_differ_and_equal_keys_agree():
    assert stream(1, "arrival", 2, 3, 0).random() == stream(1, "arrival", 2, 3, 0).random()
    assert stream(1, "arrival", 2, 3, 0).random() != stream(1, "arrival", 2, 3, 1).random()


def test_buffered_exponentials_follow_the_exponential_law():
    """Kolmogorov-Smirnov against scipy's exponential, and the mean within sampling error."""
    draws = ScalarDraws(np.random.default_rng(3))
    x = np.array([draws.exponential(2.5) for _ in range(20_000)])
    assert stats.kstest(x, stats.expon(scale=2.5).cdf).pvalue > 1e-3
    assert abs(x.mean() - 2.5) < 5 * 2.5 / np.sqrt(x.size)
    assert x.min() >= 0.0

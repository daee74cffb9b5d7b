"""Exogenous price paths: statistics, reproducibility, validation."""

import numpy as np
import pytest

from sim.market.paths import generate_log_returns, prices_from_returns

SIGMAS = np.array([0.55, 0.75, 0.60])
CORR = np.array([[1.0, 0.8, 0.45], [0.8, 1.0, 0.45], [0.45, 0.45, 1.0]])
N = 20_000
DT = 0.25   # large steps make the drift large against its sampling error


def _gen(mus=0.0, lam=0.0, jm=0.0, js=0.0, seed=1, n=N, dt=DT, corr=CORR):
    return generate_log_returns(SIGMAS, mus, corr, lam, jm, js, n, dt, np.random.default_rng(seed))


def _check_mean(r, expected_mean, expected_var):
    se = np.sqrt(expected_var / r.shape[0])
    z = (r.mean(axis=0) - expected_mean) / se
    assert np.all(np.abs(z) < 4.5), z


def _check_cov(r, expected_cov):
    n = r.shape[0]
    sample = np.cov(r, rowvar=False)
    d = np.diag(expected_cov)
    se = np.sqrt((np.outer(d, d) + expected_cov**2) / n)   # normal-theory s.e. of a covariance
    z = (sample - expected_cov) / se
    assert np.all(np.abs(z) < 4.5), z


def test_shape_and_prices_from_returns():
    r = _gen(n=10)
    assert r.shape == (10, 3)
    p = prices_from_returns([100.0, 50.0, 300.0], r)
    assert p.shape == (11, 3)
    np.testing.assert_allclose(p[0], [100.0, 50.0, 300.0])
    np.testing.assert_allclose(np.log(p[1:] / p[:-1]), r, atol=1e-12)


def test_no_jumps_mean_and_covariance_match_inputs():
    mus = np.array([0.0, 0.3, -0.2])
    r = _gen(mus=mus)
    var = SIGMAS**2 * DT
    _check_mean(r, (mus - 0.5 * SIGMAS**2) * DT, var)
    _check_cov(r, np.outer(SIGMAS, SIGMAS) * CORR * DT)


def test_with_jumps_mean_is_that_of_the_compensated_process():
    lam = np.array([4.0, 2.0, 0.0])
    jm, js = np.array([-0.05, 0.10, 0.0]), np.array([0.08, 0.05, 0.0])
    r = _gen(lam=lam, jm=jm, js=js)
    kappa = np.exp(jm + 0.5 * js**2) - 1.0
    var = SIGMAS**2 * DT + lam * DT * (jm**2 + js**2)
    _check_mean(r, (-0.5 * SIGMAS**2 - lam * kappa) * DT + lam * DT * jm, var)
    cov = np.outer(SIGMAS, SIGMAS) * CORR * DT
    np.fill_diagonal(cov, var)
    _check_cov(r, cov)


def test_jump_compensation_keeps_the_price_a_martingale():
    # E[exp(r)] = exp(mu dt) = 1 with mu = 0, jumps or not (small dt keeps exp(r) tame)
    r = _gen(lam=50.0, jm=-0.05, js=0.08, dt=1 / 365, n=200_000)
    g = np.exp(r)
    se = g.std(axis=0) / np.sqrt(g.shape[0])
    assert np.all(np.abs(g.mean(axis=0) - 1.0) < 4.5 * se)
    # without the compensator the drift would be off by lambda*kappa*dt, many s.e.
    kappa = np.exp(-0.05 + 0.5 * 0.08**2) - 1
    assert abs(50 * kappa / 365) > 10 * se.max()


def test_same_seed_gives_identical_paths_and_another_seed_does_not():
    a = _gen(lam=4.0, jm=-0.05, js=0.08, seed=7, n=500)
    b = _gen(lam=4.0, jm=-0.05, js=0.08, seed=7, n=500)
    c = _gen(lam=4.0, jm=-0.05, js=0.08, seed=8, n=500)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_diffusion_draws_come_first_so_jumps_do_not_shift_them():
    no_jumps = _gen(seed=3, n=200)
    rng = np.random.default_rng(3)
    z = rng.standard_normal((200, 3))
    expected = -0.5 * SIGMAS**2 * DT + (z @ np.linalg.cholesky(CORR).T) * SIGMAS * np.sqrt(DT)
    np.testing.assert_allclose(no_jumps, expected, atol=1e-14)
    jumpy = _gen(seed=3, n=200, lam=2.0, jm=0.0, js=0.1)
    # same diffusion part: the difference is only the (zero-mean-size) jumps and compensator
    diff = jumpy - no_jumps
    counts = np.random.default_rng(3)
    counts.standard_normal((200, 3))
    n_jumps = counts.poisson(2.0 * DT, size=(200, 3))
    kappa = np.exp(0.5 * 0.1**2) - 1
    np.testing.assert_allclose(diff[n_jumps == 0], -2.0 * kappa * DT)


def test_non_positive_definite_correlation_raises():
    bad = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    with pytest.raises(ValueError, match="positive definite"):
        _gen(corr=bad, n=10)
    with pytest.raises(ValueError, match="symmetric"):
        _gen(corr=np.array([[1.0, 0.5, 0], [0.4, 1.0, 0], [0, 0, 1.0]]), n=10)
    with pytest.raises(ValueError, match="shape"):
        _gen(corr=np.eye(2), n=10)


def test_per_asset_parameters_of_the_wrong_length_raise():
    with pytest.raises(ValueError, match="mus"):
        _gen(mus=[0.0, 0.1], n=10)

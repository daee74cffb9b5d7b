"""Values the schema accepts at the edges of their ranges run to the end (issue 10): each case
here broke a run before its range or the model was fixed."""

from __future__ import annotations

import math

from sim.run import run
from sim.scenario import scenario_from_dict


def short(extra: dict) -> dict:
    return {"name": "edge", "clock": {"days": 2.5, "burn_in_days": 1}, **extra}


def test_a_crash_whose_waterfall_rounds_past_the_insurance_balance_runs_to_the_end():
    """A +200% BTC jump liquidates enough accounts that the kernel's insurance payout exceeds
    the token balance by 1e-16 of it; that rounding residue was sent in USDC, which a
    token-denominated insurance does not hold (InsufficientBalance)."""
    scenario = scenario_from_dict(short({
        "agents": {"traders": 400, "liquidity_providers": 50},
        "events": [{"kind": "crypto_jump", "asset": "BTC", "at": "day 2", "size": 3.0}],
    }))
    result = run(scenario)
    assert result.summary["steps"] == scenario.n_steps
    assert result.summary["bad_debt_usd"] > 0          # the waterfall did pay out
    assert result.summary["conservation_max_error"] < 1e-9


def test_market_makers_pulling_all_liquidity_leave_the_oracle_its_last_price():
    """mm_withdrawal with fraction 1 empties the AMM: no AMM price (NaN), which the oracle
    refused with a ValueError; the world now samples the AMM's last price again."""
    from tests.tiny import tiny

    scenario = tiny({"markets.TSLA.M.oracle": "amm_spot", "events": [
        {"kind": "mm_withdrawal", "token": "TSLA.M", "at": "day 1", "fraction": 1.0}]})
    ts = run(scenario).timeseries
    empty = ts["amm_price[TSLA.M]"].isna()
    assert empty.any()                                         # the AMM had no price
    assert ts["oracle[TSLA.M]"].notna().all() and (ts["oracle[TSLA.M]"] > 0).all()
    assert ts["oracle[TSLA.M]"][empty].nunique() == 1          # its last price stands


def test_arrivals_of_an_astronomical_quality_bring_everyone_who_can_come():
    """A tiny depth_ref_usd with the largest elasticity made the Poisson mean overflow the
    quantile (NaN arrivals)."""
    from sim.arrivals import bass_arrivals

    assert bass_arrivals(0.5, 1 / 8766, 1e210, 100.0, 100.0, active=3, potential=10) == 7
    assert bass_arrivals(0.5, 1 / 8766, 1.0, 0.5, 2.0, active=3, potential=10) == 0


def test_the_poisson_quantile_of_a_huge_mean_is_a_number():
    """scipy's pdtrik gives NaN for a tiny u at a mean of 1e11 (a spread elasticity of 6 with a
    spread reference of 1 reached it); the normal limit takes over there."""
    from scipy import stats

    from sim.arrivals import poisson_quantile

    for lam in (1e11, 1e12):
        for u in (1e-9, 0.5, 0.999):
            k = poisson_quantile(u, lam)
            assert abs(k - stats.norm.ppf(u, lam, lam ** 0.5)) < 1e-6 * lam
    assert poisson_quantile(0.5, 3.0) == stats.poisson.ppf(0.5, 3.0)


def test_a_pool_prices_with_at_least_the_smallest_volatility():
    """A vol of 0 makes the everlasting option's u = sqrt(1 + 8 / (sigma^2 T)) infinite and its
    delta NaN; the pools price with at least MIN_SIGMA, the least sigma a scenario takes."""
    from sim.model import FlywheelModel
    from sim.scenario._base import MIN_SIGMA
    from tests.tiny import tiny

    model = FlywheelModel(tiny({"assets.BTC.sigma": MIN_SIGMA}), rng=1)
    model.world.vols[model.world.asset_index["BTC"]]._var_per_step *= 0.0
    assert model.world.sigma("BTC") == MIN_SIGMA
    model.run_for(3)
    assert all(m.series.view("delta").size and not any(map(math.isnan, m.series.view("delta")))
               for m in model.markets.values())

"""Values the schema accepts at the edges of their ranges run to the end (issue 10): each case
here broke a run before its range or the model was fixed."""

from __future__ import annotations

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

"""Twin runs share every random number (design 1, 2 and 11): the margin twin, the impulse
twins, and what the comparison reports."""

from __future__ import annotations

import json

import mesa
import numpy as np
import pandas as pd
import pytest

from agents import Arbitrageur, DirectionalTrader, LiquidityProvider, MarketMaker
from sim import cli
from sim.model import FlywheelModel
from sim.twins import (
    COMPARISON_JSON,
    COMPARISON_PNG,
    gains,
    impulse_twin,
    margin_twin,
    study_cell,
    without_impulse,
)
from tests.tiny import tiny

DAYS = 6
AT = "day 2"


def scenario(days: float = DAYS, **over):
    return tiny({"clock.days": days, "arrivals.traders.potential": 400, **over})


def stepped(sc, seed: int = 3, model_cls=FlywheelModel, **kw) -> FlywheelModel:
    m = model_cls(sc, rng=seed, **kw)
    for _ in range(m.n_steps):
        m.step()
    return m


def exogenous(ts: pd.DataFrame) -> pd.DataFrame:
    return ts[[c for c in ts.columns if c.startswith(("price[", "latent["))] + ["time", "market_open"]]


# ---------------------------------------------------------------------- the margin twin


def test_the_margin_twin_margins_every_market_in_usdc_and_keeps_the_rest():
    sc = scenario()
    twin = margin_twin(sc)
    assert twin.name == "tiny.margin_twin"
    assert all(twin.margin_of(m) == "USDC" for m in twin.markets)
    assert list(twin.markets) == list(sc.markets) and twin.tokens == sc.tokens
    assert (twin.pool, twin.insurance, twin.agents, twin.events) == (sc.pool, sc.insurance, sc.agents, sc.events)
    assert twin.arrivals.traders.potential == sc.arrivals.traders.potential
    assert all(twin.haircut_of(m) == 0.0 for m in twin.markets)
    halved = margin_twin(tiny({"twin.potential_ratio": 0.5}))
    assert halved.arrivals.traders.potential == 50


def test_in_the_margin_twin_every_agent_draws_what_it_drew_in_the_base_run():
    base = FlywheelModel(scenario(), rng=3)
    twin = FlywheelModel(margin_twin(scenario()), rng=3)
    tb, tt = base.agents_by_type[DirectionalTrader], twin.agents_by_type[DirectionalTrader]
    assert len(tb) == len(tt) > 0
    for a, b in zip(tb, tt, strict=True):
        assert (a.style, a.market_name, a.underlying) == (b.style, b.market_name, b.underlying)
        assert (a.leverage_fraction, a.holding_steps, a.wealth_usd) == (
            b.leverage_fraction, b.holding_steps, b.wealth_usd)
        assert a.target_margin_usd == pytest.approx(b.target_margin_usd, rel=1e-12)
        assert b.margin_asset == "USDC" and a.margin_asset == a.market_name
    for kind in (LiquidityProvider, MarketMaker, Arbitrageur):
        assert len(base.agents_by_type[kind]) == len(twin.agents_by_type[kind])
    for a, b in zip(base.agents_by_type[LiquidityProvider], twin.agents_by_type[LiquidityProvider],
                    strict=True):
        assert (a.hurdle_apy, a.drawdown_tolerance, a.market_name) == (
            b.hurdle_apy, b.drawdown_tolerance, b.market_name)


def test_the_margin_twin_holds_no_stock_token_as_collateral_and_the_same_usd_in_pools():
    base = stepped(scenario())
    twin = stepped(margin_twin(scenario()))
    for name, m in twin.markets.items():
        b = base.markets[name]
        assert m.token == "USDC" and b.token == name
        # no stock token in any margin account, pool or insurance of the twin
        for token in twin.world.tokens:
            assert twin.ledger.balance(m.pool_holder, token) == 0.0
            assert twin.ledger.balance(m.insurance_holder, token) == 0.0
    tb, tt = base.timeseries(), twin.timeseries()
    for name in twin.markets:      # the same USD at the start, before anything traded
        for col in ("pool_nav_usd", "insurance_usd"):
            assert tt[f"{col}[{name}]"].iloc[0] == pytest.approx(tb[f"{col}[{name}]"].iloc[0], rel=0.02)
    assert tt["conservation_error"].max() <= 1e-9
    pd.testing.assert_frame_equal(exogenous(tb), exogenous(tt))
    assert tt["margin_depth_usd"].isna().all() and tb["margin_depth_usd"].gt(0).all()


def test_draws_do_not_depend_on_how_many_markets_exist():
    one = FlywheelModel(scenario(**{"markets": {"TSLA.M": {}}}), rng=5)
    two = FlywheelModel(scenario(), rng=5)
    t1, t2 = one.agents_by_type[DirectionalTrader], two.agents_by_type[DirectionalTrader]
    assert [(a.style, a.leverage_fraction, a.wealth_usd) for a in t1] == [
        (a.style, a.leverage_fraction, a.wealth_usd) for a in t2]


# ---------------------------------------------------------------------- the impulse twins


class _NullImpulse(FlywheelModel):
    """The impulse's traders are agents that never act."""

    def _new_impulse_trader(self, rng):
        return mesa.Agent(self)


def test_a_null_impulse_changes_nothing_else():
    sc = scenario()
    base = stepped(sc)
    null = stepped(impulse_twin(sc, 0.2, AT), model_cls=_NullImpulse)
    assert null.impulse_traders > 0
    pd.testing.assert_frame_equal(base.timeseries(), null.timeseries())
    eb, en = base.events_frame(), null.events_frame()
    en = en[en["kind"] != "impulse"].reset_index(drop=True)
    # later agents' Mesa ids are shifted by k; everything they did is the same
    pd.testing.assert_frame_equal(eb.drop(columns=["agent"]), en.drop(columns=["agent"]))


def test_an_impulse_of_size_zero_is_the_base_run():
    sc = scenario()
    base, zero = stepped(sc), stepped(impulse_twin(sc, 0.0, AT))
    assert zero.impulse_traders == 0
    pd.testing.assert_frame_equal(base.timeseries(), zero.timeseries())


def test_an_impulse_adds_k_traders_with_their_own_streams_and_the_same_prices():
    sc = scenario()
    base, imp = stepped(sc), stepped(impulse_twin(sc, 0.2, AT))
    t0 = impulse_twin(sc, 0.2, AT).impulse_step
    tb, ti = base.timeseries(), imp.timeseries()
    active_at_t0 = int(tb.loc[tb["step"] == t0, "active_traders"].iloc[0])
    assert imp.impulse_traders == round(0.2 * active_at_t0) > 0
    assert (imp.events_frame()["kind"] == "impulse").sum() == imp.impulse_traders
    pd.testing.assert_frame_equal(exogenous(tb), exogenous(ti))
    before = tb["step"] < t0        # identical until the impulse (it arrives in t0's phase 9)
    pd.testing.assert_frame_equal(tb.loc[before], ti.loc[before])
    assert not tb.equals(ti)


def test_the_frozen_twin_follows_the_base_runs_quality_path():
    sc = scenario()
    base = stepped(sc)
    path = base.timeseries()["quality"].to_numpy()
    frozen = stepped(impulse_twin(sc, 0.2, AT, frozen=True), quality_path=path)
    assert np.array_equal(frozen.timeseries()["quality"].to_numpy(), path)
    with pytest.raises(ValueError, match="quality path"):
        FlywheelModel(impulse_twin(sc, 0.2, AT, frozen=True), rng=3)


def test_gains_follow_design_11_on_hand_made_paths():
    steps = np.arange(24 * 10)
    frame = lambda users: pd.DataFrame({"step": steps, "active_traders": users, "active_lps": 0})  # noqa: E731
    base = frame(np.full(steps.size, 100.0))
    imp = frame(np.where(steps >= 48, 110.0, 100.0))
    frozen = frame(np.where(steps >= 48, 105.0, 100.0))
    rows = gains(base, imp, frozen, k=5, t0=48, steps_per_day=24, horizons_days=(2, 8, 8.05))
    assert rows[0]["G"] == pytest.approx(2.0) and rows[0]["G_frozen"] == pytest.approx(1.0)
    assert rows[0]["gain"] == pytest.approx(1.0) and rows[0]["inside_run"]
    assert rows[1]["inside_run"] and rows[1]["A_base"] == 100.0   # the run's last day
    assert rows[2]["inside_run"] is False and rows[2]["G"] is None
    # the day ending at t0 + H is the H-th day after t0: the impulse's first day counts in full
    one_day = gains(base, imp, frozen, k=5, t0=48, steps_per_day=24, horizons_days=(1,))[0]
    assert one_day["A_impulse"] == 110.0
    assert gains(base, imp, frozen, k=0, t0=48, steps_per_day=24, horizons_days=(2,))[0]["G"] is None


def test_study_cell_runs_the_base_its_margin_twin_and_the_impulse_twins(tmp_path):
    cell = study_cell(scenario(), 3, impulses=(0.1,), at_day=2, horizons=(1, 30), out=tmp_path)
    assert cell["base"]["scenario"] == "tiny" and cell["margin_twin"]["scenario"] == "tiny.margin_twin"
    rows = cell["impulses"]
    assert [r["horizon_days"] for r in rows] == [1.0, 30.0]
    assert rows[0]["inside_run"] and rows[0]["k"] > 0 and rows[0]["G"] is not None
    assert not rows[1]["inside_run"]
    json.dumps(cell)                       # what a study streams to disk
    assert without_impulse(impulse_twin(scenario(), 0.1, AT)).impulse is None


def test_flywheel_run_compare_writes_the_twins_side_by_side(tmp_path, capsys):
    from tests.tiny import TINY

    code = cli.main(["run", str(TINY), "--set", f"clock.days={DAYS}", "--compare", "margin",
                     "--compare", "impulse", "--impulse", "0.2", "--at", AT, "--out",
                     str(tmp_path), "--quiet"])
    assert code == 0
    folder = tmp_path / "tiny" / "compare-margin-impulse-seed1"
    comparison = json.loads((folder / COMPARISON_JSON).read_text())
    assert (folder / COMPARISON_PNG).stat().st_size > 10_000
    assert set(comparison) == {"scenario", "seed", "base", "margin", "impulse"}
    for role in (comparison["base"], comparison["margin"]["twin"],
                 *comparison["impulse"]["runs"]["0.2"].values()):
        assert (folder / role["path"] / "summary.json").is_file()
    d = comparison["margin"]["differences"]["active_users_end"]
    assert d["stock_minus_twin"] == d["stock_margin"] - d["usdc_twin"]
    out = capsys.readouterr().out
    assert "stock - twin" in out and "G - G_frozen" in out


@pytest.mark.parametrize("argv, field", [
    (["--compare", "impulse", "--at", "day 99"], "--at"),
    (["--compare", "impulse", "--impulse", "0.1,x"], "--impulse"),
    (["--compare", "impulse", "--impulse", "1.5"], "--impulse"),
])
def test_bad_compare_options_are_one_line_errors(argv, field, tmp_path, capsys):
    from tests.tiny import TINY

    assert cli.main(["run", str(TINY), "--out", str(tmp_path), "--quiet", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and field in err
    assert not any(tmp_path.iterdir())


def test_compare_over_seeds_reports_intervals_and_the_paired_variance(tmp_path, capsys):
    from tests.tiny import TINY

    code = cli.main(["run", str(TINY), "--set", "clock.days=4", "--compare", "impulse", "--impulse",
                     "0.2", "--at", "day 2", "--seeds", "2", "--out", str(tmp_path), "--quiet",
                     "--no-charts"])
    assert code == 0
    report = (tmp_path / "tiny-compare" / "REPORT.md").read_text()
    assert "Var paired" in report and "2 seeds" in report
    assert "| tiny |" in capsys.readouterr().out


def test_twin_traders_and_arbitrageurs_post_the_same_usd_as_in_the_base_run():
    """Design 1: the twin holds the same USD in USDC. A token trader posts its tokens (its
    token share of wealth), not its cash; the twin's trader posts that much USDC, not its whole
    wallet. An arbitrageur posts half its inventory's worth in either."""
    base = FlywheelModel(scenario(), rng=3)
    twin = FlywheelModel(margin_twin(scenario()), rng=3)
    for a, b in zip(base.agents_by_type[DirectionalTrader], twin.agents_by_type[DirectionalTrader],
                    strict=True):
        posted_tokens, posted_usdc = a._top_up_collateral(), b._top_up_collateral()
        assert posted_tokens * base.token_price(a.margin_asset) == pytest.approx(posted_usdc, rel=1e-9)
        assert posted_usdc == pytest.approx(b.target_margin_usd, rel=1e-12)
        assert b.balance("USDC") == pytest.approx(a.balance("USDC"), rel=1e-9, abs=1e-6)
    for a, b in zip(base.agents_by_type[Arbitrageur], twin.agents_by_type[Arbitrageur], strict=True):
        for name in base.markets:
            ma, mb = base.markets[name], twin.markets[name]
            posted_a = float(ma.book.collateral[a._account(name)])
            posted_b = float(mb.book.collateral[b._account(name)])
            nav = base.world.tokens[name].nav
            assert posted_a * nav == pytest.approx(posted_b, rel=1e-9) and posted_b > 0


@pytest.mark.parametrize("argv, field", [
    (["--set", "impulse={fraction: 0.1, at: day 2, freeze_quality: true}"], "impulse.freeze_quality"),
    (["--compare", "impulse", "--at", "day 2", "--seeds", "2", "--seed", "-1"], "--seed"),
])
def test_runs_that_cannot_start_are_one_line_errors(argv, field, tmp_path, capsys):
    from tests.tiny import TINY

    for command in (["run", str(TINY), "--out", str(tmp_path), "--quiet"], ["validate", str(TINY)]):
        if command[0] == "validate" and "--compare" in argv:
            continue
        extra = argv if command[0] == "run" else argv[:2]
        assert cli.main([*command, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and field in err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("g_low, gain_low, gain_high, expected", [
    (1.2, 0.1, 0.5, "amplifies"),
    (0.5, -0.3, -0.01, "decays"),
    (1.2, -0.1, 0.2, "neutral"),       # G above 1, but the gain's interval holds 0
    (0.9, 0.1, 0.3, "neutral"),        # the gain is positive, but G's interval reaches below 1
])
def test_the_verdict_rule_of_design_11(g_low, gain_low, gain_high, expected):
    from sim.twins import verdict_of

    assert verdict_of(g_low, gain_low, gain_high) == expected

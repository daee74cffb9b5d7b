"""Honest metrics (design 11, "Definitions"): money-weighted LP returns, drained pools, an LP PnL
split that sums exactly, notional liquidations, option and perp volume apart, traders who lost
money, perp leverage use, and events that name what was traded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kernels.params import SPREAD_UTILIZATION_CAP
from sim import metrics
from sim.model import FlywheelModel
from sim.protocol.market_events import LiquidationEvent
from sim.scenario import load_scenario
from sim.study.spec import is_study_file
from tests.test_options_market import BTC, DT_YEARS, PRICE, Venue
from tests.tiny import jump, tiny

SCENARIOS = [p for p in sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))
             if not is_study_file(p)]       # scenarios/study.yaml names scenarios, it is none
SPLIT_TOLERANCE = 1e-6      # of the pool's mean NAV (design 11)


def finished(scenario, seed: int = 3) -> FlywheelModel:
    model = FlywheelModel(scenario, rng=seed)
    model.run_for(model.n_steps)
    return model


def assert_split_sums(summary) -> None:
    for name, ms in summary["markets"].items():
        total = sum(ms["lp_pnl_split_usd"].values())
        scale = max(ms["pool_nav_mean_usd"], 1.0)
        assert abs(total - ms["lp_pnl_usd"]) <= SPLIT_TOLERANCE * scale, (name, total, ms["lp_pnl_usd"])


# ---------------------------------------------------------------- the split, every scenario
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_lp_pnl_split_sums_to_the_lp_pnl_in_every_shipped_scenario(path):
    """Short runs (12 days; up to just past the shocks when a scenario has some, fewer traders)."""
    sc = load_scenario(path)
    days = min(sc.clock.days, 43) if sc.events else 12
    model = finished(load_scenario(path, {"clock.days": days, "agents.traders": min(sc.agents.traders, 300)}))
    s = model.summary()
    assert_split_sums(s)
    for ms in s["markets"].values():
        assert ms["option_volume_usd"] > 0 and ms["lp_pnl_usd"] != 0.0


CRASH = {"events": [jump("BTC", 1.5, 1.5), jump("ETH", 1.5, 1.5)], "insurance.initial": 0.0,
         "agents.traders": 200}


@pytest.fixture(scope="module", params=["unhedged", "hedged", "usdc_insurance"])
def crash(request):
    """BTC and ETH up 4.5-fold in an hour: liquidations, bad debt, ADL and a drained pool."""
    extra = {"unhedged": {}, "hedged": {"pool.hedge": "delta"},
             "usdc_insurance": {"insurance.denomination": "usdc", "insurance.initial": 0.01}}[request.param]
    model = finished(tiny({**CRASH, **extra}))
    return model, model.summary(), model.timeseries(), model.events_frame()


def test_the_split_sums_through_liquidations_bad_debt_adl_and_a_hedge(crash):
    model, s, _, _ = crash
    assert s["bad_debt_usd"] > 0 and s["adl_usd"] > 0 and s["liquidations"] > 0
    assert_split_sums(s)
    for ms in s["markets"].values():
        split = ms["lp_pnl_split_usd"]
        assert split["bad_debt"] == pytest.approx(-ms["bad_debt_lp_usd"], rel=1e-9, abs=1e-6)
        assert split["withdrawal_fees"] == 0.0
        if model.spec.pool.hedge == "none":
            assert split["hedge_pnl"] == split["hedge_cost"] == 0.0
        else:
            assert split["hedge_cost"] < 0.0


def test_a_drained_pool_is_flagged_and_not_averaged_with_healthy_ones(crash):
    _, s, ts, _ = crash
    drained = s["markets_drained"]
    assert drained, "the crash drains a pool"
    for name in drained:
        nav = ts[f"pool_nav_tokens[{name}]"].to_numpy()
        start = nav[metrics._start_index(ts)]
        assert (nav < metrics.DRAINED_FRACTION * start).any()
    healthy = [n for n in s["markets"] if n not in drained]
    assert s["lp_return_markets_averaged"] == healthy
    if healthy:
        assert s["lp_return_mw_token"] == pytest.approx(np.mean([s["markets"][n]["lp_return_mw_token"]
                                                                 for n in healthy]))
    else:
        assert s["lp_return_mw_token"] is None


def test_liquidations_count_the_notional_closed(crash):
    _, s, ts, ev = crash
    liq = ev[ev["kind"] == "liquidation"]
    post = liq[liq["step"] >= metrics._start_index(ts) + 1]
    assert post["notional_usd"].sum() == pytest.approx(s["liquidations_usd"], rel=1e-12)
    assert (liq["notional_usd"] > 0).all()
    assert s["liquidations_usd"] == pytest.approx(sum(m["liquidations_notional_usd"] for m in s["markets"].values()))


def test_utilization_is_not_clipped(crash):
    _, _, ts, _ = crash
    util = np.concatenate([ts[f"utilization[{m}]"].to_numpy() for m in ("TSLA.M", "NVDA.M")])
    assert np.nanmax(util) > SPREAD_UTILIZATION_CAP      # the old series stopped at 10


# ---------------------------------------------------------------- returns
def test_modified_dietz_by_hand():
    # 100 in the pool, 10 deposited half-way, 120 at the end: 10 / 105
    assert metrics.modified_dietz(100.0, 120.0, np.array([10.0]), np.array([0.5])) == pytest.approx(10 / 105)
    # no flow: the plain return
    assert metrics.modified_dietz(80.0, 88.0, np.zeros(0), np.zeros(0)) == pytest.approx(0.1)
    assert metrics.modified_dietz(0.0, 5.0, np.zeros(0), np.zeros(0)) is None


def test_annualized_compounds():
    assert metrics.annualized(0.01, 36.5) == pytest.approx(1.01 ** 10 - 1)
    assert metrics.annualized(-1.2, 10.0) == -1.0
    assert metrics.annualized(None, 10.0) is None


@pytest.fixture(scope="module")
def calm():
    model = finished(tiny({"clock.days": 6, "agents.traders": 60}), seed=5)
    return model, model.summary(), model.timeseries(), model.events_frame()


def test_money_weighted_return_by_hand_from_the_time_series(calm):
    _, s, ts, _ = calm
    i0 = metrics._start_index(ts)
    for name, ms in s["markets"].items():
        nav = ts[f"pool_nav_tokens[{name}]"].to_numpy()
        flows = (ts[f"lp_deposit_tokens[{name}]"] - ts[f"lp_withdrawal_tokens[{name}]"]).to_numpy()[i0 + 1:]
        n = len(flows)
        w = (n - np.arange(n) - 0.5) / n
        expected = (nav[-1] - nav[i0] - flows.sum()) / (nav[i0] + (w * flows).sum())
        assert ms["lp_return_mw_token"] == pytest.approx(expected, rel=1e-12)
        days = n * 60 / 1440
        assert ms["lp_return_mw_token_annual"] == pytest.approx((1 + expected) ** (365 / days) - 1)
        sp = ts[f"lp_share_price[{name}]"].to_numpy()
        assert ms["share_price_return_token"] == pytest.approx(sp[-1] / sp[i0] - 1)


# ---------------------------------------------------------------- events and volumes
def test_trade_events_name_what_was_traded(calm):
    _, _, ts, ev = calm
    trades = ev[ev["kind"].isin(["trade", "close"])]
    assert len(trades) > 50
    opening = trades["kind"] == "trade"
    long_ = trades["side"] == "long"
    assert (long_[opening] == (trades["size"][opening] > 0)).all()
    assert (long_[~opening] == (trades["size"][~opening] < 0)).all()   # a close names the side it closed
    perp = trades["product"] == "perp"
    assert set(trades["product"]) <= {"call", "put", "perp"} and perp.any() and (~perp).any()
    assert (trades["strike"][perp] == 0).all() and (trades["strike"][~perp] > 0).all()
    price = {u: ts.set_index("step")[f"price[{u}]"] for u in ("BTC", "ETH")}
    spot = np.array([price[u][s] for u, s in zip(trades["underlying"], trades["step"], strict=True)])
    np.testing.assert_allclose(trades["notional_usd"], np.abs(trades["size"]) * spot, rtol=1e-12)
    by_trader = trades["agent_kind"] == "trader"
    assert set(trades["style"][by_trader]) <= {"momentum", "mean_reversion", "volatility", "noise"}
    assert (trades["style"][~by_trader] == "").all()
    lev = trades["leverage_use"]
    perp_opens = perp & opening
    assert lev[perp_opens].notna().all() and lev[~perp_opens].isna().all()
    assert ((lev[perp_opens] > 0) & (lev[perp_opens] <= 1 + 1e-9)).all()


def test_option_and_perp_volume_apart_match_the_events(calm):
    _, s, ts, ev = calm
    trades = ev[ev["kind"].isin(["trade", "close"])]
    for name in ("TSLA.M", "NVDA.M"):
        t = trades[trades["market"] == name]
        perp = t["product"] == "perp"
        assert ts[f"perp_volume_usd[{name}]"].sum() == pytest.approx(t["notional_usd"][perp].sum())
        assert ts[f"option_volume_usd[{name}]"].sum() == pytest.approx(t["notional_usd"][~perp].sum())
        np.testing.assert_allclose(ts[f"option_volume_usd[{name}]"] + ts[f"perp_volume_usd[{name}]"],
                                   ts[f"volume_usd[{name}]"], rtol=1e-12)
    post = trades[trades["step"] > metrics._start_index(ts)]
    assert s["option_volume_usd"] == pytest.approx(post["notional_usd"][post["product"] != "perp"].sum())


def test_lp_deposits_are_events(calm):
    model, _, ts, ev = calm
    dep = ev[ev["kind"] == "lp_deposit"]
    initial = dep[(dep["step"] == 0) & (dep["agent_kind"] == "liquidity_provider")]
    assert len(initial) == model.spec.agents.liquidity_providers          # the initial LPs
    assert set(dep["agent_kind"]) <= {"liquidity_provider", "trader", "treasury"}
    for name in ("TSLA.M", "NVDA.M"):
        assert dep[dep["market"] == name]["amount_tokens"].sum() == pytest.approx(
            ts[f"lp_deposit_tokens[{name}]"].sum())


def test_latent_values_of_stocks_beside_their_prices(calm):
    _, _, ts, _ = calm
    assert "latent[TSLA]" in ts and "latent[NVDA]" in ts and "latent[BTC]" not in ts
    open_ = ts["market_open"].to_numpy(dtype=bool)
    assert open_.any() and (~open_).any()
    np.testing.assert_allclose(ts["latent[TSLA]"][open_], ts["price[TSLA]"][open_], rtol=1e-12)
    assert not np.allclose(ts["latent[TSLA]"][~open_], ts["price[TSLA]"][~open_])   # news while closed


def test_traders_who_lost_money_and_option_opens_are_counted_from_the_accounts(calm):
    model, s, _, ev = calm
    pnl = metrics.trader_pnl_usd(model)
    trades = ev[ev["kind"].isin(["trade", "close"]) & (ev["agent_kind"] == "trader")]
    traded_after = set(trades[trades["step"] >= model.spec.burn_in_steps]["agent"])
    assert s["traders_counted"] == len(traded_after) > 10
    lost = pnl[pnl["agent"].isin(traded_after) & (pnl["pnl_usd"] < 0)]
    assert s["traders_lost_money"] == len(lost)
    assert s["traders_lost_money_share"] == pytest.approx(len(lost) / len(traded_after))
    opens = trades[(trades["kind"] == "trade") & (trades["product"] != "perp")
                   & (trades["step"] >= model.spec.burn_in_steps)]
    assert s["option_opens_directional"] == len(opens)
    assert s["option_opens_directional_short"] == int((opens["side"] == "short").sum())


# ---------------------------------------------------------------- one market, by hand
def test_an_accounts_trading_pnl_is_its_collateral_change_at_a_constant_price():
    v = Venue()
    v.lp(20_000.0)
    a = v.trader(50.0)
    m, sb = v.market, v.series
    q0 = float(m.book.collateral[a])
    call = sb.listed_near(0, 0.0, True)
    p = m.open_position(a, call, 0.2)
    for _ in range(5):                              # five hours of funding
        m.settle_step(DT_YEARS, [], lambda: np.random.default_rng(0), 0)
    v.move_btc(BTC * 1.03)
    m.close_position(p, 1.0)
    m.take_book_stats()
    assert m.account_pnl_usd[a] == pytest.approx((float(m.book.collateral[a]) - q0) * PRICE, rel=1e-12)
    assert m.account_pnl_usd[a] != 0.0
    st = m.stats
    flows = (st.pool_spread_tokens + st.pool_fee_tokens + st.pool_funding_tokens
             + st.pool_perp_funding_tokens + st.pool_realized_tokens)
    pool_now = m.ledger.balance(m.pool_holder, "TSLA.M")
    assert flows == pytest.approx(pool_now - 20_000.0, abs=1e-9)


def _largest_perp(m, a, s) -> float:
    """The largest long perp size the initial-margin rule (design 6) lets account ``a`` open,
    by bisection on the book's own margin function, spread and fee included."""
    book, cfg = m.book, m.cfg
    mark, spot = float(m.series.mark[s]), float(m.series.spot[s])

    def ok(n: float) -> bool:
        cost = n * mark * cfg.perp_spread + n * spot * cfg.notional_fee
        eq, _, ir = book.margin(a, s, n, mark, -cost / m.price_in)
        return eq >= ir

    lo, hi = 0.0, 1.0
    while ok(hi):
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


@pytest.mark.parametrize("share", [0.25, 0.6, 0.97])
def test_perp_leverage_use_is_the_share_of_the_largest_size_the_rules_allow(share):
    v = Venue()
    v.lp(20_000.0)
    a = v.trader(40.0)
    m = v.market
    s = v.series.perp_of[0]
    n_max = _largest_perp(m, a, s)
    assert m.open_position(a, s, share * n_max) is not None
    m.take_book_stats()
    assert m.stats.trade_leverage_use[0] == pytest.approx(share, rel=1e-6)


def test_a_liquidation_counts_the_notional_it_closed_not_its_pnl():
    v = Venue()
    v.lp(20_000.0)
    a = v.trader(40.0)
    m = v.market
    s = v.series.perp_of[0]
    p = m.open_position(a, s, 0.95 * _largest_perp(m, a, s))
    n = float(m.book.pos_size[p])
    v.move_btc(BTC * 0.8)
    m.settle_step(DT_YEARS, [], lambda: np.random.default_rng(0), 0)
    closed = n - float(m.book.pos_size[p])
    assert m.stats.liquidations == 1 and closed > 0
    assert m.stats.liquidations_usd == pytest.approx(closed * BTC * 0.8, rel=1e-12)
    (event,) = [e for e in m.stats.events if isinstance(e, LiquidationEvent)]
    assert event.notional_usd == pytest.approx(closed * BTC * 0.8, rel=1e-12)

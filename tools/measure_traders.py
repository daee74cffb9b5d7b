"""Ad hoc measurement of the trader rows of design 18 (issue 8 items 1-3), until
``flywheel calibrate`` exists: run a scenario over seeds and print, per seed and pooled,

- short share of option positions opened by directional traders, and vol traders' sides;
- perp leverage at entry as a fraction of the most the margin rules allowed (p95, pooled);
- largest single AMM sale by a trader or LP / that AMM's USD reserve before the sale;
- share of directional traders (who traded) that lost money: collateral in tokens now minus
  deposits plus withdrawals plus unrealized PnL (the trading PnL net of the token's move);
- option + perp volume per year / mean pool NAV, per market (after the burn-in);
- LP money-weighted return in token per year (modified Dietz after the burn-in, flows =
  deposits and paid withdrawals), per market, beside the share-price return.

Usage: .venv/bin/python tools/measure_traders.py [SCENARIO] [--seeds 1,2,3] [--set path=value ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, ".")


def measure(args: tuple[str, int, dict]) -> dict:
    scenario, seed, overrides = args
    from agents import DirectionalTrader, LiquidityProvider
    from sim.market.amm import SpotAmm
    from sim.model import FlywheelModel
    from sim.protocol.options_market import OptionsMarket

    sales: list[tuple[int, float]] = []            # (wallet, sale USD / reserve USD)
    flows: dict[tuple[str, int], float] = defaultdict(float)   # (market, account) -> net tokens in
    deposits: list[tuple[str, int, float]] = []     # (market, step, tokens) LP deposits
    model_ref: list = []

    orig_sell, orig_dep = SpotAmm.sell_tokens, OptionsMarket.deposit_collateral
    orig_wd, orig_lp = OptionsMarket.withdraw_collateral, OptionsMarket.lp_deposit

    def sell(self, trader, tokens_in):
        if self.has_liquidity:
            sales.append((trader, tokens_in * self.price / self.reserve_usd))
        return orig_sell(self, trader, tokens_in)

    def dep(self, account, wallet, tokens):
        moved = orig_dep(self, account, wallet, tokens)
        flows[(self.token, account)] += moved
        return moved

    def wd(self, account, wallet, tokens=None):
        moved = orig_wd(self, account, wallet, tokens)
        flows[(self.token, account)] -= moved
        return moved

    def lpdep(self, lp, wallet, tokens):
        shares = orig_lp(self, lp, wallet, tokens)
        if shares > 0 and model_ref:
            deposits.append((self.token, model_ref[0].step_count, tokens))
        return shares

    SpotAmm.sell_tokens, OptionsMarket.deposit_collateral = sell, dep
    OptionsMarket.withdraw_collateral, OptionsMarket.lp_deposit = wd, lpdep
    m = FlywheelModel(scenario, rng=seed, overrides=overrides)
    model_ref.append(m)
    m.run_for(m.n_steps)
    traders = [a for a in m.agents if isinstance(a, DirectionalTrader)]
    lps = [a for a in m.agents if isinstance(a, LiquidityProvider)]
    trader_wallets = {a.wallet for a in traders}
    lp_wallets = {a.wallet for a in lps}
    out: dict = {"seed": seed}
    entries = [(a.style, e) for a in traders for e in a.entries]
    directional_opts = [e for _, e in entries if e.product != "perp"]
    out["dir_option_positions"] = len(directional_opts)
    out["dir_short_share"] = (sum(e.short for e in directional_opts) / len(directional_opts)
                              if directional_opts else float("nan"))
    for style in ("momentum", "mean_reversion", "volatility", "noise"):
        opts = [e for s, e in entries if s == style and e.product != "perp"]
        out[f"{style}_long_short"] = (sum(not e.short for e in opts), sum(e.short for e in opts))
    perp = [e.leverage_fraction for _, e in entries if e.product == "perp"]
    out["perp_entries"] = len(perp)
    out["perp_lev_frac_p95"] = float(np.percentile(perp, 95)) if perp else float("nan")
    out["perp_lev_frac_median"] = float(np.median(perp)) if perp else float("nan")
    out["max_sale_share_trader"] = max([r for w, r in sales if w in trader_wallets], default=0.0)
    out["max_sale_share_lp"] = max([r for w, r in sales if w in lp_wallets], default=0.0)
    out["max_sale_share_any"] = max([r for _, r in sales], default=0.0)
    lost = n = 0
    by_style: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for a in traders:
        if not a.entries:
            continue
        mk = a.market
        q = float(mk.book.collateral[a.account])
        upnl = sum(mk.position_pnl_usd(p) for p in mk.positions_of(a.account)) / mk.price
        pnl = q - flows[(mk.token, a.account)] + upnl
        n += 1
        lost += pnl < 0
        by_style[a.style][0] += pnl < 0
        by_style[a.style][1] += 1
    out["traders_who_traded"] = n
    out["share_lost"] = lost / n if n else float("nan")
    for style, (k, total) in by_style.items():
        out[f"share_lost[{style}]"] = k / total
    ts = m.timeseries()
    ev = m.events_frame()
    post = ts[~ts["burn_in"]]
    days = len(post) * m.step_days
    b0 = int(post["step"].iloc[0])
    T = int(post["step"].iloc[-1]) - b0 + 1
    for name in m.markets:
        nav_usd = post[f"pool_nav_usd[{name}]"].mean()
        vol = post[f"volume_usd[{name}]"].sum()
        out[f"turnover[{name}]"] = vol / nav_usd * 365.0 / days
        v0 = float(ts[f"pool_nav_tokens[{name}]"].iloc[b0 - 1]) if b0 > 0 else float(
            ts[f"pool_nav_tokens[{name}]"].iloc[0])
        v1 = float(post[f"pool_nav_tokens[{name}]"].iloc[-1])
        fl = [(st, tok) for mk, st, tok in deposits if mk == name and st >= b0]
        w = ev[(ev["kind"] == "withdrawal") & (ev["market"] == name) & (ev["step"] >= b0)]
        fl += [(int(st), -float(tok)) for st, tok in zip(w["step"], w["amount_tokens"])]
        F = sum(f for _, f in fl)
        denom = v0 + sum(f * (T - (st - b0)) / T for st, f in fl)
        r = (v1 - v0 - F) / denom if denom > 0 else float("nan")
        out[f"lp_mw_token_yr[{name}]"] = (1.0 + r) ** (365.0 / days) - 1.0 if r > -1 else -1.0
        sp = post[f"lp_share_price[{name}]"]
        sp0 = float(ts[f"lp_share_price[{name}]"].iloc[b0 - 1]) if b0 > 0 else 1.0
        out[f"lp_share_price_yr[{name}]"] = (float(sp.iloc[-1]) / sp0) ** (365.0 / days) - 1.0
    s = m.summary()
    out["liquidations"] = s["liquidations"]
    out["bad_debt_usd"] = s["bad_debt_usd"]
    out["conservation"] = s["conservation_max_error"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", nargs="?", default="scenarios/baseline.yaml")
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    overrides = {}
    for kv in a.set:
        k, v = kv.split("=", 1)
        overrides[k] = json.loads(v) if v[:1] in "0123456789-[{tf" else v
    seeds = [int(x) for x in a.seeds.split(",")]
    with ProcessPoolExecutor(a.workers) as ex:
        rows = list(ex.map(measure, [(a.scenario, s, overrides) for s in seeds]))
    for r in rows:
        print(json.dumps(r, default=float))
    def pooled(key):
        vals = [r[key] for r in rows]
        return f"median {np.median(vals):.3g} (min {np.min(vals):.3g}, max {np.max(vals):.3g})"
    print("--- over seeds")
    for key in rows[0]:
        if key != "seed" and isinstance(rows[0][key], (int, float)):
            print(f"{key}: {pooled(key)}")


if __name__ == "__main__":
    main()

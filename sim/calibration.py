"""``flywheel calibrate``: does the calm baseline look like the markets it stands for (design 18)?

The table of design section 18, measured: the baseline over ``seeds`` seeds (its twin with the
informed off-hours flow switched off, and the same seeds over a year beside the loss-share row:
its anchor's own window), and the crash, black Thursday (and its crypto fall in one step), pin
and premium scenarios shipped beside it over ``shock_seeds`` seeds. Each run is reduced to a few numbers in
the worker that ran it (``measure``); each row then applies its own estimator over seeds
(median with the 10th-90th percentile range, or pooled, or "every seed") and checks its target.
A miss is reported with its numbers, never hidden: that is a finding for the design.

Runs are stored under ``out`` like any run (``sim.run``), so a second calibration with the same
code and seeds loads them instead of recomputing.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import UserInputError
from sim.study.text import pct

_signed_pct = partial(pct, signed=True)     # +12.3%

SHOCK_FILES = {                     # label -> the shipped scenario the shock rows run
    "crash": "crypto_crash.yaml",
    "black_thursday": "black_thursday.yaml",
    "pin": "pin.yaml",
    "premium": "premium.yaml",
}
UNINFORMED = ("agents.market_maker.offhours_informed=false",
              "agents.arbitrageur.offhours_informed=false")
PIN_WINDOW_HOURS = 6.0              # design 18: liquidations and reversion within 6 hours
ANCHOR_YEAR_DAYS = 365.0            # ESMA's loss share covers the 12 months before each report


@dataclass(frozen=True)
class Job:
    """One run the table needs: a label (which rows read it), a scenario file, overrides, a seed."""

    label: str
    path: str
    overrides: tuple[str, ...]
    seed: int


def plan(baseline: str | Path, seeds: int, shock_seeds: int, shocks_dir: str | Path | None = None,
         days: float | None = None) -> list[Job]:
    """Every run of the table: the baseline (``days`` shortens it: the short version in tests,
    which then leaves out the year-long runs), its uninformed twin, the same seeds over
    ``ANCHOR_YEAR_DAYS`` (the loss-share row's context, not its estimator: first, the longest
    runs, so no worker is left with one at the end), and each shock row's runs."""
    baseline = str(baseline)
    folder = Path(shocks_dir) if shocks_dir is not None else Path(baseline).parent
    short = (f"clock.days={days}",) if days is not None else ()
    year = () if days is not None else (f"clock.days={ANCHOR_YEAR_DAYS:g}",)
    jobs = [Job("year", baseline, year, s) for s in range(seeds)] if year else []
    jobs += [Job("baseline", baseline, short, s) for s in range(seeds)]
    jobs += [Job("uninformed", baseline, short + UNINFORMED, s) for s in range(seeds)]
    no_insurance = ("insurance.initial=0",)
    pin_path = str(folder / SHOCK_FILES["pin"])
    pin_token = _pin_event(pin_path)[0]
    bt_path = str(folder / SHOCK_FILES["black_thursday"])
    bt_one_step = one_step_crypto_override(bt_path)
    for s in range(shock_seeds):
        jobs.append(Job("crash", str(folder / SHOCK_FILES["crash"]), no_insurance, s))
        jobs.append(Job("black_thursday", bt_path, no_insurance, s))
        jobs.append(Job("black_thursday_insured", bt_path, ("insurance.initial=0.05",), s))
        jobs.append(Job("black_thursday_one_step", bt_path, no_insurance + (bt_one_step,), s))
        for oracle in ("amm_spot", "nav"):
            oracle_set = (f"markets.{pin_token}.oracle={oracle}",)
            jobs.append(Job(f"pin_{oracle}", pin_path, oracle_set, s))
            jobs.append(Job(f"nopin_{oracle}", pin_path, oracle_set + ("events=[]",), s))
        jobs.append(Job("premium", str(folder / SHOCK_FILES["premium"]), (), s))
    return jobs


def one_step_crypto_override(path: str) -> str:
    """The ``events=[...]`` override that puts each crypto asset's jumps of the scenario at
    ``path`` into one jump of their summed log size at the first one's time (its other events
    kept): the same day's fall seen by the liquidation engine in one step, what the Black
    Thursday row is read beside: a fall beyond the margin cushion of design 6 within one step,
    or only beyond it over the day."""
    from sim.scenario import load_scenario

    sc = load_scenario(path)
    kept, first, total = [], {}, {}
    for ev in sc.events:
        data = ev.model_dump(exclude_none=True)
        if ev.kind != "crypto_jump":
            kept.append(data)
        elif ev.asset not in first:
            first[ev.asset], total[ev.asset] = data, ev.size
        else:
            total[ev.asset] += ev.size
    if not first:
        raise UserInputError(f"{path}: the Black Thursday row needs crypto_jump events in this scenario")
    jumps = [dict(data, size=round(total[asset], 6)) for asset, data in first.items()]
    return "events=" + json.dumps(kept + jumps)


def _pin_event(path: str, overrides: Sequence[str] = ()) -> tuple[str, Any, Any]:
    """(token, event, scenario) of the first pin event of the pin scenario."""
    from sim.scenario import load_scenario

    sc = load_scenario(path, overrides)
    pins = [ev for ev in sc.events if ev.kind == "pin"]
    if not pins:
        raise UserInputError(f"{path}: the pin rows need a pin event in this scenario")
    return pins[0].token, pins[0], sc


# ---------------------------------------------------------------------- one run -> numbers
def measure(job: Job, out: str | None) -> dict[str, Any]:
    """Run ``job`` (or load it from ``out``) and reduce it to what the rows read."""
    from sim.run import run
    from sim.scenario import load_scenario

    sc = load_scenario(job.path, job.overrides)
    res = run(sc, seed=job.seed, out=out, charts=False)
    ts, ev, s = res.timeseries, res.events, res.summary
    m: dict[str, Any] = {"label": job.label, "seed": job.seed, "scenario": sc.name,
                         "liquidations": int(s["liquidations"]),
                         "bad_debt_usd": float(s["bad_debt_usd"]),
                         "bad_debt_lp_usd": float(sum(v["bad_debt_lp_usd"]
                                                      for v in s["markets"].values())),
                         "conservation_max_error": float(s["conservation_max_error"])}
    if job.label in ("baseline", "uninformed"):
        m["offhours_gap"] = offhours_gaps(ts, sc)
    if job.label == "baseline":
        m.update(_baseline_measures(ts, ev, s, sc))
    if job.label == "year":
        m["traders_lost_money_share"] = float(s["traders_lost_money_share"])
        m["days"] = float(sc.clock.days)
    if job.label.startswith(("pin_", "nopin_")):
        token, event, _ = _pin_event(job.path, job.overrides[:1])
        m.update(_pin_measures(ts, sc, token, sc.event_step(event)))
    if job.label.startswith(("crash", "black_thursday")):
        m["liq_24h"] = liquidations_after_first_jump(ts, sc, hours=24.0)
    if job.label == "premium":
        tokens = {e.token for e in sc.events if e.kind == "premium"}
        post = ts[~ts["burn_in"]]
        m["peak_premium"] = float(max(post[f"premium[{t}]"].max() for t in tokens))
    return m


def _baseline_measures(ts: pd.DataFrame, ev: pd.DataFrame, s: Mapping[str, Any], sc) -> dict:
    post = ts[~ts["burn_in"]]
    days = len(post) * sc.clock.step_minutes / 1440.0
    per_market = {}
    for name, v in s["markets"].items():
        volume = v["option_volume_usd"] + v["perp_volume_usd"]
        nav = v["pool_nav_mean_usd"]
        per_market[name] = {
            "lp_return_year": _number(v["lp_return_mw_token_annual"]),
            "drained": bool(v["drained_ever"]),
            "turnover_year": float(volume / nav * 365.0 / days) if nav > 0 else float("inf"),
            "perp_funding_abs": float(v["perp_funding_rate_abs_mean"]),
        }
    perp_opens = ev[(ev["kind"] == "trade") & (ev["product"] == "perp")
                    & (ev["step"] >= sc.burn_in_steps)]
    leverage = perp_opens["leverage_use"].to_numpy(dtype=float)
    inside, counted = premium_band_counts(ts, sc)
    return {
        "markets": per_market,
        "traders_lost_money_share": float(s["traders_lost_money_share"]),
        "option_opens": int(s["option_opens_directional"]),
        "option_opens_short": int(s["option_opens_directional_short"]),
        "perp_leverage_use": leverage[np.isfinite(leverage)].tolist(),
        "band_inside": inside, "band_counted": counted,
    }


def _number(value: float | None) -> float:
    """A summary figure, NaN where it is None (e.g. a return with nothing invested)."""
    return float("nan") if value is None else float(value)


def premium_band_counts(ts: pd.DataFrame, sc) -> tuple[int, int]:
    """(inside, counted): open-market steps after the burn-in where an arbitrageur acted, and
    those where the premium after it lies in the band of design 4 widened by ``min_edge``."""
    edge = sc.agents.arbitrageur.min_edge
    acted = (~ts["burn_in"]) & ts["market_open"] & (ts["arbitrageurs_acted"] > 0)
    inside = counted = 0
    for name, tok in sc.tokens.items():
        fee, iss = tok.amm.fee, tok.issuer
        low = (1 - iss.redeem_fee) * (1 - fee) * (1 - edge) - 1
        high = (1 + iss.mint_fee) / (1 - fee) * (1 + edge) - 1
        prem = ts.loc[acted, f"premium_after_arb[{name}]"].to_numpy(dtype=float)
        counted += len(prem)
        inside += int(((prem >= low - 1e-12) & (prem <= high + 1e-12)).sum())
    return inside, counted


def latent_fair(ts: pd.DataFrame, sc, token: str) -> np.ndarray:
    """USD per token the latent stock value implies: latent x backing (backing = NAV / the
    official price, which holds the split multiplier too)."""
    asset = sc.tokens[token].underlying
    return (ts[f"latent[{asset}]"] * ts[f"nav[{token}]"] / ts[f"price[{asset}]"]).to_numpy(dtype=float)


def offhours_gaps(ts: pd.DataFrame, sc) -> dict[str, float]:
    """Per token: median over closed hours after the burn-in of |AMM price / latent fair - 1|."""
    closed = ((~ts["burn_in"]) & (~ts["market_open"])).to_numpy()
    out = {}
    for token in sc.tokens:
        gap = np.abs(ts[f"amm_price[{token}]"].to_numpy(dtype=float) / latent_fair(ts, sc, token) - 1)
        out[token] = float(np.median(gap[closed])) if closed.any() else float("nan")
    return out


def liquidations_after_first_jump(ts: pd.DataFrame, sc, hours: float) -> int:
    """Liquidations in the ``hours`` from the scenario's first crypto jump (the crash itself,
    not the run's ordinary liquidations)."""
    steps = [sc.event_step(e) for e in sc.events if e.kind == "crypto_jump"]
    if not steps:
        return 0
    k, window = min(steps), int(round(hours * 60 / sc.clock.step_minutes))
    return int(ts.loc[(ts["step"] >= k) & (ts["step"] < k + window), "liquidations"].sum())


def _pin_measures(ts: pd.DataFrame, sc, token: str, step: int) -> dict[str, Any]:
    window = int(round(PIN_WINDOW_HOURS * 60 / sc.clock.step_minutes))
    after = ts[(ts["step"] >= step) & (ts["step"] < step + window)]
    gap = np.abs(ts[f"amm_price[{token}]"].to_numpy(dtype=float) / latent_fair(ts, sc, token) - 1)
    steps = ts["step"].to_numpy()
    within = np.flatnonzero((steps > step) & (steps <= step + window) & (gap <= 0.05))
    hours = float((steps[within[0]] - step) * sc.clock.step_minutes / 60) if within.size else None
    return {"liq_6h": int(after[f"liquidations[{token}]"].sum()),   # the pinned market's
            "gap_at_pin": float(gap[steps == step][0]) if (steps == step).any() else float("nan"),
            "hours_to_5pct": hours}


# ---------------------------------------------------------------------- rows
@dataclass
class Verdict:
    """One row's outcome: the model value (with its range), pass or miss, and a note."""

    value: str
    passed: bool
    note: str = ""


@dataclass
class Row:
    moment: str
    estimator: str
    target: str
    anchor: str
    judge: Callable[[Mapping[str, list[dict]]], Verdict] = field(repr=False)


def _spread(values: Sequence[float], fmt: Callable[[float], str]) -> tuple[float, str]:
    """(median, "median (p10 to p90)") over ``values``."""
    a = np.asarray(values, dtype=float)
    med, lo, hi = np.median(a), np.percentile(a, 10), np.percentile(a, 90)
    return float(med), f"{fmt(med)} ({fmt(lo)} to {fmt(hi)})"


def _market_values(runs: Sequence[dict], key: str) -> list[float]:
    return [mk[key] for r in runs for mk in r["markets"].values()]


def judge_lp_return(runs: Mapping[str, list[dict]]) -> Verdict:
    base = runs["baseline"]
    vals = [v for v in _market_values(base, "lp_return_year") if np.isfinite(v)]
    if not vals:
        return Verdict("no LP money invested after the burn-in", False, "nothing to measure")
    med, text = _spread(vals, _signed_pct)
    lo, hi = np.percentile(vals, 10), np.percentile(vals, 90)
    drained = sum(mk["drained"] for r in base for mk in r["markets"].values())
    text += f"; {drained} of {len(vals)} pools drained" if drained else ""
    ok = 0.0 <= med <= 0.25 and lo >= -0.30 and hi <= 0.40
    return Verdict(text, ok, "" if ok else "median or the 10th-90th range is outside the target")


def _median_within(values: Sequence[float], fmt: Callable[[float], str], low: float, high: float,
                   miss: str) -> Verdict:
    """A row whose target is a range for the median over its units."""
    med, text = _spread(values, fmt)
    ok = low <= med <= high
    return Verdict(text, ok, "" if ok else miss)


def judge_lost_money(runs):
    v = _median_within([r["traders_lost_money_share"] for r in runs["baseline"]], pct,
                       0.60, 0.85, "median outside 60-85%")
    year = [r["traders_lost_money_share"] for r in runs.get("year", [])]
    if not year:
        return v
    days = runs["year"][0].get("days", ANCHOR_YEAR_DAYS)
    med, text = _spread(year, pct)
    context = f"over {days:g} days (ESMA's own window is 12 months): {text}"
    note = v.note and f"{v.note}; {context}, {'inside' if 0.60 <= med <= 0.85 else 'outside'} it"
    return Verdict(f"{v.value}; {context}", v.passed, note)


def judge_shorts(runs):
    share, short, opens = _pooled_share(runs["baseline"], "option_opens_short", "option_opens")
    ok = share >= 0.20
    return Verdict(f"{100 * share:.1f}% ({short:,} of {opens:,})", ok, "" if ok else "below 20%")


def judge_turnover(runs):
    return _median_within(_market_values(runs["baseline"], "turnover_year"), lambda x: f"{x:.0f}x",
                          20.0, 200.0, "median turnover outside 20-200x a year")


def judge_perp_funding(runs):
    return _median_within(_market_values(runs["baseline"], "perp_funding_abs"),
                          pct, 0.05, 0.20, "median outside 5-20% a year")


def judge_leverage(runs):
    lev = [x for r in runs["baseline"] for x in r["perp_leverage_use"]]
    if not lev:
        return Verdict("no perp opens", False, "no perpetual future was opened")
    p95 = float(np.percentile(lev, 95))
    ok = p95 >= 0.9
    return Verdict(f"{p95:.2f} (median {np.median(lev):.2f}, n={len(lev):,})", ok,
                   "" if ok else "traders leave room the rules give")


def _pooled_share(runs: Sequence[dict], part: str, whole: str) -> tuple[float, int, int]:
    """(share, part, whole) summed over runs."""
    n = sum(r[part] for r in runs)
    total = sum(r[whole] for r in runs)
    return (n / total if total else 0.0), n, total


def judge_band(runs):
    share, _, counted = _pooled_share(runs["baseline"], "band_inside", "band_counted")
    ok = share >= 0.99
    return Verdict(f"{100 * share:.2f}% of {counted:,} steps", ok, "" if ok else "below 99%")


def judge_offhours(runs):
    informed = [g for r in runs["baseline"] for g in r["offhours_gap"].values()]
    blind = [g for r in runs["uninformed"] for g in r["offhours_gap"].values()]
    med, text = _spread(informed, lambda x: f"{100 * x:.2f}%")
    med_blind = float(np.median(blind))
    ok = med <= 0.01 and med <= 0.5 * med_blind
    return Verdict(f"{text}; without informed flow {100 * med_blind:.2f}%", ok,
                   "" if ok else "above 1%, or not half of the uninformed twin")


def _every_seed(label: str, runs, test: Callable[[dict], bool]) -> tuple[int, int]:
    return sum(bool(test(r)) for r in runs[label]), len(runs[label])


def judge_crash(runs):
    hit, n = _every_seed("crash", runs, lambda r: r["liq_24h"] > 0)
    liq = [r["liq_24h"] for r in runs["crash"]]
    debt = [r["bad_debt_usd"] for r in runs["crash"]]
    value = (f"liquidations within 24 h in {hit} of {n} seeds ({min(liq)} to {max(liq)}); "
             f"bad debt in {sum(d > 0 for d in debt)} seeds, at most ${max(debt):,.0f}")
    return Verdict(value, hit == n, "" if hit == n else "a seed with no liquidation")


def judge_black_thursday(runs):
    hit, n = _every_seed("black_thursday", runs, lambda r: r["bad_debt_usd"] > 0)
    covered = sum(r["bad_debt_usd"] > 0 and r["bad_debt_lp_usd"] <= 0
                  for r in runs["black_thursday_insured"])
    debt = [r["bad_debt_usd"] for r in runs["black_thursday"]]
    liq = [r["liq_24h"] for r in runs["black_thursday"]]
    value = (f"bad debt in {hit} of {n} seeds (up to ${max(debt):,.0f}; {min(liq)} to {max(liq)} "
             f"liquidations within 24 h); with 5% insurance "
             f"covered in {covered} of {len(runs['black_thursday_insured'])}")
    one = runs.get("black_thursday_one_step", [])
    one_hit = sum(r["bad_debt_usd"] > 0 for r in one)
    if one:
        value += (f"; the day's crypto fall in one step: bad debt in {one_hit} of {len(one)} "
                  f"(up to ${max(r['bad_debt_usd'] for r in one):,.0f})")
    ok = hit >= 0.6 * n and covered > 0
    note = ""
    if not ok:
        note = "too few seeds with bad debt, or 5% insurance never covers it"
        if one and hit < 0.6 * n:
            note += (f"; the same fall in one liquidation step leaves bad debt in {one_hit} of "
                     f"{len(one)} seeds")
    return Verdict(value, ok, note)


def judge_pin(runs):
    spot = {r["seed"]: r for r in runs["pin_amm_spot"]}
    spot0 = {r["seed"]: r for r in runs["nopin_amm_spot"]}
    nav = {r["seed"]: r for r in runs["pin_nav"]}
    nav0 = {r["seed"]: r for r in runs["nopin_nav"]}
    seeds = sorted(spot)
    more = sum(spot[s]["liq_6h"] > spot0[s]["liq_6h"] for s in seeds)
    not_more = sum(nav[s]["liq_6h"] <= nav0[s]["liq_6h"] for s in seeds)
    back = [spot[s]["hours_to_5pct"] for s in seeds]
    reverted = sum(h is not None for h in back)
    hours = "/".join("never" if h is None else f"{h:.0f}h" for h in back)
    value = (f"amm_spot more liquidations in {more} of {len(seeds)}; nav none more in "
             f"{not_more} of {len(seeds)}; AMM within 5% of latent in {reverted} of {len(seeds)} "
             f"({hours}); median AMM gap at the end of the pin's hour "
             f"{np.median([spot[s]['gap_at_pin'] for s in seeds]):.0%}")
    n = len(seeds)
    ok = more == n and not_more == n and reverted == n
    return Verdict(value, ok, "" if ok else "a seed fails one of the three conditions")


def judge_premium(runs):
    peaks = [r["peak_premium"] for r in runs["premium"]]
    inside = sum(0.084 <= p <= 0.156 for p in peaks)
    ok = inside == len(peaks)
    return Verdict(f"{inside} of {len(peaks)} in band; peaks " + ", ".join(_signed_pct(p) for p in peaks),
                   ok, "" if ok else "a peak outside +8.4% to +15.6%")


ROWS = (
    Row("LP money-weighted return per year, in token", "per market and seed",
        "median 0% to +25%; 10th-90th inside -30% to +40%",
        "Lyra +2.1% in 3 weeks; Hegic writers -11.7%/-8.2% in 4 months; Ribbon -13.7%/yr in ETH; "
        "GMX GLP ~10-30%/yr", judge_lp_return),
    Row("share of directional traders who lost money", "per seed", "60-85%",
        "ESMA retail CFD disclosures: 74-89% lose", judge_lost_money),
    Row("short positions among option positions opened by directional traders", "pooled",
        "at least 20%", "76% of Hegic's volume was calls", judge_shorts),
    Row("option + perp volume per year / mean pool NAV", "per market and seed", "20-200x",
        "GMX GLP turnover ~50-150x TVL a year", judge_turnover),
    Row("perp funding rate, mean |rate| per year", "per market and seed", "5-20%",
        "0.01% per 8 h exchange baseline", judge_perp_funding),
    Row("perp leverage at entry, fraction of the most the rules allow", "pooled, 95th percentile",
        "at least 0.9", "retail perp venues offer 10-50x", judge_leverage),
    Row("premium after arbitrage inside the band of design 4 widened by min_edge",
        "pooled over open steps where an arbitrageur acted", "at least 99%", "design 4", judge_band),
    Row("closed-hours |AMM price / latent value - 1|, no shock", "per token and seed, median",
        "at most 1%, and at most half the run without informed flow",
        "weekend volume <= 30% of weekday (Gate Learn, Sealaunch)", judge_offhours),
    Row("crypto_crash.yaml (10 Oct 2025), insurance 0", "per seed",
        "liquidations in every seed; bad debt reported", "$19B liquidated, 1.6M accounts",
        judge_crash),
    Row("black_thursday.yaml (beyond the stress grid), insurance 0", "per seed",
        "bad debt in at least 3 of 5 seeds; 5% insurance covers it in some",
        "12 Mar 2020: MakerDAO ~$5M bad debt", judge_black_thursday),
    Row("pin.yaml (-35% weekend sell)", "per seed",
        "amm_spot: more liquidations in 6 h than without the pin; nav: no more; AMM within 5% "
        "of latent within 6 h", "design 4, 17", judge_pin),
    Row("premium.yaml (AAPLX +12% over NAV)", "per seed", "peak premium +8.4% to +15.6%",
        "AAPLX +12%, 3 Jul 2025", judge_premium),
)


# ---------------------------------------------------------------------- the whole table
@dataclass
class Table:
    """The calibration table: each row's verdict, and how it was measured."""

    rows: list[tuple[Row, Verdict]]
    seeds: int
    shock_seeds: int
    baseline: str
    runs: int
    year_days: float | None = ANCHOR_YEAR_DAYS   # the loss share's context runs (None: none ran)

    @property
    def all_pass(self) -> bool:
        return all(v.passed for _, v in self.rows)

    def markdown(self, command: str) -> str:
        lines = [
            "# Calibration (design section 18)",
            "",
            f"Generated by `{command}`: the baseline `{self.baseline}` over seeds 0-{self.seeds - 1}"
            f" (its twin without informed off-hours flow"
            + (f", and the same seeds over {self.year_days:g} days for the loss share's context"
               if self.year_days else "")
            + "), the shock rows over seeds "
            f"0-{self.shock_seeds - 1}; {self.runs} runs. Ranges are the 10th-90th percentiles "
            "over the estimator's units; rates per year compound where the row is a return.",
            "",
            "| moment | estimator | model | target | anchor | result |",
            "|---|---|---|---|---|---|",
        ]
        for row, v in self.rows:
            cells = [row.moment, row.estimator, v.value, row.target, row.anchor,
                     "pass" if v.passed else "**miss**"]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        passed = sum(v.passed for _, v in self.rows)
        lines += ["", f"{passed} of {len(self.rows)} rows pass."]
        notes = [(row, v) for row, v in self.rows if not v.passed and v.note]
        if notes:
            lines += ["", "Notes:"]
            lines += [f"- {row.moment}: {v.note}" for row, v in notes]
        return "\n".join(lines) + "\n"


def calibrate(baseline: str | Path, seeds: int = 10, shock_seeds: int = 5, out: str | None = "results",
              workers: int | None = None, days: float | None = None,
              shocks_dir: str | Path | None = None) -> Table:
    """Run every job of the table (in ``workers`` processes) and judge every row."""
    jobs = plan(baseline, seeds, shock_seeds, shocks_dir, days)
    workers = workers or min(os.cpu_count() or 1, len(jobs))
    measures = _run_all(jobs, out, workers)
    by_label: dict[str, list[dict]] = {}
    for m in measures:
        by_label.setdefault(m["label"], []).append(m)
    rows = []
    for row in ROWS:
        rows.append((row, row.judge(by_label)))
    year_days = ANCHOR_YEAR_DAYS if any(j.label == "year" for j in jobs) else None
    return Table(rows, seeds, shock_seeds, str(baseline), len(jobs), year_days)


HAND_NOTES = "<!-- Below this line: findings written by hand; flywheel calibrate keeps them. -->"


def write_doc(path: str | Path, table_markdown: str) -> Path:
    """Write the table to ``path`` (atomically), keeping the hand-written findings below
    ``HAND_NOTES`` of the file already there."""
    from sim.results_io import write_text

    path = Path(path)
    kept = ""
    if path.is_file():
        old = path.read_text(encoding="utf-8")
        if HAND_NOTES in old:
            kept = old[old.index(HAND_NOTES) + len(HAND_NOTES):]
    return write_text(path, f"{table_markdown}\n{HAND_NOTES}{kept or chr(10)}")


def _run_all(jobs: list[Job], out: str | None, workers: int) -> list[dict]:
    if workers <= 1:
        return [measure(j, out) for j in jobs]
    # forkserver: the parent may be multi-threaded (pyarrow), where fork() can deadlock.
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("forkserver")) as pool:
        return _map(pool, jobs, out)


def _map(pool: Executor, jobs: list[Job], out: str | None) -> list[dict]:
    return list(pool.map(measure, jobs, [out] * len(jobs)))

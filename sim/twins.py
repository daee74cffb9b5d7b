"""Twin runs that share every random number (design 1 and 11).

- The **margin twin** keeps every market, agent and random draw and sets each market's margin
  asset to USDC: ``margin_twin``. The difference base - twin is what stock-token margin does.
- The **impulse twins** add k extra traders at t0 (``impulse``), and again with market quality
  frozen to the base run's path (``impulse.freeze_quality``). ``G(H) = (A_impulse - A_base)/k``
  with A the active users averaged over the day ending at t0 + H; the flywheel gain is
  ``G - G_frozen``: what the impulse did through depth and spread, beyond its own survival and
  word of mouth.

``run_twins`` runs a scenario and the twins asked for; ``compare`` runs it for one seed and
stores them beside each other with a comparison (``comparison.json``, ``comparison.png``);
``study_cell`` is one scenario and seed of ``flywheel study``; a sweep's ``compare:`` calls it
for each run (``sim.sweep.runner``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim import results_io as rio
from sim.assets import USDC
from sim.run import RunResult, run

if TYPE_CHECKING:
    from sim.preflight import Limits
    from sim.scenario import Scenario

HORIZONS_DAYS = (7.0, 30.0, 60.0)     # design 11
IMPULSES = (0.05, 0.10)               # k as a fraction of the active traders at t0 (design 11)
COMPARISON_JSON = "comparison.json"
COMPARISON_PNG = "comparison.png"

# What stock-token margin changes against its margin twin: summary key -> label (design 1).
MARGIN_METRICS = {
    "active_users_end": "active users at the end",
    "option_volume_usd": "option volume (USD)",
    "perp_volume_usd": "perp volume (USD)",
    "capacity_mean_usd": "pool capacity, mean (USD)",
    "margin_depth_mean_usd": "margin AMM depth +-2%, mean (USD)",
    "lp_return_mw_usd": "LP money-weighted return in USD",
    "bad_debt_usd": "bad debt (USD)",
    "liquidations": "liquidations",
}


# ---------------------------------------------------------------------- the twins' scenarios


def _rebuilt(scenario: Scenario, data: dict[str, Any]) -> Scenario:
    from sim.scenario import scenario_from_dict

    return scenario_from_dict(data, source=f"{scenario.name} (twin)")


def margin_twin(scenario: Scenario) -> Scenario:
    """The scenario with every market margined in USDC (design 1), named ``<name>.margin_twin``.

    Markets, pools and insurance keep their USD sizes; agents keep their draws (they draw the
    same numbers whatever the margin asset); a haircut set on a market is the token's, so the
    twin's markets take USDC's (0). The potential markets are scaled by
    ``twin.potential_ratio`` (1: the same M, the design's assumption).
    """
    data = scenario.model_dump(mode="json")
    data["name"] = f"{scenario.name}.margin_twin"
    for market in data["markets"].values():
        market["margin"] = USDC
        market["haircut"] = None
    ratio = scenario.twin.potential_ratio
    for kind in ("traders", "liquidity_providers"):
        bass = data["arrivals"][kind]
        bass["potential"] = int(round(bass["potential"] * ratio))
    return _rebuilt(scenario, data)


def without_impulse(scenario: Scenario) -> Scenario:
    """The scenario with no impulse (the base of the impulse twins)."""
    if scenario.impulse is None:
        return scenario
    data = scenario.model_dump(mode="json")
    data["impulse"] = None
    return _rebuilt(scenario, data)


def impulse_twin(scenario: Scenario, fraction: float, at: str, frozen: bool = False) -> Scenario:
    """The scenario with ``fraction`` x active traders added at ``at``, named
    ``<name>.impulse<percent>[.frozen]``; ``frozen``: arrivals follow the base run's quality."""
    data = scenario.model_dump(mode="json")
    data["name"] = f"{scenario.name}.impulse{100 * fraction:g}" + (".frozen" if frozen else "")
    data["impulse"] = {"fraction": fraction, "at": at, "freeze_quality": frozen}
    return _rebuilt(scenario, data)


# ---------------------------------------------------------------------- the flywheel gain


def active_users_over_day(timeseries: pd.DataFrame, end_step: int, steps_per_day: int) -> float:
    """Active users (traders + LPs) averaged over the day ending at step ``end_step``: the
    steps ``end_step - steps_per_day`` to ``end_step - 1`` (step s covers [s, s + 1))."""
    step = timeseries["step"].to_numpy()
    window = (step >= end_step - steps_per_day) & (step < end_step)
    users = timeseries["active_traders"].to_numpy(float) + timeseries["active_lps"].to_numpy(float)
    return float(users[window].mean()) if window.any() else math.nan


def gains(base: pd.DataFrame, impulse: pd.DataFrame, frozen: pd.DataFrame, k: int, t0: int,
          steps_per_day: int, horizons_days: Sequence[float] = HORIZONS_DAYS) -> list[dict[str, Any]]:
    """G(H), G_frozen(H) and the flywheel gain G - G_frozen at each horizon (design 11).

    A horizon whose day ends after the run is reported with ``inside_run`` False and None
    values; so is every horizon when the impulse added nobody (k = 0)."""
    last = int(base["step"].iloc[-1])
    rows = []
    for h in horizons_days:
        end = t0 + int(round(h * steps_per_day))
        inside = end <= last + 1
        a = {name: active_users_over_day(ts, end, steps_per_day) if inside else None
             for name, ts in (("A_base", base), ("A_impulse", impulse), ("A_frozen", frozen))}
        g = g_frozen = None
        if inside and k > 0:
            g = (a["A_impulse"] - a["A_base"]) / k
            g_frozen = (a["A_frozen"] - a["A_base"]) / k
        rows.append({"horizon_days": float(h), "inside_run": inside, **a, "G": g,
                     "G_frozen": g_frozen, "gain": None if g is None else g - g_frozen})
    return rows


def verdict_of(g_low: float, gain_low: float, gain_high: float) -> str:
    """Design 11's verdict from the 95% intervals over seeds: "amplifies" if that of G lies
    above 1 and that of G - G_frozen above 0; "decays" if that of G - G_frozen lies below 0;
    otherwise "neutral". (Studies and sweeps both decide by this one rule.)"""
    if g_low > 1.0 and gain_low > 0.0:
        return "amplifies"
    if gain_high < 0.0:
        return "decays"
    return "neutral"


def margin_differences(base: dict[str, Any], twin: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per metric: the base's value, the twin's, and base - twin (what stock-token margin does)."""
    out = {}
    for key in MARGIN_METRICS:
        b, t = base.get(key), twin.get(key)
        diff = None if b is None or t is None else float(b) - float(t)
        out[key] = {"stock_margin": b, "usdc_twin": t, "stock_minus_twin": diff}
    return out


# ---------------------------------------------------------------------- running the twins


def _run_pair(base: Scenario, seed: int, fraction: float, at: str, out: Path | None,
              base_result: RunResult, charts: bool, limits: Limits | None = None
              ) -> tuple[int, RunResult, RunResult]:
    """The impulse twin and its frozen twin of ``base`` (whose run is ``base_result``)."""
    from sim.model import FlywheelModel

    quality = base_result.timeseries["quality"].to_numpy(float)
    imp = run(impulse_twin(base, fraction, at), seed=seed, out=out, charts=charts, limits=limits)
    frozen = run(impulse_twin(base, fraction, at, frozen=True), seed=seed, out=out, charts=charts,
                 model_factory=lambda **kw: FlywheelModel(quality_path=quality, **kw),
                 limits=limits)
    return int(imp.summary["impulse_traders"]), imp, frozen


def impulse_runs(scenario: Scenario, seed: int, fractions: Sequence[float] = IMPULSES,
                 at: str = "day 30", horizons_days: Sequence[float] = HORIZONS_DAYS,
                 out: str | Path | None = None, charts: bool = False,
                 base_result: RunResult | None = None, *, limits: Limits | None = None
                 ) -> dict[str, Any]:
    """Base, impulse and frozen-impulse runs of ``scenario`` with ``seed``, and their gains
    (each run refused above ``limits``, default ``sim.preflight.Limits()``).

    Returns {"base": RunResult, "at": at, "t0": step, "runs": {fraction: (impulse, frozen)},
    "gains": [{"fraction", "k", "horizon_days", "inside_run", "A_base", "A_impulse",
    "A_frozen", "G", "G_frozen", "gain"}, ...]}."""
    base = without_impulse(scenario)
    out = Path(out) if out is not None else None
    if base_result is None:
        base_result = run(base, seed=seed, out=out, charts=charts, limits=limits)
    t0 = impulse_twin(base, fractions[0] if fractions else 0.0, at).impulse_step
    steps_per_day = int(round(1440 / base.clock.step_minutes))
    runs, rows = {}, []
    for fraction in fractions:
        k, imp, frozen = _run_pair(base, seed, fraction, at, out, base_result, charts, limits)
        runs[fraction] = (imp, frozen)
        for row in gains(base_result.timeseries, imp.timeseries, frozen.timeseries, k, t0,
                         steps_per_day, horizons_days):
            rows.append({"fraction": float(fraction), "k": k, **row})
    return {"base": base_result, "at": at, "t0": t0, "runs": runs, "gains": rows}


@dataclass
class Twins:
    """A scenario's base run and the twins asked for (None when not asked)."""

    base: RunResult
    margin: RunResult | None
    impulse: dict[str, Any] | None      # impulse_runs(...)'s dict

    @property
    def runs(self) -> list[RunResult]:
        """Every run: the base, the margin twin, each impulse twin and its frozen twin."""
        found = [self.base] + ([self.margin] if self.margin is not None else [])
        if self.impulse is not None:
            found += [r for pair in self.impulse["runs"].values() for r in pair]
        return found


def run_twins(scenario: Scenario, seed: int, modes: Sequence[str], out: str | Path | None, *,
              fractions: Sequence[float] = IMPULSES, at: str = "day 30",
              horizons_days: Sequence[float] = HORIZONS_DAYS, charts: bool = False,
              progress: bool = False, limits: Limits | None = None, source: str | None = None,
              base_result: RunResult | None = None) -> Twins:
    """The base run of ``scenario`` (without its own impulse; ``base_result`` when the caller
    ran it) and the twins of ``modes`` ("margin", "impulse"), all with ``seed``, stored under
    ``out`` and refused above ``limits``: what ``compare``, ``study_cell`` and a sweep's
    ``compare:`` share."""
    base = without_impulse(scenario)
    if base_result is None:
        base_result = run(base, seed=seed, out=out, progress=progress, charts=charts,
                          limits=limits, source=source)
    margin = (run(margin_twin(base), seed=seed, out=out, progress=progress, charts=charts,
                  limits=limits) if "margin" in modes else None)
    impulse = (impulse_runs(base, seed, fractions, at, horizons_days, out, charts, base_result,
                            limits=limits) if "impulse" in modes else None)
    return Twins(base_result, margin, impulse)


def study_cell(scenario: Scenario, seed: int, *, impulses: Sequence[float] = IMPULSES,
               at_day: float = 30.0, horizons: Sequence[float] = HORIZONS_DAYS,
               out: str | Path | None = None, limits: Limits | None = None) -> dict[str, Any]:
    """One scenario and seed of a study: the base run, its margin twin and the impulse twins,
    all sharing random streams; runs stored under ``out`` without charts."""
    t0_step = int(round(at_day * 1440 / scenario.clock.step_minutes))   # at_day is on a step boundary
    twins = run_twins(scenario, seed, ("margin", "impulse"), out, fractions=impulses,
                      at=f"step {t0_step}", horizons_days=horizons, limits=limits)
    return {
        "scenario": twins.base.summary["scenario"], "seed": int(seed), "at_day": float(at_day),
        "days": float(twins.base.summary["days_simulated"]),
        "base": twins.base.summary, "margin_twin": twins.margin.summary,
        "impulses": twins.impulse["gains"],
    }


def compare(scenario: Scenario, seed: int | None, modes: Sequence[str], out: str | Path,
            fractions: Sequence[float] = IMPULSES, at: str = "day 30",
            horizons_days: Sequence[float] = HORIZONS_DAYS, progress: bool = False,
            charts: bool = True, limits: Limits | None = None, source: str | None = None
            ) -> tuple[Path, dict[str, Any]]:
    """``flywheel run SCENARIO --compare margin|impulse``: the scenario and its twins for one
    seed, stored side by side in ``<out>/<name>/compare-<modes>-seed<seed>/`` with
    ``comparison.json`` (differences and gains) and ``comparison.png``. Returns (folder, comparison)."""
    from sim.compare_charts import draw_comparison

    seed = int(scenario.seed if seed is None else seed)
    base = without_impulse(scenario)
    folder = Path(out) / rio.safe_name(base.name) / f"compare-{'-'.join(modes)}-seed{seed}"
    twins = run_twins(base, seed, modes, folder, fractions=fractions, at=at,
                      horizons_days=horizons_days, charts=charts, progress=progress,
                      limits=limits, source=source)
    base_result, twin, imp = twins.base, twins.margin, twins.impulse
    comparison: dict[str, Any] = {"scenario": base.name, "seed": seed,
                                  "base": _where(base_result, folder)}
    paths: dict[str, pd.DataFrame] = {}
    if twin is not None:
        comparison["margin"] = {"twin": _where(twin, folder),
                                "differences": margin_differences(base_result.summary, twin.summary)}
        paths["USDC margin twin"] = twin.timeseries
    if imp is not None:
        comparison["impulse"] = {
            "at": at, "t0_step": imp["t0"], "gains": imp["gains"],
            "runs": {f"{f:g}": {"impulse": _where(a, folder), "frozen": _where(b, folder)}
                     for f, (a, b) in imp["runs"].items()},
        }
        largest = max(imp["runs"])
        k = next(r["k"] for r in imp["gains"] if r["fraction"] == largest)
        paths[f"impulse +{100 * largest:g}% (k={k})"] = imp["runs"][largest][0].timeseries
        paths[f"impulse +{100 * largest:g}%, quality frozen"] = imp["runs"][largest][1].timeseries
    rio.write_json(folder / COMPARISON_JSON, comparison)
    if charts:
        t0 = comparison.get("impulse", {}).get("t0_step")
        draw_comparison(base_result.timeseries, paths, folder / COMPARISON_PNG,
                        title=f"{base.name}, seed {seed}: {' and '.join(modes)} twins", t0_step=t0)
    return folder, comparison


def _where(result: RunResult, folder: Path) -> dict[str, Any]:
    """Where a twin's run is stored (relative to the comparison folder) and its key."""
    path = result.path.relative_to(folder).as_posix() if result.path is not None else None
    return {"scenario": result.summary["scenario"], "run_key": result.info["run_key"], "path": path}


def gain_table(rows: Sequence[dict[str, Any]]) -> str:
    """The impulse gains as aligned text lines (CLI)."""
    lines = ["  k        H      G        G_frozen  G - G_frozen"]
    for r in rows:
        if not r["inside_run"]:
            lines.append(f"  {100 * r['fraction']:>4g}%  {r['horizon_days']:>4g} d  (after the run's end)")
            continue
        fmt = (lambda v: "   -    " if v is None or not np.isfinite(v) else f"{v:+8.3f}")
        lines.append(f"  {100 * r['fraction']:>4g}%  {r['horizon_days']:>4g} d {fmt(r['G'])}  "
                     f"{fmt(r['G_frozen'])}  {fmt(r['gain'])}   (k = {r['k']})")
    return "\n".join(lines)

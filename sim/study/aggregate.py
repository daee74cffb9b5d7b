"""A study's cells reduced per scenario: gains with intervals, the verdict, the margin twin.

Estimators (design 11, "Definitions"; the report names them beside every number):
- means over seeds with 95% intervals by a **paired percentile bootstrap over seeds**
  (``sim.stats.percentile_bootstrap``: 9,999 resamples, a fixed seed): a
  resample draws seeds, each seed bringing its base run and all its twins, so a difference is
  bootstrapped as the per-seed difference. Percentile rather than BCa because a study has few
  seeds (BCa's jackknife acceleration is undefined or unstable with 2-10 values and with ties);
- **VaR95** of bad debt: ``sim.stats.var95``, the 95th percentile over seeds;
- P(insurance depleted): the share of seeds, with its **Wilson** 95% interval.

The verdict (design 11) is decided at H = 30 days with k = 10%: "amplifies" when the whole
interval of G lies above 1 and that of G - G_frozen above 0, "decays" when the interval of
G - G_frozen lies below 0, "neutral" otherwise, "undecided" where it cannot be computed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim import stats
from sim.stats import share_with_interval, var95
from sim.twins import verdict_of

CONFIDENCE = 0.95
N_RESAMPLES = stats.BOOTSTRAP_RESAMPLES
INTERVAL = "paired percentile bootstrap over seeds, 95%"

VERDICT_HORIZON_DAYS = 30.0
VERDICT_IMPULSE = 0.10
AMPLIFIES, DECAYS, NEUTRAL, UNDECIDED = "amplifies", "decays", "neutral", "undecided"


# ---------------------------------------------------------------------- intervals
@dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` seeds with its 95% interval (``low``/``high`` None when n < 2)."""

    mean: float
    low: float | None
    high: float | None
    n: int

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    def above(self, x: float) -> bool:
        """The whole interval lies above ``x``."""
        return self.has_interval and self.low > x

    def below(self, x: float) -> bool:
        """The whole interval lies below ``x``."""
        return self.has_interval and self.high < x


def _bootstrap(samples: tuple[np.ndarray, ...], statistic: Callable[..., Any]
               ) -> tuple[float, float]:
    return stats.percentile_bootstrap(samples, statistic, CONFIDENCE)


def mean_estimate(values: Sequence[float]) -> Estimate | None:
    """Mean of ``values`` over seeds with its percentile-bootstrap 95% interval (None if empty)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return None
    if x.size < 2:
        return Estimate(float(x.mean()), None, None, 1)
    low, high = _bootstrap((x,), np.mean)
    return Estimate(float(x.mean()), low, high, int(x.size))


def paired_difference(a: Sequence[float], b: Sequence[float]) -> Estimate | None:
    """Mean over seeds of ``a - b`` (paired by seed) with its bootstrap interval."""
    return mean_estimate(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))


def paired_relative(a: Sequence[float], b: Sequence[float]) -> Estimate | None:
    """``mean(a - b) / mean(b)``, the relative change of a against b, with its paired bootstrap
    interval (None when there is nothing, or mean(b) is 0)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size == 0 or y.mean() == 0:
        return None

    def ratio(p: np.ndarray, q: np.ndarray, axis: int = -1) -> np.ndarray:
        return (np.mean(p, axis=axis) - np.mean(q, axis=axis)) / np.mean(q, axis=axis)

    value = float(ratio(x, y))
    if x.size < 2:
        return Estimate(value, None, None, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = _bootstrap((x, y), ratio)
    if not (np.isfinite(low) and np.isfinite(high)):
        return Estimate(value, None, None, int(x.size))
    return Estimate(value, low, high, int(x.size))


# ---------------------------------------------------------------------- flywheel gain
@dataclass(frozen=True)
class GainPoint:
    """G and G - G_frozen at one impulse size and horizon, over the seeds that reached it."""

    fraction: float
    horizon_days: float
    inside_run: bool
    gain: Estimate | None            # G = (A_impulse - A_base) / k
    flywheel: Estimate | None        # G - G_frozen
    var_paired: float | None         # Var over seeds of A_impulse - A_base (users^2)
    var_unpaired: float | None       # Var(A_impulse) + Var(A_base): independent runs' variance

    @property
    def variance_ratio(self) -> float | None:
        if self.var_paired is None or not self.var_unpaired:
            return None
        return self.var_paired / self.var_unpaired


@dataclass(frozen=True)
class Verdict:
    label: str                       # amplifies | decays | neutral | undecided
    reason: str                      # why, in words
    point: GainPoint | None          # the numbers behind it


def gain_points(cells: Sequence[Mapping[str, Any]]) -> list[GainPoint]:
    """One point per (impulse size, horizon) found in ``cells``, sorted by size then horizon."""
    rows: dict[tuple[float, float], list[Mapping[str, Any]]] = {}
    for cell in cells:
        for imp in cell["impulses"]:
            rows.setdefault((float(imp["fraction"]), float(imp["horizon_days"])), []).append(imp)
    return [_gain_point(k, h, rows[(k, h)]) for k, h in sorted(rows)]


def _gain_point(k: float, h: float, rows: list[Mapping[str, Any]]) -> GainPoint:
    inside = all(bool(r["inside_run"]) for r in rows)
    usable = [r for r in rows if r["inside_run"] and r["G"] is not None]
    both = [r for r in usable if r["G_frozen"] is not None]
    a_imp = np.array([r["A_impulse"] for r in usable], dtype=float)
    a_base = np.array([r["A_base"] for r in usable], dtype=float)
    var_p = var_u = None
    if len(usable) >= 2:
        var_p = float(np.var(a_imp - a_base, ddof=1))
        var_u = float(np.var(a_imp, ddof=1) + np.var(a_base, ddof=1))
    return GainPoint(
        fraction=k, horizon_days=h, inside_run=inside,
        gain=mean_estimate([r["G"] for r in usable]),
        flywheel=paired_difference([r["G"] for r in both], [r["G_frozen"] for r in both]),
        var_paired=var_p, var_unpaired=var_u,
    )


def verdict(points: Sequence[GainPoint], horizon_days: float = VERDICT_HORIZON_DAYS,
            fraction: float = VERDICT_IMPULSE) -> Verdict:
    """Design 11's verdict at ``horizon_days`` and impulse ``fraction``."""
    at = [p for p in points
          if np.isclose(p.fraction, fraction) and np.isclose(p.horizon_days, horizon_days)]
    if not at:
        return Verdict(UNDECIDED, f"k = {fraction:.0%} at H = {horizon_days:g} d not studied",
                       None)
    p = at[0]
    if not p.inside_run:
        return Verdict(UNDECIDED, "horizon outside the run", p)
    if p.gain is None or p.flywheel is None or not (p.gain.has_interval and
                                                    p.flywheel.has_interval):
        return Verdict(UNDECIDED, "fewer than 2 seeds", p)
    g, f = p.gain, p.flywheel
    label = verdict_of(g.low, f.low, f.high)
    if label == AMPLIFIES:
        return Verdict(AMPLIFIES, "the 95% interval of G lies above 1 and that of G - G_frozen "
                                  "above 0", p)
    if label == DECAYS:
        return Verdict(DECAYS, "the 95% interval of G - G_frozen lies below 0", p)
    why = []
    if not g.above(1.0):
        why.append("the interval of G reaches 1 or below")
    if not f.above(0.0):
        why.append("the interval of G - G_frozen contains 0")
    return Verdict(NEUTRAL, " and ".join(why), p)


# ---------------------------------------------------------------------- the margin twin
def _volume(s: Mapping[str, Any]) -> float | None:
    o, p = s.get("option_volume_usd"), s.get("perp_volume_usd")
    return None if o is None or p is None else float(o) + float(p)


@dataclass(frozen=True)
class Measure:
    """A figure read from a run's summary, how to name it and its unit."""

    key: str
    label: str
    unit: str                                         # "users", "USD" or "return"
    read: Callable[[Mapping[str, Any]], float | None]
    relative: bool = True             # also shown as a change relative to the twin


def _field(name: str) -> Callable[[Mapping[str, Any]], float | None]:
    def read(s: Mapping[str, Any]) -> float | None:
        v = s.get(name)
        return None if v is None else float(v)
    return read


MARGIN_MEASURES = (
    Measure("users", "active users at the end", "users", _field("active_users_end")),
    Measure("volume", "volume, options + perps", "USD", _volume),
    Measure("capacity", "pool capacity, mean after burn-in", "USD", _field("capacity_mean_usd")),
    Measure("margin_depth", "margin-token AMM depth +-2%, mean", "USD",
            _field("margin_depth_mean_usd")),
    Measure("lp_return", "LP money-weighted return (USD)", "return", _field("lp_return_mw_usd"),
            relative=False),
    Measure("bad_debt", "bad debt", "USD", _field("bad_debt_usd"), relative=False),
)


@dataclass(frozen=True)
class MarginRow:
    """Stock-token margin (base) against its USDC margin twin, paired by seed."""

    measure: Measure
    base: Estimate | None
    twin: Estimate | None
    difference: Estimate | None      # base - twin
    relative: Estimate | None        # (base - twin) / twin, as a fraction


def margin_rows(cells: Sequence[Mapping[str, Any]]) -> list[MarginRow]:
    """Base - margin twin for every measure, over the seeds where both runs have it (each
    arm's own mean over the seeds where it has one: the USDC twin has no margin-token depth)."""
    rows = []
    for m in MARGIN_MEASURES:
        values = [(m.read(c["base"]), m.read(c["margin_twin"])) for c in cells]
        pairs = [(b, t) for b, t in values if b is not None and t is not None]
        base, twin = [b for b, _ in pairs], [t for _, t in pairs]
        relative = paired_relative(base, twin) if m.relative else None
        rows.append(MarginRow(m, mean_estimate([b for b, _ in values if b is not None]),
                              mean_estimate([t for _, t in values if t is not None]),
                              paired_difference(base, twin), relative))
    return rows


# ---------------------------------------------------------------------- LP risk
@dataclass(frozen=True)
class Risk:
    """LP return, bad debt and the insurance pool over seeds, for one arm (base or twin)."""

    lp_return_usd: Estimate | None       # money-weighted, USD terms, healthy markets' mean
    lp_return_seeds_missing: int         # seeds whose every pool drained (no return to average)
    bad_debt_usd: Estimate | None
    var95_bad_debt_usd: float | None
    insurance_depleted: tuple[float, float, float] | None   # share, Wilson low, high
    insurance_depleted_runs: int
    runs: int


def risk(summaries: Sequence[Mapping[str, Any]]) -> Risk:
    lp = [s.get("lp_return_mw_usd") for s in summaries]
    bad = [float(s["bad_debt_usd"]) for s in summaries]
    depleted = [bool(s["insurance_depleted"]) for s in summaries]
    return Risk(
        lp_return_usd=mean_estimate([x for x in lp if x is not None]),
        lp_return_seeds_missing=sum(x is None for x in lp),
        bad_debt_usd=mean_estimate(bad),
        var95_bad_debt_usd=var95(bad) if bad else None,
        insurance_depleted=share_with_interval(depleted) if depleted else None,
        insurance_depleted_runs=sum(depleted),
        runs=len(summaries),
    )


# ---------------------------------------------------------------------- per scenario
@dataclass(frozen=True)
class ScenarioResult:
    """Everything the report says about one scenario."""

    name: str
    seeds_planned: int
    seeds_done: int
    failed: int
    days: float | None
    at_day: float | None
    points: list[GainPoint] = field(default_factory=list)
    verdict: Verdict = Verdict(UNDECIDED, "no finished cell", None)
    margin: list[MarginRow] = field(default_factory=list)
    risk_base: Risk | None = None
    risk_twin: Risk | None = None


def scenario_result(name: str, records: Sequence[Mapping[str, Any]]) -> ScenarioResult:
    """Reduce one scenario's records (finished and failed) to what the report shows."""
    cells = [r["cell"] for r in records if r.get("status") == "ok"]
    failed = len(records) - len(cells)
    if not cells:
        return ScenarioResult(name, len(records), 0, failed, None, None)
    points = gain_points(cells)
    return ScenarioResult(
        name=name, seeds_planned=len(records), seeds_done=len(cells), failed=failed,
        days=float(cells[0]["days"]), at_day=float(cells[0]["at_day"]),
        points=points, verdict=verdict(points), margin=margin_rows(cells),
        risk_base=risk([c["base"] for c in cells]),
        risk_twin=risk([c["margin_twin"] for c in cells]),
    )

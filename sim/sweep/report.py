"""A sweep's report (``report.md``), in words generated from aggregate.csv.

It states how the sweep was run (runs, seeds, failures, estimators), answers the sweep file's
``threshold:`` question per scenario (the smallest value of the swept parameter at which the
metric's estimate is below the threshold, with its interval, and whether the whole interval is
below it), and tabulates every headline per scenario and point.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from sim.sweep.aggregate import HEADLINE_BY_NAME
from sim.sweep.charts import _fmt
from sim.sweep.spec import SweepSpec, describe
from sim.twins import verdict_of

if TYPE_CHECKING:
    from sim.sweep.runner import Execution


def _value(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _with_interval(unit: str, row: pd.Series) -> str:
    if row["n"] == 0:
        return "no usable seed"
    text = _fmt(unit, row["value"])
    if unit == "share":
        k = int(round(row["value"] * row["n"]))
        text = f"{k} of {int(row['n'])} seeds ({text})"
    if math.isfinite(row["low"]):
        text += f", 95% interval {_fmt(unit, row['low'])} to {_fmt(unit, row['high'])}"
    return text


def threshold_answer(spec: SweepSpec, agg: pd.DataFrame) -> list[str]:
    """Per scenario, one sentence: the smallest swept value whose estimate is below the line."""
    t = spec.threshold
    if t is None:
        return []
    h = HEADLINE_BY_NAME.get(t.metric)
    if h is None:
        return [f"The threshold names an unknown metric {t.metric!r} "
                f"(known: {', '.join(HEADLINE_BY_NAME)})."]
    if len(spec.varied) != 1:
        return ["The threshold question needs exactly one varied parameter."]
    path = spec.varied[0]
    line = _fmt(h.unit, t.below)
    rows = agg[agg["metric"] == t.metric]
    out = [f"Smallest {path} at which {h.label} is below {line} (estimate below the line; "
           f"{rows['estimator'].iloc[0] if len(rows) else ''}):", ""]
    for scenario, group in rows.groupby("scenario", sort=False):
        group = group.sort_values("point")
        passing = group[(group["n"] > 0) & (group["value"] < t.below)]
        # the smallest value beyond which every larger one passes too (monotone reading)
        order = sorted(group[path].tolist())
        ok_values = set(passing[path].tolist())
        first = next((v for i, v in enumerate(order) if all(w in ok_values for w in order[i:])),
                     None)
        if first is None:
            last = group.loc[group[path].idxmax()]
            out.append(f"- **{scenario}**: no value in the sweep brings it below {line}; at the "
                       f"largest, {path} = {_value(last[path])}: {_with_interval(h.unit, last)}.")
            continue
        row = group[group[path] == first].iloc[0]
        whole = row["high"] < t.below if math.isfinite(row["high"]) else False
        sentence = (f"- **{scenario}**: {path} = {_value(first)}: "
                    f"{_with_interval(h.unit, row)}; ")
        sentence += ("the whole interval lies below the line." if whole else
                     f"the interval still reaches {line} or above, so {int(row['n'])} seeds "
                     "cannot rule out a share at the line.")
        below = group[group[path] < first]
        if len(below):
            prev = below.loc[below[path].idxmax()]
            sentence += f" Just below, at {_value(prev[path])}: {_with_interval(h.unit, prev)}."
        out.append(sentence)
    return out + [""]


def headline_table(agg: pd.DataFrame, varied: list[str], twins: bool = False) -> list[str]:
    """A Markdown table per scenario: points as rows, metrics as columns, value [interval];
    the headlines, or with ``twins`` the twins' gains and differences."""
    out = []
    metrics = [m for m in dict.fromkeys(agg["metric"]) if (m not in HEADLINE_BY_NAME) == twins]
    if not metrics:
        return out
    labels = {m: agg.loc[agg["metric"] == m, "label"].iloc[0] for m in metrics}
    units = {m: agg.loc[agg["metric"] == m, "unit"].iloc[0] for m in metrics}
    for scenario, group in agg.groupby("scenario", sort=False):
        out += [f"### {scenario}", "",
                "| point | " + " | ".join(labels[m] for m in metrics) + " |",
                "|---" * (len(metrics) + 1) + "|"]
        for point, rows in group.groupby("point", sort=True):
            first = rows.iloc[0]
            where = describe({p: first[p] for p in varied}) or f"{point}"
            cells = []
            for m in metrics:
                r = rows[rows["metric"] == m].iloc[0]
                unit = units[m]
                cell = _fmt(unit, r["value"])
                if math.isfinite(r["low"]):
                    cell += f" [{_fmt(unit, r['low'])}, {_fmt(unit, r['high'])}]"
                cells.append(cell)
            out.append(f"| {where} | " + " | ".join(cells) + " |")
        out.append("")
    return out


def flywheel_verdicts(agg: pd.DataFrame, varied: list[str]) -> list[str]:
    """Design 11's verdict per scenario and point at k = 10%, H = 30 days: "amplifies" when the
    95% interval of G lies above 1 and that of G - G_frozen above 0, "decays" when that of
    G - G_frozen lies below 0, otherwise "neutral" (intervals: bootstrap over the seeds of the
    paired per-seed gains)."""
    g_name, gain_name = "G[k=10%,H=30d]", "gain[k=10%,H=30d]"
    if not {g_name, gain_name} <= set(agg["metric"]):
        return []
    out = ["Flywheel verdict (design 11: k = 10% of active traders, H = 30 days; 95% intervals "
           "over seeds):", ""]
    for (scenario, point), rows in agg.groupby(["scenario", "point"], sort=False):
        g = rows[rows["metric"] == g_name].iloc[0]
        gain = rows[rows["metric"] == gain_name].iloc[0]
        if not (math.isfinite(g["low"]) and math.isfinite(gain["low"])):
            verdict = "no verdict (fewer than two seeds with a gain)"
        else:
            verdict = verdict_of(g["low"], gain["low"], gain["high"])
        where = describe({p: rows.iloc[0][p] for p in varied}) or f"point {point}"
        out.append(f"- **{scenario}**, {where}: {verdict}; G = {g['value']:+.2f} "
                   f"[{g['low']:+.2f}, {g['high']:+.2f}], G - G_frozen = {gain['value']:+.2f} "
                   f"[{gain['low']:+.2f}, {gain['high']:+.2f}] over {int(gain['n'])} seeds.")
    return out + [""]


def report_text(spec: SweepSpec, agg: pd.DataFrame, runs: pd.DataFrame, execution: Execution) -> str:
    """The whole report.md."""
    c = execution.counts
    failed = int((runs["status"] != "ok").sum()) if len(runs) else 0
    lines = [f"# Sweep {spec.name}", ""]
    if spec.description:
        lines += [" ".join(spec.description.split()), ""]
    lines += [
        f"{c.planned} runs planned: {len(spec.scenarios)} scenarios x {c.planned // max(1, len(spec.scenarios) * spec.seeds)} "
        f"points x {spec.seeds} seeds (root seed {spec.root_seed}; the same seeds at every "
        f"point, so differences between points are paired). In runs.parquet: {len(runs)} "
        f"runs, {failed} failed" + (f"; {c.not_done} not done (run the sweep again)"
                                    if c.not_done else "") + ".",
        "",
        "Estimators (aggregate.csv names each beside its number): shares with Wilson 95% "
        "intervals; means, VaR95 of bad debt and LaR95 (95th percentiles over seeds) with 95% "
        "percentile-bootstrap intervals over seeds; the day of insurance depletion as the "
        "median over the seeds that depleted.",
        "",
    ]
    answer = threshold_answer(spec, agg)
    if answer:
        lines += ["## Answer", "", *answer]
    lines += ["## Headline metrics", "", *headline_table(agg, spec.varied)]
    verdicts = flywheel_verdicts(agg, spec.varied)
    twins = headline_table(agg, spec.varied, twins=True)
    if verdicts or twins:
        lines += ["## Twins (compare: " + ", ".join(spec.compare) + ")", "", *verdicts,
                  "Means over seeds of the gains (extra active users per added trader) and of "
                  "stock-token margin minus its USDC twin, with 95% bootstrap intervals:", "",
                  *twins]
    return "\n".join(lines).rstrip("\n") + "\n"

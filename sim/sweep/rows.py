"""One run as one flat row of ``runs.parquet``: every summary figure, and the headline flags.

``metrics.RunSummary`` is nested (markets, the LP PnL split); a row names each value by a flat
column: ``bad_debt_usd`` for the run's, ``bad_debt_usd[TSLA.M]`` for a market's (the time
series' spelling), ``lp_pnl_split_usd.fees[TSLA.M]`` inside a market's mapping, lists joined
with commas. Beside them, the per-run inputs of design 11's sweep definitions:

- ``lp_lost_money``: the LPs of at least one market ended with a money-weighted return in
  token below 0 (a drained pool's return included; None when no market had one);
- ``lp_bad_debt_loss``: the main pool of at least one market wrote off bad debt (its insurance
  was exhausted);
- ``insurance_depleted_day``: the first day (since the run's start) any market's insurance
  fell to 1% of its start, None if never;
- ``adl_events``: auto-deleveraging rows of the event log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd


def flatten_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Every figure of a ``RunSummary`` under a flat column name (see the module's doc)."""
    row: dict[str, Any] = {}
    for key, value in summary.items():
        if key == "markets":
            for market, figures in value.items():
                _flatten_into(row, figures, "", f"[{market}]")
        else:
            _flatten_into(row, {key: value}, "", "")
    return row


def _flatten_into(row: dict[str, Any], mapping: Mapping[str, Any], prefix: str, suffix: str) -> None:
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten_into(row, value, f"{name}.", suffix)
        elif isinstance(value, list | tuple):
            row[f"{name}{suffix}"] = ",".join(map(str, value))
        else:
            row[f"{name}{suffix}"] = value


def headline_inputs(summary: Mapping[str, Any], events: pd.DataFrame) -> dict[str, Any]:
    """The per-run flags and figures design 11's sweep estimators read (see the module's doc)."""
    markets = summary["markets"].values()
    returns = [m["lp_return_mw_token"] for m in markets if m["lp_return_mw_token"] is not None]
    days = [m["insurance_depleted_day"] for m in markets if m["insurance_depleted_day"] is not None]
    return {
        "lp_lost_money": any(r < 0 for r in returns) if returns else None,
        "lp_bad_debt_loss": any(m["bad_debt_lp_usd"] > 0 for m in markets),
        "insurance_depleted_day": min(days) if days else None,
        "adl_events": int((events["kind"] == "adl").sum()) if len(events) else 0,
    }


def gain_column(what: str, fraction: float, horizon_days: float) -> str:
    """``G[k=10%,H=30d]``: a gain's column (what: G, G_frozen or gain = G - G_frozen)."""
    return f"{what}[k={100 * fraction:g}%,H={horizon_days:g}d]"


def gain_columns(gains: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The impulse twins' gains (``sim.twins.gains`` rows) as columns: G, G_frozen and the
    flywheel gain G - G_frozen per impulse size and horizon, and each impulse's k."""
    out: dict[str, Any] = {}
    for g in gains:
        for what in ("G", "G_frozen", "gain"):
            out[gain_column(what, g["fraction"], g["horizon_days"])] = g[what]
        out[f"impulse_k[k={100 * g['fraction']:g}%]"] = g["k"]
    return out


def margin_columns(differences: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The margin twin's figures and the differences stock-token margin minus USDC twin
    (``sim.twins.margin_differences``) as ``margin_twin.<metric>`` and ``margin_diff.<metric>``."""
    out: dict[str, Any] = {}
    for metric, d in differences.items():
        out[f"margin_twin.{metric}"] = d["usdc_twin"]
        out[f"margin_diff.{metric}"] = d["stock_minus_twin"]
    return out


def run_row(summary: Mapping[str, Any], events: pd.DataFrame) -> dict[str, Any]:
    """A run's row: its summary flattened, then the headline inputs."""
    return {**flatten_summary(summary), **headline_inputs(summary, events)}

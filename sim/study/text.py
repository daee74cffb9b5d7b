"""How a study's numbers are written: one spelling for every figure in the report and answer."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sim.study.aggregate import Estimate


def num(x: float | None, digits: int = 2) -> str:
    """``x`` with ``digits`` decimals, thousands separated; a dash for nothing."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:,.{digits}f}"


def usd(x: float | None) -> str:
    """USD, short: $950, $12.3k, $4.56M, $1.20B (a minus sign before the dollar)."""
    if x is None or not math.isfinite(x):
        return "-"
    sign, a = ("-" if x < 0 else ""), abs(x)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{sign}${a / div:.2f}{suffix}"
    return f"{sign}${a:,.0f}"


def pct(x: float | None, digits: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage: 0.123 -> 12.3% (+12.3% when ``signed``)."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{100 * x:{'+' if signed else ''},.{digits}f}%"


def points(x: float | None, digits: int = 2) -> str:
    """A difference of two returns in percentage points: 0.0123 -> +1.23 pp."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{100 * x:+,.{digits}f} pp"


def _estimate(e: Estimate | None, fmt, missing: str, interval: str) -> str:
    """``e``'s mean in ``fmt`` followed by ``interval`` (``{low}``, ``{high}``); ``missing``
    for no estimate, and the reason when there is no interval."""
    if e is None:
        return missing
    if not e.has_interval:
        return f"{fmt(e.mean)} ({'one seed, ' if e.n < 2 else ''}no interval)"
    return f"{fmt(e.mean)} " + interval.format(low=fmt(e.low), high=fmt(e.high))


def ci(e: Estimate | None, fmt=num) -> str:
    """``mean [low, high]`` in ``fmt``; the bare mean when there is no interval."""
    return _estimate(e, fmt, "-", "[{low}, {high}]")


def ci_words(e: Estimate | None, fmt=num) -> str:
    """``mean (95% CI low to high)`` for prose."""
    return _estimate(e, fmt, "not measured", "(95% CI {low} to {high})")


def names(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = [f"`{i}`" for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def plural(n: int, word: str) -> str:
    """``1 scenario``, ``2 scenarios``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table (pipes inside cells escaped)."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    return [line(header), "|" + "|".join("---" for _ in header) + "|", *map(line, rows)]

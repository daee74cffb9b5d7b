"""The base every scenario model shares, and the error a cross-field check raises."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


class FrozenModel(BaseModel):
    """Unknown keys are errors, values never change after loading, NaN and inf are refused,
    and a boolean is never taken for a number (pydantic would read ``traders: true`` as 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            check_issues([issue for name, field in cls.model_fields.items() if name in data
                          for issue in _boolean_issues(field.annotation, data[name], name)])
        return data


def _boolean_issues(tp: Any, value: Any, path: str) -> list[tuple[str, str]]:
    """Where ``value`` holds a boolean that type ``tp`` would read as a number (0 or 1)."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    origin = typing.get_origin(tp)
    if isinstance(value, bool):
        options = typing.get_args(tp) if origin in (typing.Union, types.UnionType) else (tp,)
        takes_bool = any(o is bool or o is Any or typing.get_origin(o) is typing.Literal
                         for o in options)
        takes_number = any(o in (int, float) for o in options)
        if takes_number and not takes_bool:
            return [(path, f"{str(value).lower()} is a boolean, not a number")]
        return []
    if origin is dict and isinstance(value, dict):
        value_type = typing.get_args(tp)[1]
        return [i for k, v in value.items() for i in _boolean_issues(value_type, v, f"{path}.{k}")]
    if origin is list and isinstance(value, list):
        item_type = typing.get_args(tp)[0]
        return [i for n, v in enumerate(value)
                for i in _boolean_issues(item_type, v, f"{path}.{n}")]
    return []


class FieldIssues(ValueError):
    """One or more problems, each tied to a dotted path relative to the model that raised it.

    Pydantic reports a model validator's error at the model's location; the loader appends
    these paths so that the message names the exact field (``markets.TSLA.M.requirements.long_maint``).
    """

    def __init__(self, issues: list[tuple[str, str]]):
        self.issues = issues
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in issues))


def check_issues(issues: list[tuple[str, str]]) -> None:
    if issues:
        raise FieldIssues(issues)


# --- physical ranges ---------------------------------------------------------------------------
# What a run can survive, not what is plausible: every value inside these ranges must run to the
# end (the schema property test draws from them). Each bound keeps the products and sums of a
# run's arithmetic far inside float64 (about 1e308) and above its resolution.

MAX_USD = 1.0e12
"""Any amount of money in a scenario (pools, reserves, capital, wealth, order sizes, caps): a
trillion USD, ten times the deposits of the largest DeFi protocol. Sums over a run's agents and
steps then stay below 1e20, where float64 still resolves one part in 1e16."""

MIN_PRICE_USD, MAX_PRICE_USD = 1.0e-6, 1.0e9
"""A starting price: from a sub-cent coin to a thousand times a Berkshire A share. With the
room the shocks may add (``SHOCKED_PRICE_RANGE``) a price times a size or a reserve stays
within float64 and far above its smallest normal number (a subnormal price broke the run)."""

SHOCKED_PRICE_RANGE = (1.0e-12, 1.0e15)
"""Where a starting price may go under its scheduled shocks (jumps, gaps, splits): six orders of
magnitude beyond the starting range each way, room for the random path too."""

MIN_SIGMA, MAX_SIGMA = 1.0e-3, 5.0
"""Annual volatility: 0.1% to 500%. The everlasting option's ``u = sqrt(1 + 8 / (sigma^2 T))``
is infinite at sigma 0 (a subnormal sigma gave NaN deltas), so the pools price with at least
0.1% (below a money-market fund's); the most volatile assets measured (meme coins in a mania)
reach 200-300%, and at 500% an hourly step moves 5% (one standard deviation)."""

MAX_LOG_MOVE = 5.0
"""A scheduled shock as a log move: +-5 is x148 or -99.3%, beyond LUNA's fall in a day."""

MAX_DAYS = 3650.0
"""A window, a holding time or a cooldown: ten years."""

MAX_PER_DAY = 1440.0
"""A rate of decisions: once a minute on average, the finest clock (one-minute steps)."""

MAX_RATIO = 100.0
"""A multiplier or a charge per unit (margin ratios, stress multipliers, elasticities, herding):
a hundred times; ratios near 1 are the design's."""

MAX_THRESHOLD = 1.0e9
"""A threshold an agent compares a return, a gap or a loss with (take-profit, hurdles, edges):
only compared, never multiplied into money, so it may be as large as 1e9, which turns its
rule off (tests do that)."""

"""Property test over the schema (issue 10): any scenario the validator accepts, drawn from the
ranges the schema states (small sizes, a few days), runs to the end with the conservation audit
under 1e-9, or is refused in one line (the CLI's exit 2); never a traceback.

The fields and their ranges are read from the pydantic models, so a new field is drawn as soon
as it exists. Each example starts from ``tests/data/tiny.yaml`` and changes a few fields (the
sizes within small ranges, any other field anywhere in its range, edges included) and adds a
few events. ``make test`` runs a fixed set of examples (derandomized, well under a minute);
``make fuzz`` runs many more, random ones (``FLYWHEEL_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import math
import os
import types
import typing
from typing import Any

import annotated_types as at
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sim.errors import UserInputError
from sim.preflight import check_before_run
from sim.run import run
from sim.scenario import Scenario
from sim.scenario.agents import TRADER_STYLES
from sim.scenario.events import EVENT_TYPES
from tests.tiny import TINY, tiny

FUZZ_EXAMPLES = int(os.environ.get("FLYWHEEL_FUZZ_EXAMPLES", "0"))
if FUZZ_EXAMPLES:
    SETTINGS = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=False,
                        database=DirectoryBasedExampleDatabase(".hypothesis/examples"),
                        suppress_health_check=list(HealthCheck))
else:   # the suite: the same examples every time, a fraction of a minute
    SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                        suppress_health_check=list(HealthCheck))

# The sizes, kept small so that an example runs in a fraction of a second: the pre-flight
# check, not this test, is what stands between the schema's largest sizes and the machine.
SIZES: dict[str, st.SearchStrategy] = {
    "clock.days": st.sampled_from([1.0, 1.5, 2.0, 3.0]),
    "clock.burn_in_days": st.sampled_from([0.0, 0.25, 0.5]),
    "clock.step_minutes": st.sampled_from([15, 30, 60, 120, 360, 1440]),
    "agents.traders": st.integers(0, 10),
    "agents.liquidity_providers": st.integers(0, 6),
    "agents.market_makers": st.integers(0, 3),
    "agents.arbitrageurs": st.integers(0, 2),
    "arrivals.traders.potential": st.integers(0, 10),
    "arrivals.liquidity_providers.potential": st.integers(0, 5),
}
# Fields this test does not draw: text (names, paths), the sizes above, lists of dates.
SKIPPED = {"name", "description", "seed", "clock.start", "clock.holidays", "price_file",
           "price_files", "events"}
# The keys of tiny's name-keyed sections, drawn into paths such as tokens.TSLA.M.haircut.
KEYS = {"assets": ["BTC", "ETH", "TSLA", "NVDA"], "tokens": ["TSLA.M", "NVDA.M"],
        "markets": ["TSLA.M", "NVDA.M"]}
TARGETS = {"token": ["TSLA.M", "NVDA.M"], "market": ["TSLA.M", "NVDA.M"]}
ASSET_TARGETS = {"crypto": ["BTC", "ETH"], "stock": ["TSLA", "NVDA"]}
ONE_OF = {"premium": ("size_usd", "target_premium"), "pin": ("size_usd", "move")}


def _unwrap(tp: Any) -> tuple[Any, list, bool]:
    """(the type holding the data, its constraints, whether None is allowed)."""
    meta: list = []
    optional = False
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp, *extra = typing.get_args(tp)
            for m in extra:
                meta += m.metadata if isinstance(m, FieldInfo) else [m]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(tp))
            if len(args) == 1:
                tp = args[0]
                continue
        return tp, meta, optional


def values_of(tp: Any, meta: list, allow_none: bool = True) -> st.SearchStrategy | None:
    """Every value the schema accepts for a leaf of type ``tp`` with constraints ``meta``
    (None too where the field takes it, unless not ``allow_none``)."""
    tp, more, optional = _unwrap(tp)
    optional = optional and allow_none
    meta = meta + more
    strategy: st.SearchStrategy | None = None
    if tp is bool:
        strategy = st.booleans()
    elif typing.get_origin(tp) is typing.Literal:
        strategy = st.sampled_from(typing.get_args(tp))
    elif tp in (int, float):
        lo = next((m.ge for m in meta if isinstance(m, at.Ge)), None)
        lo_open = next((m.gt for m in meta if isinstance(m, at.Gt)), None)
        hi = next((m.le for m in meta if isinstance(m, at.Le)), None)
        hi_open = next((m.lt for m in meta if isinstance(m, at.Lt)), None)
        low = lo if lo is not None else lo_open
        high = hi if hi is not None else hi_open
        if tp is int:
            strategy = st.integers(min_value=None if low is None else math.floor(low) + (
                lo_open is not None), max_value=None if high is None else math.ceil(high) - (
                hi_open is not None))
        else:
            strategy = st.floats(min_value=low, max_value=high, exclude_min=lo_open is not None,
                                 exclude_max=hi_open is not None, allow_nan=False,
                                 allow_infinity=False)
    elif typing.get_origin(tp) is list:
        item = values_of(typing.get_args(tp)[0], [])
        if item is not None:
            min_len = next((m.min_length for m in meta if isinstance(m, at.MinLen)), 0)
            strategy = st.lists(item, min_size=min_len, max_size=min_len + 4)
    if strategy is not None and optional:
        strategy = st.none() | strategy
    return strategy


def leaves(model: type[BaseModel], prefix: str = "") -> dict[str, st.SearchStrategy]:
    """Dotted path -> strategy of every drawable field under ``model``."""
    found: dict[str, st.SearchStrategy] = {}
    for name, field in model.model_fields.items():
        path = prefix + name
        if path in SKIPPED or path in SIZES:
            continue
        tp, meta, _ = _unwrap(field.annotation)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            found |= leaves(tp, path + ".")
        elif typing.get_origin(tp) is dict and path.split(".")[-1] in KEYS:
            value_type, _, _ = _unwrap(typing.get_args(tp)[1])
            for key in KEYS[path.split(".")[-1]]:
                found |= leaves(value_type, f"{path}.{key}.")
        else:
            strategy = values_of(field.annotation, list(field.metadata))
            if strategy is not None:
                found[path] = strategy
    return found


LEAVES = leaves(Scenario)


@st.composite
def events(draw, burn_in_days: float, days: float) -> list[dict]:
    """Up to three events of any kind, after the burn-in, each field within its range."""
    drawn = []
    for cls in draw(st.lists(st.sampled_from(EVENT_TYPES), max_size=3)):
        kind = cls.model_fields["kind"].annotation.__args__[0]
        event: dict[str, Any] = {"kind": kind,
                                 "at": f"day {draw(st.floats(burn_in_days, days)):.4f}"}
        given_one = draw(st.sampled_from(ONE_OF[kind])) if kind in ONE_OF else None
        for name, field in cls.model_fields.items():
            if name in ("kind", "at") or (given_one and name in ONE_OF[kind] and name != given_one):
                continue
            if name in TARGETS:
                event[name] = draw(st.sampled_from(TARGETS[name]))
            elif name == "asset":
                event[name] = draw(st.sampled_from(ASSET_TARGETS[cls.asset_kind]))
            elif name == "duration":
                event[name] = draw(st.sampled_from([None, "1h", "6h", "1d", "2d"]))
            else:
                strategy = values_of(field.annotation, list(field.metadata),
                                     allow_none=name != given_one)
                value = draw(strategy) if strategy is not None else None
                if value is not None or not field.is_required():
                    event[name] = value
        drawn.append(event)
    return drawn


@st.composite
def overrides(draw) -> dict[str, Any]:
    """A few changes to tiny.yaml: sizes, any fields within their ranges, correlations, trader
    styles and events."""
    changes = {path: draw(strategy) for path, strategy in SIZES.items() if draw(st.booleans())}
    for path in draw(st.lists(st.sampled_from(sorted(LEAVES)), max_size=8, unique=True)):
        changes[path] = draw(LEAVES[path])
    if draw(st.booleans()):
        pairs = st.sampled_from(["BTC/ETH", "BTC/TSLA", "ETH/NVDA", "TSLA/NVDA"])
        changes["correlations"] = draw(st.dictionaries(pairs, st.floats(-1, 1), max_size=2))
    if draw(st.booleans()):
        styles = draw(st.dictionaries(st.sampled_from(TRADER_STYLES), st.floats(0, 1e6)))
        styles[draw(st.sampled_from(TRADER_STYLES))] = draw(st.floats(1e-6, 1e6))
        changes["agents.trader.styles"] = styles
    changes["events"] = draw(events(changes.get("clock.burn_in_days", 0.5),
                                    changes.get("clock.days", 3.0)))
    return changes


def _numeric_leaves(model: type[BaseModel], prefix: str = ""):
    """(path, bounds) of every int or float the schema takes under ``model``: fields, the values
    of name-keyed mappings and the items of lists; bounds as (lower, upper), None where open."""
    for name, field in model.model_fields.items():
        yield from _numeric_in(field.annotation, list(field.metadata), prefix + name)
    for cls in (EVENT_TYPES if model is Scenario else ()):
        yield from _numeric_leaves(cls, f"events.{cls.__name__}.")


def _numeric_in(tp: Any, meta: list, path: str):
    tp, more, _ = _unwrap(tp)
    meta = meta + more
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        yield from _numeric_leaves(tp, path + ".")
    elif typing.get_origin(tp) in (dict, list):
        yield from _numeric_in(typing.get_args(tp)[-1], [], path + ".*")
    elif tp in (int, float):
        low = next((m.ge if isinstance(m, at.Ge) else m.gt for m in meta
                    if isinstance(m, at.Ge | at.Gt)), None)
        high = next((m.le if isinstance(m, at.Le) else m.lt for m in meta
                     if isinstance(m, at.Le | at.Lt)), None)
        yield path, (low, high)


def test_every_numeric_field_has_a_range():
    """A number the schema takes without bounds is one the run may not survive: every int and
    float has a lower and an upper bound (the clock's days and burn-in are bounded by the
    calendar and by each other instead; see Clock)."""
    by_calendar = {"clock.days", "clock.burn_in_days"}
    unbounded = [path for path, (low, high) in _numeric_leaves(Scenario)
                 if (low is None or high is None) and path not in by_calendar]
    assert unbounded == []
    assert len(LEAVES) > 150            # every behaviour field, per asset, token and market


@SETTINGS
@given(changes=overrides())
def test_any_accepted_scenario_runs_to_the_end_or_is_refused_in_one_line(changes):
    try:
        scenario = tiny(changes)
        check_before_run(scenario, source=str(TINY))
    except UserInputError as exc:
        assert "\n" not in str(exc)
        event("refused by the validator")
        return
    try:
        result = run(scenario)
    except UserInputError as exc:       # refused at the start of the run: still one line
        assert "\n" not in str(exc)
        event("refused by the run")
        return
    event("ran to the end")
    assert result.summary["steps"] == scenario.n_steps
    assert result.summary["conservation_max_error"] < 1e-9


@pytest.mark.parametrize("path", ["assets.BTC.sigma", "markets.TSLA.M.funding_period_days",
                                  "tokens.NVDA.M.amm.reserve_usd", "agents.trader.take_profit"])
def test_the_drawn_fields_reach_into_every_section(path):
    assert path in LEAVES

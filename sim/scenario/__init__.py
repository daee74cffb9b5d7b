"""Scenario files: pydantic models, loading with ``--set`` overrides, validation, the schema.

A scenario is one YAML file naming only what it changes; every default lives in the models
(design section 13). ``load_scenario`` turns a file into a frozen ``Scenario`` or raises one
``UserInputError`` line naming the file and the field.

Modules: ``world`` (clock, assets, tokens), ``markets`` (markets, margin, pools), ``agents``
(populations, behaviours, arrivals), ``events`` (shocks), ``scenario`` (``Scenario`` and the
cross-field checks), ``loading`` (YAML, one-line errors, dump), ``inherit`` (``base:``, a
file laid over another), ``overrides`` (``--set`` paths), ``schema`` (JSON schema).
"""

from sim.durations import parse_duration
from sim.scenario.agents import (
    Agents,
    ArbBehaviour,
    Arrivals,
    Bass,
    LPBehaviour,
    MMBehaviour,
    TraderBehaviour,
)
from sim.scenario.events import (
    EVENT_KINDS,
    CryptoJumpEvent,
    DepegEvent,
    Event,
    LpRunEvent,
    MmWithdrawalEvent,
    OracleOutageEvent,
    PinEvent,
    PremiumEvent,
    SplitEvent,
    WeekendGapEvent,
)
from sim.scenario.loading import (
    dump_scenario,
    load_scenario,
    scenario_from_dict,
)
from sim.scenario.markets import Insurance, Liquidation, Margin, MarketSpec, Pool
from sim.scenario.overrides import apply_overrides
from sim.scenario.scenario import USDC, Scenario
from sim.scenario.schema import SCHEMA_PATH, scenario_json_schema, write_schema
from sim.scenario.world import (
    NYSE_HOLIDAYS_2020_2027,
    Amm,
    Asset,
    AssetPriceFile,
    Clock,
    Issuer,
    PriceFile,
    Token,
)

__all__ = [
    "EVENT_KINDS",
    "NYSE_HOLIDAYS_2020_2027",
    "SCHEMA_PATH",
    "USDC",
    "Agents",
    "Amm",
    "ArbBehaviour",
    "Arrivals",
    "Asset",
    "Bass",
    "Clock",
    "CryptoJumpEvent",
    "DepegEvent",
    "Event",
    "Insurance",
    "Issuer",
    "LPBehaviour",
    "Liquidation",
    "LpRunEvent",
    "MMBehaviour",
    "Margin",
    "MarketSpec",
    "MmWithdrawalEvent",
    "OracleOutageEvent",
    "PinEvent",
    "Pool",
    "PremiumEvent",
    "AssetPriceFile",
    "PriceFile",
    "Scenario",
    "SplitEvent",
    "Token",
    "TraderBehaviour",
    "WeekendGapEvent",
    "apply_overrides",
    "dump_scenario",
    "load_scenario",
    "parse_duration",
    "scenario_from_dict",
    "scenario_json_schema",
    "write_schema",
]

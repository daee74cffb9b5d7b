"""What a scenario's twins change (design 1 and 11): the margin twin's potential market and
the impulse of an impulse twin. ``sim.twins`` builds and runs the twins."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field, field_validator

from sim.durations import parse_at
from sim.scenario._base import MAX_RATIO, FrozenModel
from sim.scenario.events import AT_DESCRIPTION


class Twin(FrozenModel):
    """How the margin twin of a scenario differs from it (design 1), besides its margin asset."""

    potential_ratio: float = Field(
        1.0,
        gt=0,
        le=MAX_RATIO,
        description="Potential market M of the margin twin as a multiple of the scenario's "
        "(design 1 assumes the same M: 1; change it for a sensitivity).",
    )


class Impulse(FrozenModel):
    """Extra traders added at one time (design 11's impulse twins; set by ``--compare impulse``).

    At ``at``, k = round(fraction x active traders then) traders arrive beside the Bass
    arrivals, each with the random stream ``(impulse, trader, j)``. With ``freeze_quality`` the
    market quality that drives arrivals follows the path of the same scenario and seed without
    the impulse instead of the run's own (the counterfactual that isolates the flywheel).
    """

    fraction: float = Field(
        ge=0, le=1, description="Extra traders as a fraction of the active traders at `at`."
    )
    at: str = Field("day 30", description=AT_DESCRIPTION)
    freeze_quality: bool = Field(
        False, description="Drive arrivals by the quality path of the run without the impulse."
    )

    @field_validator("at", mode="before")
    @classmethod
    def _at_text(cls, value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime | date) else value

    @field_validator("at")
    @classmethod
    def _at_parses(cls, value: str) -> str:
        parse_at(value)
        return value

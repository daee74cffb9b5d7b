"""Study files: which scenarios, how many seeds, which impulses and horizons (design 11).

A study file is YAML validated like a scenario (pydantic, unknown keys refused, frozen):

    name: library
    scenarios:                                 # relative to the study file
      - baseline.yaml
      - {path: tsla_split.yaml, at: "day 10"}  # its own t0 (a 30-day run)
    seeds: 10                                  # replications, the same seeds for every scenario
    root_seed: 0
    impulses: [0.05, 0.10]                     # k as a fraction of active traders at t0
    at: "day 30"                               # t0, read like a scenario event time
    horizons_days: [7, 30, 60]
    set: {clock.days: 60}                      # overrides applied to every scenario
    workers: 2                                 # processes (default: the cores)

``load_study`` turns it into a ``Study`` (the scenarios loaded, the seeds derived, t0 in days
per scenario) or raises one ``UserInputError`` line naming the file and the field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import ConfigDict, Field, ValidationError, field_validator

from sim.durations import at_to_step, parse_at
from sim.errors import UserInputError
from sim.scenario import Scenario, load_scenario
from sim.scenario._base import NAME_PATTERN, FrozenModel
from sim.scenario.yaml_limits import parse_yaml, read_text_file

if TYPE_CHECKING:
    from sim.preflight import Limits


def _readable_time(text: str | None) -> str | None:
    if text is not None:
        parse_at(text)            # ValueError with the reason
    return text


class _Frozen(FrozenModel):
    """A scenario's rules (``FrozenModel``: unknown keys, NaN and booleans for numbers refused),
    and the ``set`` alias readable by name."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False,
                              populate_by_name=True)


class ScenarioEntry(_Frozen):
    """A scenario of the study with its own t0 (for a run too short for the study's ``at``)."""

    path: str = Field(description="Scenario file, relative to the study file.")
    at: str | None = Field(None, description="t0 of this scenario's impulses (default: the "
                                             "study's at).")

    _check_at = field_validator("at")(_readable_time)


class StudySpec(_Frozen):
    """One study file, as written (paths not yet resolved)."""

    name: str = Field(pattern=NAME_PATTERN,
                      description="Name of the study, its results folder ([A-Za-z0-9_.-]+).")
    description: str = Field("", description="The question the study asks.")
    scenarios: list[ScenarioEntry] = Field(
        min_length=1, description="Scenario files, relative to the study file; an entry "
                                  "{path, at} gives one its own t0.")
    seeds: int = Field(10, ge=1, le=10_000,
                       description="Replications per scenario (common to all).")
    root_seed: int = Field(0, ge=0, le=2**63 - 1, description="SeedSequence root the replications' seeds "
                                                "are spawned from.")
    impulses: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        [0.05, 0.10], min_length=1,
        description="Impulse sizes k as fractions of the active traders at t0.")
    at: str = Field("day 30", description="t0 of the impulses: 'day 30', 'step 720' or an ISO "
                                          "time, read like a scenario event time.")
    horizons_days: list[Annotated[float, Field(gt=0)]] = Field(
        [7.0, 30.0, 60.0], min_length=1, description="Horizons H after t0 (days) of G(H).")
    overrides: dict[str, Any] = Field({}, alias="set",
                                      description="dotted.path: value, applied to every scenario.")
    workers: int | None = Field(None, ge=1, le=1024, description="Processes (default: the cores).")

    _check_at = field_validator("at")(_readable_time)

    @field_validator("scenarios", mode="before")
    @classmethod
    def _paths_as_entries(cls, entries: Any) -> Any:
        if isinstance(entries, list):
            return [{"path": e} if isinstance(e, str) else e for e in entries]
        return entries

    @field_validator("scenarios")
    @classmethod
    def _distinct(cls, entries: list[ScenarioEntry]) -> list[ScenarioEntry]:
        paths = [e.path for e in entries]
        repeated = sorted({p for p in paths if paths.count(p) > 1})
        if repeated:
            raise ValueError(f"named twice: {', '.join(repeated)}")
        return entries


@dataclass(frozen=True)
class StudyScenario:
    """One scenario of a study: its file, the loaded scenario, its t0 as written and in days."""

    path: str
    scenario: Scenario
    at: str
    at_day: float

    @property
    def name(self) -> str:
        return self.scenario.name


@dataclass(frozen=True)
class Study:
    """A loaded study: the spec, where it came from, its scenarios and the replications' seeds."""

    spec: StudySpec
    source: str
    scenarios: tuple[StudyScenario, ...]
    seeds: tuple[int, ...]
    limits: Limits | None = None      # what each run may need (None: sim.preflight's defaults)

    @property
    def name(self) -> str:
        return self.spec.name


def replication_seeds(root_seed: int, n: int) -> tuple[int, ...]:
    """The seed of each replication: ``SeedSequence(root_seed).spawn(n)``, one 32-bit word each.

    Spawned children are keyed by their index, so the first seeds stay the same when ``n`` grows
    (a study resumed with more seeds keeps the cells it has).
    """
    children = np.random.SeedSequence(root_seed).spawn(n)
    return tuple(int(c.generate_state(1)[0]) for c in children)


def at_day(text: str, scenario: Scenario) -> float:
    """t0 in days from the start of ``scenario``, on the step boundary the shocks would use."""
    step = at_to_step(text, scenario.clock.start, scenario.clock.step_minutes)
    return step * scenario.clock.step_minutes / 1440.0


def load_study(path: str | os.PathLike, seeds: int | None = None,
               limits: Limits | None = None) -> Study:
    """Read and check a study file and every scenario it names, each as its cells' runs would be
    checked before their first step (``check_cell_runs``); ``seeds`` replaces its count."""
    source = str(path)
    spec = _read_spec(source)
    if seeds is not None:
        if seeds < 1:
            raise UserInputError(f"--seeds: must be >= 1, got {seeds}")
        spec = spec.model_copy(update={"seeds": seeds})
    folder = Path(source).resolve().parent
    loaded: list[StudyScenario] = []
    for i, entry in enumerate(spec.scenarios):
        rel, at = entry.path, entry.at
        where = f"{source}: scenarios.{i}"
        try:
            scenario = load_scenario(folder / os.path.expanduser(rel), spec.overrides)
            check_cell_runs(scenario, limits, source=rel)
        except UserInputError as exc:
            raise UserInputError(f"{where}: {exc}") from None
        t0 = at_day(at or spec.at, scenario)
        clock = scenario.clock
        if not clock.burn_in_days <= t0 < clock.days:
            field = f"scenarios.{i}.at" if at else "at"
            raise UserInputError(
                f"{source}: {field}: {at or spec.at!r} is day {t0:g} of {scenario.name}, outside "
                f"its impulse window (day {clock.burn_in_days:g}, the end of the burn-in, to "
                f"day {clock.days:g}, the end); give it its own: {{path: {rel}, at: ...}}")
        loaded.append(StudyScenario(rel, scenario, at or spec.at, t0))
    names = [s.name for s in loaded]
    for name in dict.fromkeys(n for n in names if names.count(n) > 1):
        files = [s.path for s in loaded if s.name == name]
        raise UserInputError(f"{source}: scenarios: {' and '.join(files)} are both named "
                             f"{name!r}; their results would collide")
    return Study(spec, source, tuple(loaded), replication_seeds(spec.root_seed, spec.seeds), limits)


def check_cell_runs(scenario: Scenario, limits: Limits | None = None, source: str | None = None
                    ) -> None:
    """A study cell's base run checked as a run checks itself before its first step (its size
    against ``limits``, its price files: ``sim.preflight.check_before_run``), without the
    scenario's own impulse, which the cell replaces by its impulse twins."""
    from sim.preflight import check_before_run
    from sim.twins import without_impulse

    check_before_run(without_impulse(scenario), limits, source=source)


def is_study_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a study (a mapping with ``scenarios:``) rather than a scenario;
    studies may sit beside the scenarios they name (``scenarios/study.yaml``)."""
    try:
        data = parse_yaml(read_text_file(path), str(path))
    except UserInputError:          # not readable as YAML: the scenario loader says why
        return False
    return isinstance(data, dict) and "scenarios" in data


def _read_spec(source: str) -> StudySpec:
    data = parse_yaml(read_text_file(source), source)     # with the limits of yaml_limits
    if not isinstance(data, dict):
        raise UserInputError(f"{source}: a study is a mapping of fields (name: ..., "
                             f"scenarios: [...]), got {type(data).__name__}")
    try:
        return StudySpec.model_validate(data)
    except ValidationError as exc:
        raise UserInputError(f"{source}: {_one_line(exc)}") from None


def _one_line(exc: ValidationError) -> str:
    known = ", ".join(f.alias or n for n, f in StudySpec.model_fields.items())
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            message = f"unknown key; known keys: {known}"
        elif err["type"] == "missing":
            message = "required, but missing"
        elif err["type"] == "model_type":
            message = f"expected a scenario file or {{path: ..., at: ...}} (got {err['input']!r})"
        else:
            message = err["msg"].removeprefix("Value error, ")
            value = err.get("input")
            if not isinstance(value, dict | list) and err["type"] != "value_error":
                message += f" (got {value!r})"
        parts.append(f"{loc}: {message}")
    return "; ".join(dict.fromkeys(parts))

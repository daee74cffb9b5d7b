"""Sweep files (design 13): what to vary, over which scenarios, with how many seeds.

```yaml
name: insurance_size
scenarios: [../baseline.yaml, ../depeg.yaml]   # relative to this file, or
                                                 # {file: ../depeg.yaml, set: {...}}
set: {clock.days: 60}                            # fixed overrides of every run (optional)
grid: {insurance.initial: [0.0, 0.01, 0.02]}    # or zip: {...} or sample: {...}
seeds: 20
root_seed: 1
```

``compare: [margin, impulse]`` runs each point's twins too (``sim.twins``; ``impulse:`` sets
the impulse's time, sizes and horizons). Exactly one of ``grid:`` (the Cartesian product of the lists), ``zip:`` (lists of equal length
varied together: point i takes the i-th value of each) or ``sample:`` (``method`` lhs or sobol,
quasi-random points over ``ranges`` by ``scipy.stats.qmc``; or saltelli, SALib's scheme for Sobol
indices). Each point runs ``seeds`` seeds, the same at every point and scenario (common random
numbers: differences between points are paired), derived as ``SeedSequence(root_seed).spawn``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from sim.errors import UserInputError
from sim.scenario._base import NAME_PATTERN, FrozenModel
from sim.scenario.yaml_limits import parse_yaml, read_text_file

Point = dict[str, Any]          # dotted path -> value


class Sample(FrozenModel):
    """Quasi-random points over ranges: ``method`` lhs (Latin hypercube), sobol (scrambled
    Sobol' sequence) or saltelli (SALib's scheme for first-order and total Sobol indices)."""

    method: Literal["lhs", "sobol", "saltelli"]
    n: int = Field(gt=0, description="Points (lhs, sobol) or base samples N (saltelli: "
                                     "N x (D + 2) points, N x (2D + 2) with second order).")
    ranges: dict[str, tuple[float, float]] = Field(min_length=1,
                                                   description="dotted path -> [low, high]")
    second_order: bool = Field(False, description="saltelli only: also second-order indices.")

    @model_validator(mode="after")
    def _check(self) -> Sample:
        bad = [p for p, (lo, hi) in self.ranges.items() if not lo < hi]
        if bad:
            raise ValueError(f"ranges: low must be below high ({', '.join(bad)})")
        if self.method in ("sobol", "saltelli") and self.n & (self.n - 1):
            raise ValueError(f"n: {self.method} needs a power of 2 (balance of the Sobol' "
                             f"sequence), got {self.n}")
        if self.second_order and self.method != "saltelli":
            raise ValueError("second_order: only the saltelli method has second-order indices")
        return self


class ScenarioEntry(FrozenModel):
    """A base scenario of the sweep and overrides of its own (e.g. a start near its shock)."""

    file: str
    set: dict[str, Any] = Field(default_factory=dict)


class ImpulseOptions(FrozenModel):
    """The impulse twins of ``compare: [impulse]`` (design 11): k as fractions of the active
    traders at ``at``, gains at each horizon (days after ``at``)."""

    at: str = "day 30"
    fractions: list[float] = Field(default_factory=lambda: [0.05, 0.10], min_length=1)
    horizons_days: list[float] = Field(default_factory=lambda: [7.0, 30.0, 60.0], min_length=1)

    @model_validator(mode="after")
    def _check(self) -> ImpulseOptions:
        if not all(0 < f <= 1 for f in self.fractions):
            raise ValueError(f"fractions: each must be in (0, 1], got {self.fractions}")
        if not all(h > 0 for h in self.horizons_days):
            raise ValueError(f"horizons_days: each must be > 0, got {self.horizons_days}")
        return self


class Threshold(FrozenModel):
    """The report's question: the smallest value of the swept parameter at which ``metric``
    (a headline metric of ``sim.sweep.aggregate``) is below ``below``."""

    metric: str
    below: float


class SweepSpec(FrozenModel):
    """A validated sweep file; each scenario's ``file`` is an absolute path once loaded."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    scenarios: list[ScenarioEntry] = Field(min_length=1)
    set: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] | None = None
    zip: dict[str, list[Any]] | None = None
    sample: Sample | None = None
    seeds: int = Field(gt=0)
    root_seed: int = Field(0, ge=0)
    threshold: Threshold | None = None
    compare: list[Literal["margin", "impulse"]] = Field(
        default_factory=list, description="Twins each run also runs (design 1, 11); their "
        "differences and gains become columns of runs.parquet.")
    impulse: ImpulseOptions = Field(default_factory=ImpulseOptions)

    @field_validator("grid", "zip")
    @classmethod
    def _lists_not_empty(cls, value: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
        empty = [p for p, values in (value or {}).items() if not values]
        if empty:
            raise ValueError(f"{', '.join(empty)}: an empty list of values")
        return value

    @model_validator(mode="after")
    def _check(self) -> SweepSpec:
        given = [k for k in ("grid", "zip", "sample") if getattr(self, k) is not None]
        if len(given) != 1:
            has = f"this file has {' and '.join(given)}" if given else "it has none"
            raise ValueError(f"give exactly one of grid:, zip:, sample: ({has})")
        if self.zip:
            lengths = {p: len(v) for p, v in self.zip.items()}
            if len(set(lengths.values())) > 1:
                each = ", ".join(f"{p} has {n}" for p, n in lengths.items())
                raise ValueError(f"zip: lists varied together need equal lengths ({each})")
        clash = sorted(set(self.set) & set(self.varied))
        if clash:
            raise ValueError(f"set: {', '.join(clash)} is also varied; fix it in one place")
        for i, entry in enumerate(self.scenarios):
            clash = sorted(set(entry.set) & set(self.varied))
            if clash:
                raise ValueError(f"scenarios.{i}.set: {', '.join(clash)} is also varied")
        if len(set(self.compare)) != len(self.compare):
            raise ValueError("compare: a twin is named twice")
        files = [entry.file for entry in self.scenarios]
        if len(set(files)) != len(files):
            raise ValueError("scenarios: a file is named twice")
        return self

    @property
    def kind(self) -> str:
        """"grid", "zip" or "sample"."""
        return "grid" if self.grid is not None else "zip" if self.zip is not None else "sample"

    @property
    def varied(self) -> list[str]:
        """The dotted paths the sweep varies, in the file's order."""
        if self.sample is not None:
            return list(self.sample.ranges)
        return list((self.grid if self.grid is not None else self.zip) or {})


def load_sweep(path: str | os.PathLike) -> SweepSpec:
    """Read and validate a sweep file; scenario paths are made absolute (relative to it)."""
    source = str(path)
    data = parse_yaml(read_text_file(path, source), source)     # with the limits of yaml_limits
    if not isinstance(data, dict):
        raise UserInputError(f"{source}: a sweep file is a mapping (name:, scenarios:, grid: ...)")
    folder = Path(path).resolve().parent

    def absolute(entry: Any) -> Any:
        if isinstance(entry, str):
            entry = {"file": entry}
        if isinstance(entry, dict) and isinstance(entry.get("file"), str):
            entry = {**entry, "file": str((folder / os.path.expanduser(entry["file"])).resolve())}
        return entry

    if isinstance(data.get("scenarios"), list):
        data["scenarios"] = [absolute(entry) for entry in data["scenarios"]]
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise UserInputError(f"{source}: {_one_line(exc)}") from None


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = f"unknown key (known: {', '.join(SweepSpec.model_fields)})"
        parts.append(f"{loc}: {message}" if loc else message)
    return "; ".join(dict.fromkeys(parts))


def is_sweep_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a sweep (a mapping with ``grid:``, ``zip:`` or ``sample:``)
    rather than a scenario or a study (``flywheel validate`` checks each as what it is)."""
    try:
        data = parse_yaml(read_text_file(path), str(path))
    except UserInputError:          # not readable as YAML: the scenario loader says why
        return False
    return isinstance(data, dict) and any(k in data for k in ("grid", "zip", "sample"))


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (the manifest records the sweep file's)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------ points and seeds
def points(spec: SweepSpec) -> list[Point]:
    """Every parameter point of the sweep, in a fixed order (point i is row i of the design)."""
    if spec.grid is not None:
        paths = list(spec.grid)
        return [dict(zip(paths, combo)) for combo in itertools.product(*spec.grid.values())]
    if spec.zip is not None:
        paths = list(spec.zip)
        return [dict(zip(paths, values)) for values in zip(*spec.zip.values())]
    assert spec.sample is not None
    matrix = sample_matrix(spec.sample, spec.root_seed)
    paths = list(spec.sample.ranges)
    return [{p: float(v) for p, v in zip(paths, row)} for row in matrix]


def salib_problem(sample: Sample) -> dict[str, Any]:
    """SALib's problem dictionary of a sample: names and bounds."""
    return {"num_vars": len(sample.ranges), "names": list(sample.ranges),
            "bounds": [list(b) for b in sample.ranges.values()]}


def sample_matrix(sample: Sample, seed: int) -> np.ndarray:
    """The sample's points, one row each, in the ranges' units (seeded, reproducible)."""
    lows = np.array([lo for lo, _ in sample.ranges.values()])
    highs = np.array([hi for _, hi in sample.ranges.values()])
    dims = len(lows)
    if sample.method == "saltelli":
        from SALib.sample import sobol as salib_sobol

        return salib_sobol.sample(salib_problem(sample), sample.n,
                                  calc_second_order=sample.second_order, seed=seed)
    from scipy.stats import qmc

    if sample.method == "lhs":
        unit = qmc.LatinHypercube(d=dims, rng=np.random.default_rng(seed)).random(sample.n)
    else:
        unit = qmc.Sobol(d=dims, scramble=True, rng=np.random.default_rng(seed)).random_base2(
            int(math.log2(sample.n)))
    return qmc.scale(unit, lows, highs)


def seeds(spec: SweepSpec) -> list[int]:
    """The run seeds: one 32-bit integer from each child of ``SeedSequence(root_seed)``."""
    children = np.random.SeedSequence(spec.root_seed).spawn(spec.seeds)
    return [int(child.generate_state(1)[0]) for child in children]


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """``--set PATH=VALUE`` strings as a mapping (values read as YAML, by the parser of
    ``flywheel run``'s overrides)."""
    from sim.scenario.overrides import OverridePathError, _parse_overrides

    try:
        return dict(_parse_overrides(list(items)))
    except OverridePathError as exc:
        raise UserInputError(f"--set: {exc}") from None


def describe(point: Mapping[str, Any]) -> str:
    """``insurance.initial=0.01, pool.initial_usd=2e6``: a point in one line."""
    return ", ".join(f"{p}={v!r}" if isinstance(v, str) else f"{p}={v:g}"
                     if isinstance(v, float) else f"{p}={v}" for p, v in point.items())

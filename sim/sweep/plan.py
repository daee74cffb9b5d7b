"""A sweep's runs, checked before any starts: each scenario at each point, times the seeds.

Every (scenario, point) is loaded once with ``sim.scenario.load_scenario`` (``Plan.overrides``)
and checked as a run would check it (its size, its price files), so an unknown path, a value the
scenario refuses or a bad price file is one line naming the sweep file, the scenario, the point
and the path, before anything runs.
A run's identity is its run key (``sim.run.run_key``: the resolved scenario, the seed, the code
and what the run module adds to it), computed as its task is handed out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.errors import UserInputError
from sim.sweep.spec import Point, SweepSpec, describe, points, seeds

if TYPE_CHECKING:
    from sim.preflight import Limits
    from sim.scenario import Scenario


@dataclass(frozen=True)
class Task:
    """One run of the sweep: what a worker needs to compute (or reload) it."""

    scenario_file: str                  # absolute path of the base scenario
    scenario: str                       # its name (results/<name>/<run key>)
    point: int                          # index into the sweep's points
    params: Point                       # the varied values at that point
    overrides: dict[str, Any]           # Plan.overrides: what load_scenario is given
    replicate: int                      # 0 .. seeds-1
    seed: int
    key: str = ""                       # the run key (filled in as the task is handed out)
    compare: tuple[str, ...] = ()       # twins to run beside it ("margin", "impulse")
    impulse: dict[str, Any] | None = None   # ImpulseOptions as data, with "impulse"
    limits: Limits | None = None        # --max-memory-gb, --max-agent-steps (None: defaults)

    @property
    def record_key(self) -> str:
        """The journal's key: the run key, and what twins ran with it (a sweep that adds
        ``compare:`` later runs the twins of runs it already holds)."""
        if not self.compare:
            return self.key
        what = json.dumps([list(self.compare), self.impulse], sort_keys=True)
        return f"{self.key}+{'+'.join(self.compare)}-{hashlib.sha256(what.encode()).hexdigest()[:8]}"


@dataclass
class Plan:
    """The checked scenarios and points of a sweep; ``tasks()`` yields its runs with their keys."""

    spec: SweepSpec
    source: str                                   # the sweep file (for messages)
    points: list[Point]
    seeds: list[int]
    scenario_names: list[str]
    loaded: dict[tuple[int, int], Scenario] = field(default_factory=dict, repr=False)
    cli_set: dict[str, Any] = field(default_factory=dict)  # --set
    limits: Limits | None = None                  # what each run may need (sim.preflight)

    @property
    def n_runs(self) -> int:
        return len(self.spec.scenarios) * len(self.points) * len(self.seeds)

    def tasks(self) -> Iterator[Task]:
        """Every run, scenario by scenario, point by point, seed by seed, with its run key."""
        from sim.run import _run_key_of, data_fingerprint, resolved_yaml

        compare = tuple(self.spec.compare)
        impulse = self.spec.impulse.model_dump() if "impulse" in compare else None
        for s, entry in enumerate(self.spec.scenarios):
            for p, point in enumerate(self.points):
                scenario = self.loaded[(s, p)]
                overrides = self.overrides(s, point)
                # run_key's parts that do not depend on the seed, once per point
                text, data = resolved_yaml(scenario), data_fingerprint(scenario)
                for r, seed in enumerate(self.seeds):
                    yield Task(entry.file, scenario.name, p, point, overrides, r, seed,
                               key=_run_key_of(text, seed, data=data), compare=compare,
                               impulse=impulse, limits=self.limits)

    def overrides(self, s: int, point: Point) -> dict[str, Any]:
        """What scenario ``s`` is loaded with at ``point``: the sweep's ``set:``, the scenario's
        own ``set:``, the command line's ``--set``, then the point."""
        return {**self.spec.set, **self.spec.scenarios[s].set, **self.cli_set, **point}


def make_plan(spec: SweepSpec, source: str | Path, cli_set: Mapping[str, Any] | None = None,
              limits: Limits | None = None) -> Plan:
    """Load every scenario at every point and check it as a run would before its first step:
    its size against ``limits`` and its price files (``sim.preflight.check_before_run``;
    UserInputError at the first that fails)."""
    from sim.preflight import check_before_run
    from sim.scenario import load_scenario

    source = str(source)
    cli_set = dict(cli_set or {})
    varied_too = sorted(set(cli_set) & set(spec.varied))
    if varied_too:
        raise UserInputError(f"--set: {', '.join(varied_too)} is what {source} varies")
    plan = Plan(spec, source, points(spec), seeds(spec), [], {}, cli_set, limits)
    files_read: set[str] = set()          # each price file once per clock, not once per point
    for s, entry in enumerate(spec.scenarios):
        for p, point in enumerate(plan.points):
            try:
                plan.loaded[(s, p)] = load_scenario(entry.file, plan.overrides(s, point))
                check_before_run(plan.loaded[(s, p)], limits, entry.file, files_read)
                if "impulse" in spec.compare and p == 0:
                    _check_impulse(plan.loaded[(s, p)], spec)
            except UserInputError as exc:
                raise UserInputError(_where(source, entry.file, p, point, str(exc))) from None
        plan.scenario_names.append(plan.loaded[(s, 0)].name)
    _check_names(source, spec, plan.scenario_names)
    return plan


def _check_impulse(scenario: Scenario, spec: SweepSpec) -> None:
    """The impulse twin must fit the run (``impulse.at`` after the burn-in, before the end)."""
    from sim.twins import impulse_twin, without_impulse

    try:
        impulse_twin(without_impulse(scenario), spec.impulse.fractions[0], spec.impulse.at)
    except UserInputError as exc:
        message = str(exc).removeprefix(f"{scenario.name} (twin): ")
        raise UserInputError(f"compare: impulse twin: {message} (set the sweep's impulse.at)") from None


def _where(source: str, scenario_file: str, p: int, point: Point, message: str) -> str:
    """``<sweep file>: scenario <file>, point 3 (insurance.initial=-1): <path>: <problem>``."""
    message = message.removeprefix(f"{scenario_file}: ")
    at = f", point {p} ({describe(point)})" if point else ""
    return f"{source}: scenario {Path(scenario_file).name}{at}: {message}"


def _check_names(source: str, spec: SweepSpec, names: Sequence[str]) -> None:
    seen: dict[str, str] = {}
    for path, name in zip((entry.file for entry in spec.scenarios), names):
        if name in seen:
            raise UserInputError(f"{source}: scenarios: {Path(seen[name]).name} and "
                                 f"{Path(path).name} are both named {name!r}")
        seen[name] = path
    if spec.name in seen:
        raise UserInputError(f"{source}: name: {spec.name!r} is also a scenario's name; the "
                             "sweep's files and that scenario's runs would share one folder")

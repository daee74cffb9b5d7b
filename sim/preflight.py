"""Pre-flight: refuse a run that cannot fit, from its sizes alone, before anything is built.

A scenario's memory and agent-steps grow with its agents (the initial populations plus every
user the Bass arrivals can bring, ``arrivals.*.potential``) and its steps (``clock.days`` /
``clock.step_minutes``). ``estimate`` turns those sizes into bytes and agent-steps with the
per-item costs below (measured on this machine, rounded up); ``check_fits`` refuses, in one
``UserInputError`` line naming the fields, the estimate and the option that raises the limit,
a scenario above ``Limits``. ``check_before_run`` adds what else a run reads before its first
step (the price files), so ``flywheel validate`` says OK only for a run that will start.

Nothing here builds a model or allocates in proportion to the scenario: refusing a billion
agents takes milliseconds (``flywheel bench --only preflight``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.errors import UserInputError

if TYPE_CHECKING:
    from sim.scenario import Scenario

# --- per-item costs (measured, rounded up; README "How fast" has the whole-run figures) -------
BASE_BYTES = 250e6
"""The interpreter with numpy, pandas, pyarrow, Mesa and matplotlib loaded: 214 MB measured."""
BYTES_PER_AGENT = 6_000
"""An agent as built (wallet, Poisson clock, random stream, trade-book account): 4.4-5.1 kB
measured with 5,000 and 20,000 traders."""
BYTES_PER_COLUMN_STEP = 48
"""One time-series value: about 30 B while stepping (the per-step rows), 8 B in the frame and a
copy while it is written."""
BYTES_PER_STEP = 200
"""The step clock's times, the arrivals' uniforms, the price paths and the history, per step."""
BYTES_PER_AGENT_STEP = 2
"""Events and positions as they accumulate: 1.4 B per agent-step over the 10,000-agent year of
``flywheel bench --only model`` (5-7 B in the first days, when positions open)."""
PRICE_FILE_FACTOR = 10
"""Memory per byte of a price file read into a frame (text to float64 columns and an index)."""
AGENT_STEPS_PER_S = 1.3e6
"""The whole model's speed (1.2-1.5 M agent-steps a second here), for the time in a refusal."""

# --- default limits ---------------------------------------------------------------------------
DEFAULT_MAX_MEMORY_GB = 8.0
"""8 GB: two runs at once (one per core of the 2-core, 24 GB development machine) use at most 16
GB and leave 8 for the system and the other users. The design's year of 10,000 agents is
estimated at 0.8 GB (0.33 GB measured)."""
DEFAULT_MAX_AGENT_STEPS = 1e10
"""Ten billion agent-steps: about two hours at 1.3 M a second, a hundred times the design's
year of 10,000 agents (1.8e8 agent-steps as estimated here)."""


@dataclass(frozen=True)
class Limits:
    """What a run may need: memory in GB and agent-steps (``--max-memory-gb``,
    ``--max-agent-steps``)."""

    max_memory_gb: float = DEFAULT_MAX_MEMORY_GB
    max_agent_steps: float = DEFAULT_MAX_AGENT_STEPS

    def __post_init__(self) -> None:
        for option, value in (("--max-memory-gb", self.max_memory_gb),
                              ("--max-agent-steps", self.max_agent_steps)):
            if isinstance(value, bool) or not (isinstance(value, int | float)
                                               and math.isfinite(value) and value > 0):
                raise UserInputError(f"{option}: must be a number > 0, got {value!r}")


@dataclass(frozen=True)
class Estimate:
    """What a scenario needs, from its sizes: peak agents, steps, agent-steps, bytes; and the
    fields that set each (largest first)."""

    agents: int
    steps: int
    agent_steps: float
    memory_bytes: float
    agent_fields: tuple[str, ...]
    step_fields: tuple[str, ...]
    file_fields: tuple[str, ...]

    @property
    def memory_gb(self) -> float:
        return self.memory_bytes / 1e9

    @property
    def hours(self) -> float:
        return self.agent_steps / AGENT_STEPS_PER_S / 3600


def _columns(scenario: Scenario) -> int:
    """Time-series columns, rounded up (``sim.metrics.columns``: 125 for the default world)."""
    stocks = sum(a.kind == "stock" for a in scenario.assets.values())
    return (30 + len(scenario.assets) + stocks + 8 * len(scenario.tokens)
            + 50 * len(scenario.markets))


def estimate(scenario: Scenario) -> Estimate:
    """Peak agents, steps, agent-steps and memory of a run of ``scenario``, from its sizes."""
    ag, arr = scenario.agents, scenario.arrivals
    counts = {
        "agents.traders": ag.traders,
        "agents.liquidity_providers": ag.liquidity_providers,
        "agents.market_makers": ag.market_makers,
        "agents.arbitrageurs": ag.arbitrageurs,
        "arrivals.traders.potential": arr.traders.potential,
        "arrivals.liquidity_providers.potential": arr.liquidity_providers.potential,
    }
    agents = sum(counts.values())
    steps = scenario.n_steps
    files = {"price_file.path": scenario.price_file.path} if scenario.price_file else {}
    files |= {f"price_files.{a}.path": spec.path for a, spec in scenario.price_files.items()}
    file_bytes = {field: _size(path) for field, path in files.items()}
    agent_steps = float(agents) * float(steps)
    memory = (BASE_BYTES + BYTES_PER_AGENT * float(agents)
              + steps * (BYTES_PER_STEP + BYTES_PER_COLUMN_STEP * _columns(scenario))
              + BYTES_PER_AGENT_STEP * agent_steps
              + PRICE_FILE_FACTOR * sum(file_bytes.values()))
    named = sorted((f for f in counts if counts[f]), key=lambda f: -counts[f])
    return Estimate(
        agents=agents, steps=steps, agent_steps=agent_steps, memory_bytes=memory,
        agent_fields=tuple(named), step_fields=("clock.days", "clock.step_minutes"),
        file_fields=tuple(sorted(file_bytes, key=lambda f: -file_bytes[f])),
    )


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0            # a missing file is the loader's message, not ours


def check_fits(scenario: Scenario, limits: Limits | None = None, source: str | None = None
               ) -> Estimate:
    """``estimate(scenario)``, or one ``UserInputError`` line if it is above ``limits``:
    ``<source>: <fields>: <the estimate> (limit ...; raise it with --option)``, the fields
    that set the sizes first."""
    limits = limits or Limits()
    est = estimate(scenario)
    over = []
    if est.memory_bytes > limits.max_memory_gb * 1e9:
        over.append(f"need about {_gb(est.memory_gb)} of memory (limit "
                    f"{_gb(limits.max_memory_gb)}; raise it with --max-memory-gb)")
    if est.agent_steps > limits.max_agent_steps:
        over.append(f"are {est.agent_steps:.2g} agent-steps, about {_duration(est.hours)} here "
                    f"(limit {limits.max_agent_steps:.2g}; raise it with --max-agent-steps)")
    if over:
        agents, steps = est.agent_fields[:2], est.step_fields
        first = steps + agents if est.steps > est.agents else agents + steps
        fields = ", ".join(first + est.file_fields[:1])
        raise UserInputError(f"{source or scenario.name}: {fields}: {est.agents:,} agents and "
                             f"{est.steps:,} steps {' and '.join(over)}")
    return est


def check_runs_alone(scenario: Scenario, source: str | None = None) -> None:
    """A frozen impulse twin (``impulse.freeze_quality``) follows the quality path of its base
    run, which only ``sim.twins`` supplies: refused as a run of its own, in one line."""
    if scenario.impulse is not None and scenario.impulse.freeze_quality:
        raise UserInputError(f"{source or scenario.name}: impulse.freeze_quality: a frozen twin "
                             "follows its base run's market quality; run it with "
                             "`flywheel run SCENARIO --compare impulse`")


def check_before_run(scenario: Scenario, limits: Limits | None = None,
                     source: str | None = None, files_read: set[str] | None = None) -> Estimate:
    """Everything a run checks before its first step: the sizes (``check_fits``), that it can
    run alone (``check_runs_alone``), then every price file read against the run's clock
    (``sim.market.replay.check_price_files``). ``files_read``: what a caller checking many
    points of one sweep keeps (the keys of the checks done), so the same files read against the
    same clock for the same assets are read once."""
    from sim.market.replay import check_price_files

    check_runs_alone(scenario, source)
    est = check_fits(scenario, limits, source)
    if files_read is None:
        check_price_files(scenario)
    else:
        read = json.dumps([scenario.clock.model_dump(mode="json"), sorted(scenario.assets),
                           scenario.model_dump(mode="json", include={"price_file", "price_files"})],
                          sort_keys=True)
        if read not in files_read:
            check_price_files(scenario)
            files_read.add(read)
    return est


def _gb(gb: float) -> str:
    return f"{gb:,.1f} GB" if gb < 100 else f"{gb:,.0f} GB"


def _duration(hours: float) -> str:
    if hours < 1:
        return f"{hours * 60:.0f} minutes"
    if hours < 48:
        return f"{hours:.1f} hours"
    years = hours / 8766
    return f"{hours / 24:,.0f} days" if years < 1 else f"{years:.2g} years"

"""Whole-model benchmark (design 16): 10,000 agents, hourly steps, projected to one year.

A full simulated year takes far longer than a benchmark should, so this times a shorter
horizon (2 days with ``--quick``, 10 days otherwise) after the population is built, reports
steps per second and projects the year (8,760 steps) against the 60 s target. Peak memory is
the process's maximum resident set size.
"""

from __future__ import annotations

import resource
import time

from benchmarks.common import Row

AGENTS = {"liquidity_providers": 800, "traders": 9_180, "market_makers": 12, "arbitrageurs": 8}  # 10,000
# The baseline world scaled ten-fold with its population: pools and AMMs ten times deeper, so
# that 10,000 agents meet the depth a venue of that size would have (not a venue that refuses
# most of them and empties). The potential markets equal the initial populations, so the run
# keeps 10,000 agents all year: arrivals replace those who leave (the target is per 10,000
# agents; with a larger potential the Bass law doubles the population within the year).
SCALE_10X = {
    "pool": {"initial_usd": 2.0e7},
    "tokens": {"TSLA.M": {"underlying": "TSLA", "amm": {"reserve_usd": 2.0e7}},
               "NVDA.M": {"underlying": "NVDA", "amm": {"reserve_usd": 2.0e7}}},
    "arrivals": {"traders": {"potential": AGENTS["traders"]},
                 "liquidity_providers": {"potential": AGENTS["liquidity_providers"]},
                 "depth_ref_usd": 1.0e7},
}
YEAR_STEPS = 8_760
TARGET_SECONDS = 60.0


def run(n: int) -> list[Row]:
    from sim.model import FlywheelModel
    from sim.scenario import scenario_from_dict

    days = 2.0 if n <= 100_000 else 10.0
    sc = scenario_from_dict({"name": "bench", "clock": {"days": days, "burn_in_days": 0.0},
                             "agents": AGENTS, **SCALE_10X})
    t0 = time.perf_counter()
    model = FlywheelModel(sc, rng=1)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(model.n_steps):
        model.step()
    elapsed = time.perf_counter() - t0
    steps_per_s = model.n_steps / elapsed
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"  model: {sum(AGENTS.values()):,} agents, {model.n_steps} hourly steps in {elapsed:.1f} s "
          f"(+{build_s:.1f} s to build); projected year {YEAR_STEPS / steps_per_s:.0f} s "
          f"(target {TARGET_SECONDS:.0f} s); peak RSS {peak_mb:.0f} MB (target 2048 MB)")
    return [Row("model: hourly steps, 10k agents", model.n_steps, steps_per_s, float("nan"), float("nan"),
                target_items_per_s=YEAR_STEPS / TARGET_SECONDS)]

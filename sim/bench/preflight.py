"""What refusing a scenario that cannot fit costs (issue 10): a billion agents are refused by
``sim.preflight`` from the scenario's sizes, before any agent is built.

Times the check alone and the whole path a user's file takes (read, parse, validate, check),
best of several, and the memory the refusal allocates at its peak (``tracemalloc``), beside
what building the agents would have needed by the same estimate.
"""

from __future__ import annotations

import tempfile
import tracemalloc
from pathlib import Path

from sim.bench.common import Row, best_time
from sim.errors import UserInputError

AGENTS = 1_000_000_000
SCENARIO = f"name: huge\nagents: {{traders: {AGENTS}}}\n"


def run(n: int) -> list[Row]:
    from sim.preflight import check_fits, estimate
    from sim.scenario import load_scenario

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "huge.yaml"
        path.write_text(SCENARIO)

        def check(scenario) -> None:
            try:
                check_fits(scenario)
            except UserInputError:
                return
            raise AssertionError("a billion agents were not refused")

        def load_and_check() -> None:
            check(load_scenario(path))

        scenario = load_scenario(path)
        check_s = best_time(lambda: check(scenario))
        whole_s = best_time(load_and_check)
        tracemalloc.start()
        load_and_check()
        peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    needed = estimate(scenario)
    print(f"  preflight: {needed.agents:,} agents refused in {check_s * 1e6:.0f} us (the check), "
          f"{whole_s * 1e3:.1f} ms (read, parse, validate, check); peak {peak_bytes / 1e6:.2f} MB "
          f"allocated; building them would need about {needed.memory_gb:,.0f} GB")
    return [Row("preflight: refuse 1e9 agents (check)", 1, 1.0 / check_s, float("nan"),
                float("nan")),
            Row("preflight: refuse 1e9 agents (from the file)", 1, 1.0 / whole_s, float("nan"),
                float("nan"))]

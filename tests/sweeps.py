"""Sweep files for the sweep tests: tests/data/tiny.yaml shortened to a day, a few agents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.tiny import TINY

SHORT = {"clock.days": 1.0, "agents.traders": 8, "agents.liquidity_providers": 4}


def write_sweep(folder: Path, name: str = "tiny_sweep", **fields: Any) -> Path:
    """A sweep file in ``folder`` over tiny.yaml; ``fields`` replace or add keys of the file
    (default: a grid of two insurance sizes, two seeds)."""
    data: dict[str, Any] = {"name": name, "scenarios": [str(TINY)], "set": dict(SHORT),
                            "grid": {"insurance.initial": [0.0, 0.05]}, "seeds": 2,
                            "root_seed": 3}
    data.update(fields)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def stored_results(root: Path) -> Path:
    """``root`` filled as a user's results folder: a one-day tiny run (with its charts) and a
    one-seed sweep over two insurance sizes named ``browse_sweep``."""
    from sim.cli import main
    from sim.run import run
    from tests.tiny import tiny

    run(tiny({"clock.days": 1.0}), seed=1, out=root)
    sweep = write_sweep(root, name="browse_sweep", seeds=1)
    assert main(["sweep", str(sweep), "--out", str(root), "--workers", "1", "--quiet"]) == 0
    return root

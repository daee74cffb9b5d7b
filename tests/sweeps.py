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

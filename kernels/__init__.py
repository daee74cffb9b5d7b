"""Numbers in, numbers out: the Cython kernels of flywheel-sim (no Mesa, no pandas, no YAML).

Modules: ``pricing`` (Black-Scholes and everlasting options), ``amm`` (constant-product
spot market), ``pool`` (the options pool's arithmetic), ``liquidation`` (margin, liquidation
and the deficit waterfall), ``trade_book`` (one market's accounts and positions).
``kernels.reference`` holds a plain-Python twin of each.

``kernel_set(engine)`` names the modules a whole model runs on: ``"cython"`` (the default,
fast) or ``"reference"`` (the twins: the specification, slow). A model builds its set once
and hands it to the objects that call kernels.
"""

from __future__ import annotations

from types import ModuleType
from typing import NamedTuple

ENGINES = ("cython", "reference")
"""The kernel engines a model can run on (``kernel_set``'s argument)."""


class KernelSet(NamedTuple):
    """The kernel modules one model calls: each the Cython module or its twin, never mixed."""

    engine: str               # "cython" or "reference"
    pricing: ModuleType
    amm: ModuleType
    pool: ModuleType
    liquidation: ModuleType
    trade_book: ModuleType    # provides the TradeBook class


def kernel_set(engine: str = "cython") -> KernelSet:
    """The kernel modules of ``engine`` ("cython" or "reference"); otherwise a ValueError that
    names ``kernels``, the option's name in the model, ``sim.run`` and the CLI.

    "cython" needs the compiled extensions (``make install``); there is no silent fallback to
    the twins, so a run's recorded engine is the one it ran on."""
    if engine == "cython":
        from kernels import amm, liquidation, pool, pricing, trade_book
    elif engine == "reference":
        from kernels.reference import amm, liquidation, pool, pricing, trade_book
    else:
        raise ValueError(f"kernels: must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
    return KernelSet(engine, pricing, amm, pool, liquidation, trade_book)

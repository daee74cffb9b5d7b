"""Poisson clocks: each agent acts when its own clock rings (design section 8).

Next ring times live in one NumPy array per phase, so finding who rings this step is one
vectorized comparison; a step in which nobody rings costs almost nothing.
"""

from __future__ import annotations

import numpy as np


class PoissonClocks:
    """Next ring time (in steps) of every agent of one phase."""

    def __init__(self) -> None:
        self._next = np.full(64, np.inf)
        self._agents: list = []
        self._slot: dict[int, int] = {}   # id(agent) -> slot

    def add(self, agent, first_ring: float) -> None:
        slot = len(self._agents)
        if slot == self._next.shape[0]:
            self._next = np.concatenate([self._next, np.full(slot, np.inf)])
        self._agents.append(agent)
        self._next[slot] = first_ring
        self._slot[id(agent)] = slot
        agent.clock_slot = slot

    def remove(self, agent) -> None:
        slot = self._slot.pop(id(agent), None)
        if slot is not None:
            self._next[slot] = np.inf
            self._agents[slot] = None

    def set_next(self, agent, ring: float) -> None:
        """Next ring of an agent of this clock (``add`` gave it its ``clock_slot``)."""
        self._next[agent.clock_slot] = ring

    def due(self, step_end: float) -> list:
        """Agents whose clock rings before ``step_end``, in ring-time order (ties by slot)."""
        n = len(self._agents)
        slots = np.flatnonzero(self._next[:n] < step_end)
        if slots.size == 0:
            return []
        slots = slots[np.argsort(self._next[slots], kind="stable")]
        return [self._agents[s] for s in slots]

    def __len__(self) -> int:
        return len(self._slot)

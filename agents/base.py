"""What every flywheel agent shares: its own random stream, a wallet and a Poisson clock, and
the protocol's callbacks (``sim.protocol.owners``: AccountOwner, ShareHolder) with no-op
defaults, so the model calls them on any agent without asking what it can do."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.rng import ScalarDraws

if TYPE_CHECKING:
    from sim.model import FlywheelModel
    from sim.protocol.options_market import OptionsMarket


class FlywheelAgent(mesa.Agent):
    """A Mesa agent that acts when its own Poisson clock rings (design section 8).

    ``stream`` is the agent's own stream, keyed by its cohort (``sim.rng``), so its draws do not
    depend on how many other agents exist; ``draws`` takes its one-at-a-time draws from it in
    blocks. ``wallet`` is its ledger account. Every agent is an ``AccountOwner`` and a
    ``ShareHolder`` (``sim.protocol.owners``); subclasses override the callbacks they act on.
    """

    kind = "agent"
    style = ""          # a trader's style; "" for every other kind (event rows name it)

    def __init__(self, model: FlywheelModel, rng: np.random.Generator, rate_per_day: float) -> None:
        super().__init__(model)
        self.stream = rng
        self.draws = ScalarDraws(rng)
        self.wallet = model.ledger.open_account(f"{self.kind}:{self.unique_id}")
        self.rate_per_step = rate_per_day * model.step_days   # expected rings per step
        self.joined_step = model.step_count
        self.has_left = False
        self._clock = model.clocks[self.kind]
        self._clock.add(self, model.step_count + self.wait())

    def wait(self) -> float:
        """Steps until the next ring (exponential); infinite for a zero rate."""
        if self.rate_per_step <= 0:
            return float("inf")
        return self.draws.exponential(1.0 / self.rate_per_step)

    def ring(self, step: int) -> None:
        """Act once (``act`` is each subclass's decision), then set the clock past this step."""
        self.act(step)
        if not self.has_left:
            self._clock.set_next(self, self.next_ring(step))

    def next_ring(self, step: int) -> float:
        """When to act next: after an exponential wait (a Poisson clock), past this step."""
        nxt = step + self.wait()
        while nxt < step + 1:
            nxt += self.wait()
        return nxt

    def wake(self, step: float) -> None:
        """Ring at ``step`` (state-dependent: a triggered order, a liquidation)."""
        if not self.has_left:
            self._clock.set_next(self, step)

    def leave(self) -> None:
        """Stop acting; the model counts the departure (the user returns to the potential pool)."""
        if not self.has_left:
            self.has_left = True
            self._clock.remove(self)
            self.model.on_departure(self)

    def balance(self, asset: str) -> float:
        """Its wallet's balance of ``asset`` (tokens, or USD for USDC)."""
        return self.model.ledger.balance(self.wallet, asset)

    # -- what the protocol tells an owner (sim.protocol.owners); by default nothing to do ------
    def on_liquidated(self) -> None:
        """One of its margin accounts was liquidated this step. Default: nothing to decide
        (an arbitrageur's account is a side business it keeps funded)."""

    def remap_positions(self, market: OptionsMarket, remap: dict[int, int]) -> None:
        """``market`` compacted its positions (old slot -> new slot, a closed one absent).
        Default: nothing to follow (an agent that keeps no slot ids)."""

    def on_withdrawal_paid(self, tokens: float) -> None:
        """A queued LP withdrawal paid ``tokens`` into its wallet. Default: nothing to do."""

"""Scheduled shocks (scenario ``events:``, design section 10), applied in phase 1 of a step.

Every shock kind is handled here, one handler per event model of ``sim.scenario.events``
(``HANDLERS``, keyed by the event's class). Price moves (``crypto_jump``, ``weekend_gap``) are
handed to the world's price path when the schedule is built; ``split`` is applied by the
world at its step (for a replayed feed, the step whose prices are the feed's at the split
time); the others act on the tokens, pools and agents at their step, and the temporary ones
are undone when their duration ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agents import LiquidityProvider, MarketMaker
from sim.rng import stream
from sim.scenario.events import (
    CryptoJumpEvent,
    DepegEvent,
    LpRunEvent,
    MmWithdrawalEvent,
    OracleOutageEvent,
    PinEvent,
    PremiumEvent,
    SplitEvent,
    WeekendGapEvent,
)

if TYPE_CHECKING:
    from sim.model import FlywheelModel


@dataclass
class _BuyFlow:
    """A premium shock's buy flow: ``usd_per_step`` into the token's AMM, ``steps_left`` more
    steps; with ``target_premium`` instead, what lifts the AMM to NAV x (1 + target_premium)."""

    token: str
    usd_per_step: float
    steps_left: int
    target_premium: float | None = None


class ShockSchedule:
    """Fires each event at its step and undoes the temporary ones when their duration ends."""

    def __init__(self, model: FlywheelModel) -> None:
        self.model = model
        sc = model.spec
        self.by_step: dict[int, list[tuple[int, Any]]] = {}   # step -> (index in events, event)
        self.pending_end: dict[int, list[Callable[[], None]]] = {}  # step -> undo actions
        self.buy_flows: list[_BuyFlow] = []
        for i, ev in enumerate(sc.events):
            step = sc.event_step(ev)
            if isinstance(ev, CryptoJumpEvent | WeekendGapEvent):   # carried by the price path
                model.world.add_log_move(step, ev.asset, ev.size)
            if isinstance(ev, SplitEvent):     # with the feed's prices when they are replayed
                step = model.world.split_step(step, ev.asset)
            self.by_step.setdefault(step, []).append((i, ev))

    def _duration_steps(self, duration: str | None) -> int | None:
        if duration is None:
            return None
        return max(1, int(self.model.spec.duration_steps(duration)))

    def apply(self, step: int) -> None:
        """Phase 1 of step ``step``: undo what ends now, continue buy flows, fire new events."""
        m = self.model
        for undo in self.pending_end.pop(step, []):
            undo()
        for flow in self.buy_flows:
            tok = m.world.tokens[flow.token]
            usd = flow.usd_per_step
            if flow.target_premium is not None:
                usd = tok.amm.usd_to_reach_price(tok.nav * (1.0 + flow.target_premium))
            if usd > 0:
                tok.amm.buy_tokens(m.world_holder, usd)
            flow.steps_left -= 1
        self.buy_flows = [f for f in self.buy_flows if f.steps_left > 0]
        for i, ev in self.by_step.get(step, []):
            HANDLERS[type(ev)](self, step, i, ev)
            m.record_event(kind="shock", market=ev.target_market, detail=f"{ev.kind} {ev.target}")

    def _later(self, step: int, duration: str | None, undo: Callable[[], None]) -> None:
        n = self._duration_steps(duration)
        if n is not None:
            self.pending_end.setdefault(step + n, []).append(undo)

    # -- one handler per event type ---------------------------------------------------------
    def _depeg(self, step: int, i: int, ev: DepegEvent) -> None:
        """Backing falls (NAV with it), redemptions may halt, holders may panic-sell; restored
        after ``duration`` (never if None)."""
        tok = self.model.world.tokens[ev.token]
        before_backing, before_halt = tok.backing, tok.issuer.halted_redeem
        tok.backing = ev.backing
        if ev.halt_redemptions:
            tok.issuer.halted_redeem = True
        if ev.panic_sell_fraction > 0:
            self._panic_sell(ev.token, ev.panic_sell_fraction)

        def undo() -> None:
            tok.backing = before_backing
            tok.issuer.halted_redeem = before_halt
        self._later(step, ev.duration, undo)

    def _panic_sell(self, token: str, fraction: float) -> None:
        """Every agent sells ``fraction`` of the ``token`` in its wallet on the AMM."""
        amm = self.model.world.tokens[token].amm
        for agent in list(self.model.agents):
            amount = agent.balance(token) * fraction
            if amount > 0:
                amm.sell_tokens(agent.wallet, amount)

    def _premium(self, step: int, i: int, ev: PremiumEvent) -> None:
        """Buy flow of ``size_usd`` spread evenly over the ``duration`` steps after this one (or
        at each of them what holds the AMM at ``target_premium`` over NAV), with minting halted
        until it ends when ``cap_mint``."""
        tok = self.model.world.tokens[ev.token]
        n = self._duration_steps(ev.duration) or 1
        per_step = ev.size_usd / n if ev.size_usd is not None else 0.0
        self.buy_flows.append(_BuyFlow(ev.token, per_step, n, ev.target_premium))
        if ev.cap_mint:
            tok.issuer.halted_mint = True

            def undo() -> None:
                tok.issuer.halted_mint = False
            self.pending_end.setdefault(step + n, []).append(undo)

    def _pin(self, step: int, i: int, ev: PinEvent) -> None:
        """One market order of ``size_usd`` (at the pre-trade price) into the AMM, or the one
        that moves its price by ``move``."""
        m = self.model
        amm = m.world.tokens[ev.token].amm
        if ev.move is not None:
            target = amm.price * (1.0 + ev.move)
            if ev.side == "sell":
                amm.sell_tokens(m.world_holder, amm.tokens_to_reach_price(target))
            else:
                amm.buy_tokens(m.world_holder, amm.usd_to_reach_price(target))
        elif ev.side == "sell":
            amm.sell_tokens(m.world_holder, ev.size_usd / amm.price)
        else:
            amm.buy_tokens(m.world_holder, ev.size_usd)

    def _price_move(self, step: int, i: int, ev: CryptoJumpEvent | WeekendGapEvent) -> None:
        """Carried by the world's price path (scheduled when the schedule was built): only
        recorded here."""

    def _oracle_outage(self, step: int, i: int, ev: OracleOutageEvent) -> None:
        """The token's oracle ignores its samples for ``duration``."""
        self.model.world.tokens[ev.token].oracle.set_outage(self._duration_steps(ev.duration) or 1)

    def _lp_run(self, step: int, i: int, ev: LpRunEvent) -> None:
        """Each LP of the market still there joins the run with probability ``fraction`` (its
        own stream: the event's index)."""
        rng = stream(self.model.root_seed, "events", i)
        for lp in self.model.agents_by_type.get(LiquidityProvider, []):
            if lp.market_name == ev.market and not lp.has_left and rng.random() < ev.fraction:
                lp.join_run(step)

    def _mm_withdrawal(self, step: int, i: int, ev: MmWithdrawalEvent) -> None:
        """The token's market makers take ``fraction`` of their AMM shares out."""
        for mm in self.model.agents_by_type.get(MarketMaker, []):
            if mm.token == ev.token:
                mm.withdraw_fraction(ev.fraction)

    def _split(self, step: int, i: int, ev: SplitEvent) -> None:
        """The stock splits ``ratio``-for-1: its prices divide (unless replayed) and the tokens
        it backs hold ``ratio`` times the stock per token; AMM reserves and balances, held in
        token units, do not change."""
        self.model.world.split(ev.asset, ev.ratio)


HANDLERS: dict[type, Callable[[ShockSchedule, int, int, Any], None]] = {
    DepegEvent: ShockSchedule._depeg,
    PremiumEvent: ShockSchedule._premium,
    PinEvent: ShockSchedule._pin,
    CryptoJumpEvent: ShockSchedule._price_move,
    WeekendGapEvent: ShockSchedule._price_move,
    OracleOutageEvent: ShockSchedule._oracle_outage,
    LpRunEvent: ShockSchedule._lp_run,
    MmWithdrawalEvent: ShockSchedule._mm_withdrawal,
    SplitEvent: ShockSchedule._split,
}
"""The handler of each event model (every one of ``EVENT_TYPES``):
``handler(schedule, step, event index, event)``."""

"""DirectionalTrader: uses stock tokens as margin to trade BTC/ETH perpetual options and futures."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agents.base import FlywheelAgent
from kernels.params import Refusal
from sim.assets import USDC
from sim.scenario.agents import TRADER_STYLES

if TYPE_CHECKING:
    from sim.model import FlywheelModel
    from sim.protocol.options_market import OptionsMarket


class DirectionalTrader(FlywheelAgent):
    """Opens one position at a time by its style; closes on take-profit, stop-loss or holding time.

    Wealth (USD) is Pareto; it holds the margin token of its market (USDC in the control) and
    some USDC to buy tokens on the AMM when it lacks margin. After a liquidation or a large
    loss it leaves with some probability, selling ``exit_sell_fraction`` of its tokens.
    """

    kind = "trader"

    def __init__(self, model: FlywheelModel, rng: np.random.Generator, market_name: str) -> None:
        p = model.spec.agents.trader
        super().__init__(model, rng, p.act_rate_per_day)
        self.params = p
        self.market_name = market_name
        self.market = model.markets[market_name]
        weights = np.array([p.styles.get(s, 0.0) for s in TRADER_STYLES], dtype=float)
        self.style = TRADER_STYLES[int(rng.choice(len(TRADER_STYLES), p=weights / weights.sum()))]
        self.leverage = max(1.0, float(rng.normal(p.leverage_mean, p.leverage_sd)))
        self.holding_steps = max(1.0, float(rng.exponential(p.holding_days_mean)) / model.step_days)
        wealth_usd = p.wealth_min_usd * (1.0 + float(rng.pareto(p.wealth_pareto_alpha)))
        self.underlying = int(rng.integers(len(self.market.series.underlyings)))
        self.underlying_name = self.market.series.underlyings[self.underlying]
        token_usd = p.token_share_of_wealth * wealth_usd
        model.fund_wallet(self.wallet, market_name, token_usd, wealth_usd - token_usd)
        self.target_margin_usd = token_usd          # margin it wants posted (USD)
        self.account = self.market.open_account(self)
        self._activity = model.activity
        self.activity_slot = model.activity.add(list(model.markets).index(market_name),
                                                self.account)
        self.position: int | None = None
        self.opened_step = -1
        self.margin_at_open_usd = 0.0
        self.liquidated = False
        self.parked = False       # flat while its market is in safe mode: its rate is zero

    # -- state read by the model -------------------------------------------------------------
    def _traded(self, step: int) -> None:
        self._activity.traded(self.activity_slot, step)

    def leave(self) -> None:
        self.model.activity.mark_left(self.activity_slot)
        super().leave()

    def remap_positions(self, market: OptionsMarket, remap: dict[int, int]) -> None:
        if market is self.market and self.position is not None:
            self.position = remap.get(self.position)

    def park(self) -> None:
        """Flat while its market is in safe mode: its rate is zero until ``unpark`` (thinning)."""
        self.parked = True
        self.model.park_until_safe_mode_ends(self)

    def unpark(self, step: int) -> None:
        """Safe mode ended: restart its Poisson clock at ``step`` (memoryless)."""
        self.parked = False
        self.wake(step + self.wait())

    def on_liquidated(self) -> None:
        """Woken next step to decide whether to leave (design 8)."""
        self.liquidated = True
        self.wake(self.model.step_count + 1)

    def next_ring(self, step: int) -> float:
        """Holding: at the end of the holding time (take-profit and stop-loss are orders that
        wake it earlier). Parked (flat in safe mode): never, until woken. Flat: its Poisson
        clock, at ``act_rate_per_day``."""
        if self.parked:
            return float("inf")
        if self.position is not None:
            return max(step + 1.0, self.opened_step + self.holding_steps)
        return super().next_ring(step)

    # -- decisions ---------------------------------------------------------------------------
    def act(self, step: int) -> None:
        m = self.market
        if self.position is not None and m.book.pos_size[self.position] == 0.0:
            self.position = None            # closed by a liquidation or ADL
        if self.liquidated:
            self.liquidated = False
            if self.draws.random() < self.params.leave_prob_after_liquidation:
                self._exit()
                return
        if self.position is not None:
            self._maybe_close(step)
        else:
            self._maybe_open(step)

    def _maybe_close(self, step: int) -> None:
        m, p = self.market, self.params
        pnl = m.position_pnl_usd(self.position)
        margin = max(self.margin_at_open_usd, 1e-9)
        # Its holding time ends during this step (the clock rang for it): close now, not a step
        # later.
        expired = step + 1 > self.opened_step + self.holding_steps
        if pnl >= p.take_profit * margin or pnl <= -p.stop_loss * margin or expired:
            m.close_position(self.position, 1.0)
            self.position = None
            self._traded(step)
            if pnl <= -p.loss_threshold * margin and self.draws.random() < p.leave_prob_after_loss:
                self._exit()

    def _direction(self) -> int:
        """+1 bullish, -1 bearish, from the trader's style."""
        signal = self.model.trailing_return(self.underlying_name,
                                            self.params.momentum_lookback_hours)
        sign = 1 if signal > 0 else -1
        if self.style == "momentum":
            return sign
        if self.style == "mean_reversion":
            return -sign
        return 1 if self.draws.random() < 0.5 else -1

    def _choose_series(self) -> tuple[int, float]:
        """(series, signed size sign): perpetual, long call/put, or (volatility style) short
        option."""
        sb, p = self.market.series, self.params
        direction = self._direction()
        u = self.underlying
        if self.style == "volatility":
            realized = self.model.realized_sigma(self.underlying_name)
            rich = self.model.pool_sigma(self.market_name, u) > p.vol_rich_ratio * realized
            call = self.draws.random() < 0.5
            series = sb.listed_near(u, p.otm_strike if call else -p.otm_strike, call)
            return series, (-1.0 if rich else 1.0)
        if sb.include_perpetual and self.draws.random() < p.perp_share:
            return sb.perp_of[u], float(direction)
        call = direction > 0
        rel = (p.otm_strike if call else -p.otm_strike) if self.draws.random() < 0.5 else 0.0
        return sb.listed_near(u, rel, call), 1.0

    def _maybe_open(self, step: int) -> None:
        m, p = self.market, self.params
        if m.safe_mode:          # no new positions (design 4): sleep until safe mode ends
            self.park()
            return
        posted = self._top_up_collateral()
        cv_usd = posted * m.price * (1.0 - m.cfg.haircut)
        if cv_usd <= 0:
            return
        s, sign = self._choose_series()
        size = sign * self.leverage * cv_usd / m.series.spot[s]
        tp, sl = p.take_profit * cv_usd, p.stop_loss * cv_usd        # its orders, USD of PnL
        pos = m.open_position(self.account, s, size, p.margin_buffer, tp, sl)
        if pos is None and m.last_refusal == Refusal.MARGIN:   # scale to what its margin allows
            size = self._affordable_size(s, sign)
            pos = (m.open_position(self.account, s, size, p.margin_buffer, tp, sl)
                   if size != 0.0 else None)
        if pos is not None:
            self.position, self.opened_step = pos, step
            self._traded(step)
            self.margin_at_open_usd = cv_usd
            return
        self.model.failed_trades += 1
        if m.last_refusal != Refusal.MARGIN and self.draws.random() < p.leave_prob_after_refusal:
            self._exit()

    def _affordable_size(self, s: int, sign: float) -> float:
        """90% of the largest size whose initial requirement fits (requirement ~ linear in size)."""
        m = self.market
        eq, _, ir0 = m.account_margin(self.account)
        _, _, ir1 = m.account_margin(self.account, extra=(s, sign, float(m.series.mark[s])))
        per_unit = ir1 - ir0
        room = eq / self.params.margin_buffer - ir0
        if per_unit <= 0 or room <= 0:
            return 0.0
        return 0.9 * sign * room / per_unit

    def _top_up_collateral(self) -> float:
        """Move wallet tokens to the margin account; buy tokens on the AMM with USDC only when
        the posted margin has fallen below half of what the trader wants posted. Returns the
        collateral posted after (tokens)."""
        m, tok = self.market, self.market_name
        held = self.balance(tok)
        posted = float(m.book.collateral[self.account])
        if held <= 0 and posted * m.price >= 0.5 * self.target_margin_usd:
            return posted                      # the usual case: nothing to move, nothing to buy
        shortfall = self.target_margin_usd - max(posted, 0.0) * m.price - held * m.price
        if tok != USDC and shortfall > 0.5 * self.target_margin_usd and self.balance(USDC) > 1.0:
            amm = self.model.world.tokens[tok].amm
            amm.buy_tokens(self.wallet, min(shortfall, self.balance(USDC)))
            held = self.balance(tok)
        if held > 0:
            posted += m.deposit_collateral(self.account, self.wallet, held)
        return posted

    def _exit(self) -> None:
        """Close what is open, take back collateral, and queue the token sale of phase 8."""
        m = self.market
        for pos in m.positions_of(self.account):
            m.close_position(pos, 1.0)
        self.position = None
        m.withdraw_collateral(self.account, self.wallet)
        if self.market_name != USDC:
            tokens = self.balance(self.market_name) * self.params.exit_sell_fraction
            self.model.queue_sale(self.wallet, self.market_name, tokens)
        self.leave()

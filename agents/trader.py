"""DirectionalTrader: uses stock tokens as margin to trade BTC/ETH perpetual options and futures,
deciding on edge against the cost it sees (design 8)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from agents.base import FlywheelAgent
from kernels.params import Refusal
from sim.assets import USDC
from sim.rng import pick
from sim.scenario.agents import TRADER_STYLES

if TYPE_CHECKING:
    from agents.views import PriceHistory
    from sim.activity import ActivityTracker
    from sim.market.world import TokenState
    from sim.model import FlywheelModel
    from sim.outside import OutsideWorld, SaleQueue
    from sim.protocol.options_market import OptionsMarket
    from sim.protocol.quotes import MarketQuotes
    from sim.scenario.agents import HolderPaths, TraderBehaviour


@dataclass(frozen=True)
class TraderInputs:
    """Everything a trader decides from and acts through, built once per market by the model
    and handed in at construction (design 2)."""

    params: TraderBehaviour
    holders: HolderPaths
    market: OptionsMarket
    market_index: int
    quotes: MarketQuotes
    token: TokenState | None       # its margin token (None in a USDC market)
    prices: PriceHistory
    outside: OutsideWorld
    sales: SaleQueue
    activity: ActivityTracker
    step_years: float
    park: Callable[[DirectionalTrader], None]   # hold a flat trader until safe mode ends
    order_failed: Callable[[], None]            # count an order the pool refused for good


@dataclass(frozen=True, slots=True)
class Entry:
    """One position a trader opened: what, which side, and its leverage as a fraction of the
    most the margin rules allowed the account at that moment (design 18)."""

    step: int
    product: str           # "call", "put" or "perp"
    short: bool
    leverage_fraction: float


class DirectionalTrader(FlywheelAgent):
    """Opens one position at a time by its style; closes on take-profit, stop-loss or holding time.

    Momentum and mean-reversion traders forecast a move from the trailing return and pick the
    perpetual, a long option or a short option on the side of their view, whichever has the
    best expected return on margin net of spread, fees and funding; volatility traders sell
    options whose bid implied vol is rich against their own noisy forecast and buy those whose
    ask is cheap; noise traders (price-blind) pick at random. Size is a per-trader fraction of
    the most the margin rules allow. Wealth (USD) is a truncated Pareto; a combination holder
    also deposits part of its tokens as an LP. After a liquidation or a large loss it leaves
    with some probability, selling ``exit_sell_fraction`` of its tokens in slices.
    """

    kind = "trader"

    def __init__(self, model: FlywheelModel, rng: np.random.Generator,
                 inputs: TraderInputs) -> None:
        p = inputs.params
        super().__init__(model, rng, p.act_rate_per_day)
        self.params = p
        self.market = m = inputs.market
        self.market_name = m.name
        self.margin_asset = m.token          # what it posts: its market's margin asset
        self.quotes = inputs.quotes
        self.token = inputs.token
        self.prices = inputs.prices
        self.sales = inputs.sales
        self.step_years = inputs.step_years
        self._park, self._order_failed = inputs.park, inputs.order_failed
        weights = np.array([p.styles.get(s, 0.0) for s in TRADER_STYLES], dtype=float)
        self.style = TRADER_STYLES[int(rng.choice(len(TRADER_STYLES), p=weights / weights.sum()))]
        z = float(rng.standard_normal())
        preference = p.leverage_fraction_median * math.exp(p.leverage_fraction_sd * z)
        self.leverage_fraction = min(p.leverage_fraction_max, preference)
        self.holding_steps = max(1.0, float(rng.exponential(p.holding_days_mean)) / model.step_days)
        wealth_usd = truncated_pareto(float(rng.random()), p.wealth_min_usd, p.wealth_max_usd,
                                      p.wealth_pareto_alpha)
        self.wealth_usd = wealth_usd          # USD it arrived with (the margin twin's too)
        self.underlying = pick(rng, len(m.series.underlyings))
        self.underlying_name = m.series.underlyings[self.underlying]
        self.vol_bias = math.exp(p.vol_forecast_noise * float(rng.standard_normal()))
        self.confidence = p.signal_confidence_median * math.exp(
            p.signal_confidence_sd * float(rng.standard_normal()))
        self.combination = float(rng.random()) < inputs.holders.combination_share
        self.vol_window_steps = max(2, int(round(
            max(p.vol_window_days_min, self.holding_steps * model.step_days) / model.step_days)))
        token_usd = p.token_share_of_wealth * wealth_usd
        inputs.outside.fund(self.wallet, self.margin_asset, token_usd, wealth_usd - token_usd)
        if self.combination:         # the LP part of a combination holder (design 8)
            # A share of its token wealth (USD at the price it was funded at), so the USDC twin,
            # whose wallet holds all its wealth in the margin asset, deposits the same value.
            lp_usd = token_usd * inputs.holders.combination_lp_fraction
            m.lp_deposit(self, self.wallet, lp_usd / inputs.outside.token_price(self.margin_asset))
            token_usd -= lp_usd
        self.target_margin_usd = token_usd          # margin it wants posted (USD)
        self.account = m.open_account(self)
        self._activity = inputs.activity
        self.activity_slot = inputs.activity.add(inputs.market_index, self.account)
        self.position: int | None = None
        self.opened_step = -1
        self.margin_at_open_usd = 0.0
        self.liquidated = False
        self.parked = False       # flat while its market is in safe mode: its rate is zero
        self.entries: list[Entry] = []

    # -- state read by the model -------------------------------------------------------------
    def _traded(self, step: int) -> None:
        self._activity.traded(self.activity_slot, step)

    def leave(self) -> None:
        self._activity.mark_left(self.activity_slot)
        super().leave()

    def remap_positions(self, market: OptionsMarket, remap: dict[int, int]) -> None:
        if market is self.market and self.position is not None:
            self.position = remap.get(self.position)

    def park(self) -> None:
        """Flat while its market is in safe mode: its rate is zero until ``unpark`` (thinning)."""
        self.parked = True
        self._park(self)

    def unpark(self, step: int) -> None:
        """Safe mode ended: restart its Poisson clock at ``step`` (memoryless)."""
        self.parked = False
        self.wake(step + self.wait())

    def on_liquidated(self) -> None:
        """Woken next step to decide whether to leave (design 8)."""
        self.liquidated = True
        self.wake(self.model.step_count + 1)

    def on_withdrawal_paid(self, tokens: float) -> None:
        """A combination holder's LP part came back after it left: sell it like its margin."""
        if self.has_left and self.margin_asset != USDC:
            self.sales.queue(self.wallet, self.margin_asset, tokens * self.params.exit_sell_fraction,
                             self.params.exit_sale_max_reserve_share, self.kind)

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
                self._exit(step)
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
                self._exit(step)

    # -- what to trade -----------------------------------------------------------------------
    def _vol_forecast(self) -> float:
        """Its own vol forecast: realized vol over its horizon times its own bias (annual)."""
        realized = self.prices.realized_sigma(self.underlying_name, self.vol_window_steps)
        return realized * self.vol_bias

    def _holding_periods(self) -> float:
        """Its holding time in funding periods (how often it pays or earns the premium)."""
        return self.holding_steps * self.step_years / self.quotes.funding_period_years

    def _choose_series(self, cv_usd: float) -> tuple[int, float] | None:
        """(series, side +1 long / -1 short) by its style, or None when nothing beats its cost.
        ``cv_usd``: its collateral value; quotes are asked for that much underlying notional."""
        if self.style == "volatility":
            return self._volatility_trade(cv_usd)
        if self.style == "noise":
            return self._noise_trade()
        return self._directional_trade(cv_usd)

    def _volatility_trade(self, cv_usd: float) -> tuple[int, float] | None:
        """Sell when the bid's implied vol beats its forecast by more than the cost it sees,
        buy when the ask's is that far below; the option is an OTM call or put at random."""
        p, sb = self.params, self.quotes.series
        call = self.draws.random() < 0.5
        s = sb.listed_near(self.underlying, p.otm_strike if call else -p.otm_strike, call)
        forecast = self._vol_forecast()
        periods = self._holding_periods()
        vega = self.quotes.vega(s)
        if vega <= 0:
            return None
        # The quote's iv is the pricing vol moved against the trader: no side can beat its
        # cost unless the pricing vol itself does (checked before asking for a quote).
        floor_iv = 2.0 * self.quotes.notional_fee * float(sb.spot[s]) / (vega * periods)
        floor_iv += p.vol_edge_min * forecast
        gap = float(sb.sigma[s]) - forecast
        if abs(gap) <= floor_iv:
            return None
        units = cv_usd / float(sb.spot[s])
        for side in ((-1.0,) if gap > 0 else (1.0,)):
            q = self.quotes.quote(s, side * units)
            if not q.allowed or q.vega <= 0:
                continue
            # Fees (open and close) and the closing spread, spread over its holding time, in
            # vol points: the carry it earns is vega x (iv gap) per funding period.
            cost_iv = (2.0 * q.fee + q.spread_usd) / (q.vega * periods) + p.vol_edge_min * forecast
            gap = (q.bid_iv - forecast) if side < 0 else (forecast - q.ask_iv)
            if gap > cost_iv:
                return s, side
        return None

    def _noise_trade(self) -> tuple[int, float] | None:
        """Price-blind: a random side of a random product."""
        p, sb = self.params, self.quotes.series
        direction = 1.0 if self.draws.random() < 0.5 else -1.0
        if sb.include_perpetual and self.draws.random() < p.perp_share:
            return sb.perp_of[self.underlying], direction
        short = self.draws.random() < p.noise_short_share
        call = (direction > 0) != short          # bullish: long call or short put
        rel = p.otm_strike if self.draws.random() < 0.5 else 0.0
        s = sb.listed_near(self.underlying, rel if call else -rel, call)
        return s, (-1.0 if short else 1.0)

    def _directional_trade(self, cv_usd: float) -> tuple[int, float] | None:
        """Momentum / mean reversion: the perp, a long option or a short option on the side of
        its view, whichever has the best expected return on initial margin over its holding
        time net of spreads, fees and the funding it pays or earns (design 8)."""
        p, sb, quotes = self.params, self.quotes.series, self.quotes
        signal = self.prices.trailing_return(self.underlying_name, p.momentum_lookback_hours)
        move = self.confidence * signal * (1.0 if self.style == "momentum" else -1.0)
        if move == 0.0:
            return None
        bull = move > 0
        forecast = self._vol_forecast()
        periods = self._holding_periods()
        rel = p.otm_strike if self.draws.random() < 0.5 else 0.0
        best, best_score = None, p.min_return_on_margin
        candidates = [(sb.listed_near(self.underlying, rel if bull else -rel, bull), 1.0),
                      (sb.listed_near(self.underlying, -rel if bull else rel, not bull), -1.0)]
        if sb.include_perpetual:
            candidates.append((sb.perp_of[self.underlying], 1.0 if bull else -1.0))
        S = float(sb.spot[candidates[0][0]])
        units = cv_usd / S
        fee = quotes.notional_fee * S
        # The perp's skew funding over its holding time, USD per unit (a long pays when > 0).
        perp_carry = quotes.perp_funding_rate() * S * self.holding_steps * self.step_years
        for s, side in candidates:
            perp = bool(sb.is_perp[s])
            # The edge before the spread bounds the edge after it: skip the quote when even
            # that does not beat the best so far (most decisions end here: no signal).
            delta = abs(float(sb.delta[s]))
            bound = delta * abs(move) * S - 2.0 * fee
            if perp:
                bound -= side * perp_carry
            else:
                bound += side * periods * quotes.vega(s) * (forecast - float(sb.sigma[s]))
            mg = quotes.margin
            ratio = mg.short_initial if (side < 0 or perp) else mg.long_initial
            if bound <= best_score * S * (ratio * delta + quotes.margin.floor):
                continue
            q = quotes.quote(s, side * units)
            if not q.allowed:
                continue
            # Expected PnL per unit: the forecast move times its delta on the side of the view,
            # the vol carry (funding paid at the pool's vol against the gamma its forecast
            # expects; a short earns it) or, for the perp, the skew funding it pays or earns,
            # and the costs of opening and closing.
            edge = abs(q.delta) * abs(move) * q.spot
            if perp:
                edge -= side * perp_carry
            else:
                edge += side * periods * q.vega * (forecast - q.sigma)
            edge -= 2.0 * (q.fee + q.spread_usd)
            score = edge / quotes.initial_margin_per_unit(q, side < 0, perp)
            if score > best_score:
                best, best_score = (s, side), score
        return best

    # -- opening -----------------------------------------------------------------------------
    def _maybe_open(self, step: int) -> None:
        m, p = self.market, self.params
        if m.safe_mode:          # no new positions (design 4): sleep until safe mode ends
            self.park()
            return
        posted = self._top_up_collateral()
        cv_usd = posted * m.price * (1.0 - m.cfg.haircut)
        if cv_usd <= 0:
            return
        choice = self._choose_series(cv_usd)
        if choice is None:
            return                         # no edge beats the cost it sees: stay flat
        s, side = choice
        max_size = self._affordable_size(s, side)
        if max_size == 0.0:
            return
        tp, sl = p.take_profit * cv_usd, p.stop_loss * cv_usd        # its orders, USD of PnL
        size = self.leverage_fraction * max_size
        pos = m.open_position(self.account, s, size, 1.0, tp, sl)
        if pos is None and m.last_refusal == Refusal.MARGIN:   # costs ate the last of the room
            size *= 0.9
            pos = m.open_position(self.account, s, size, 1.0, tp, sl)
        if pos is not None:
            self.position, self.opened_step = pos, step
            self._traded(step)
            self.margin_at_open_usd = cv_usd
            sb = m.series
            product = "perp" if sb.is_perp[s] else ("call" if sb.is_call[s] else "put")
            self.entries.append(Entry(step, product, side < 0, size / max_size))
            return
        self._order_failed()
        if m.last_refusal != Refusal.MARGIN and self.draws.random() < p.leave_prob_after_refusal:
            self._exit(step)

    def _affordable_size(self, s: int, sign: float) -> float:
        """The largest signed size whose initial requirement fits its equity now (the margin
        rules of design 6; the requirement is about linear in size)."""
        m = self.market
        eq, _, ir0 = m.account_margin(self.account)
        _, _, ir1 = m.account_margin(self.account, extra=(s, sign, float(m.series.mark[s])))
        per_unit = ir1 - ir0
        room = eq - ir0
        if per_unit <= 0 or room <= 0:
            return 0.0
        return sign * room / per_unit

    def _top_up_collateral(self) -> float:
        """Move wallet tokens to the margin account; buy tokens on the AMM with USDC only when
        the posted margin has fallen below half of what the trader wants posted. Returns the
        collateral posted after (tokens)."""
        m, tok = self.market, self.margin_asset
        posted = float(m.book.collateral[self.account])
        if tok == USDC:
            return self._top_up_usdc(posted)
        held = self.balance(tok)
        if held <= 0 and posted * m.price >= 0.5 * self.target_margin_usd:
            return posted                      # the usual case: nothing to move, nothing to buy
        shortfall = self.target_margin_usd - max(posted, 0.0) * m.price - held * m.price
        short_of_half = shortfall > 0.5 * self.target_margin_usd
        if self.token is not None and short_of_half and self.balance(USDC) > 1.0:
            self.token.amm.buy_tokens(self.wallet, min(shortfall, self.balance(USDC)))
            held = self.balance(tok)
        if held > 0:
            posted += m.deposit_collateral(self.account, self.wallet, held)
        return posted

    def _top_up_usdc(self, posted: float) -> float:
        """USDC margin (the margin twin): the wallet's USDC is margin and cash at once, so post
        what a token-margined trader holds in tokens: ``target_margin_usd``, topped up to it
        only when the posted margin has fallen below half (when the token trader would buy
        tokens). Returns the collateral posted after (USDC)."""
        if posted > 0 and posted >= 0.5 * self.target_margin_usd:
            return posted
        amount = min(self.balance(USDC), self.target_margin_usd - max(posted, 0.0))
        if amount > 0:
            posted += self.market.deposit_collateral(self.account, self.wallet, amount)
        return posted

    def _exit(self, step: int) -> None:
        """Close what is open, take back collateral, ask for its LP shares back (a combination
        holder), and queue the token sale of phase 8 in slices."""
        m, p = self.market, self.params
        for pos in m.positions_of(self.account):
            m.close_position(pos, 1.0)
        self.position = None
        m.withdraw_collateral(self.account, self.wallet)
        if m.shares.get(self, 0.0) > 0:
            m.request_withdrawal(self, step)       # paid after the cooldown: on_withdrawal_paid
        if self.margin_asset != USDC:
            tokens = self.balance(self.margin_asset) * p.exit_sell_fraction
            self.sales.queue(self.wallet, self.margin_asset, tokens, p.exit_sale_max_reserve_share,
                             self.kind)
        self.leave()


def truncated_pareto(u: float, low: float, high: float, alpha: float) -> float:
    """Inverse CDF of a Pareto law of index ``alpha`` on [low, high] at the uniform ``u``."""
    if high <= low:
        return low
    tail = 1.0 - (low / high) ** alpha
    return low / (1.0 - u * tail) ** (1.0 / alpha)

"""FlywheelModel: one run of one scenario with one seed (design sections 2 and 9).

``step()`` reads as the ten phases of a step. Agents act on their own Poisson clocks; the
protocol's kernels settle funding, margin and liquidation for all accounts at once; every
transfer goes through one ledger whose conservation audit runs after every step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import mesa
import numpy as np

from agents import Arbitrageur, DirectionalTrader, LiquidityProvider, MarketMaker
from agents.base import FlywheelAgent
from agents.liquidity_provider import LpInputs
from agents.trader import TraderInputs, truncated_pareto
from agents.views import LpRoster, PoolView, PriceHistory
from kernels import kernel_set
from kernels.params import MarginParams
from sim import metrics
from sim.activity import ActivityTracker
from sim.arrivals import bass_arrivals, margin_depth_factor, market_quality
from sim.assets import USDC
from sim.clocks import PoissonClocks
from sim.event_log import EventLog
from sim.ledger import Ledger
from sim.market.world import World
from sim.outside import OutsideWorld, SaleQueue
from sim.protocol.options_market import MarketConfig, OptionsMarket
from sim.protocol.owners import Treasury
from sim.protocol.quotes import MarketQuotes
from sim.protocol.series import ListedSeries
from sim.rng import KIND, pick, stream
from sim.shocks import ShockSchedule

PHASES = ("market_maker", "arbitrageur", "trader", "liquidity_provider")
ACTIVE_WINDOW_DAYS = 7.0     # an active user holds a position or traded in the last 7 days


def _resolve_scenario(scenario: Any, overrides: Mapping[str, Any] | None, extra: dict[str, Any]):
    """Accept a Scenario or a path, plus overrides as a dict or as ``a__b=value`` keywords
    (the form ``mesa.batch_run`` passes parameters in)."""
    from sim.scenario import Scenario, load_scenario, scenario_from_dict

    merged = dict(overrides or {})
    merged.update({k.replace("__", "."): v for k, v in extra.items()})
    if isinstance(scenario, Scenario):
        if not merged:
            return scenario
        return scenario_from_dict(scenario.model_dump(mode="json"), source=scenario.name, overrides=merged)
    return load_scenario(scenario, merged)


class FlywheelModel(mesa.Model):
    """Tokenized stocks as margin for coin-margined perpetual options, one scenario and seed."""

    def __init__(self, scenario: Any = "scenarios/baseline.yaml", rng: int | None = None, *,
                 overrides: Mapping[str, Any] | None = None, kernels: str = "cython",
                 quality_path: Any = None, **params: Any) -> None:
        """``kernels``: the engine of every kernel call, "cython" or "reference" (the twins).
        ``quality_path``: per step, the market quality of the same scenario and seed without
        its impulse; needed (only) when ``impulse.freeze_quality`` is set (``sim.twins``)."""
        engine = kernel_set(kernels)             # a bad name fails before the scenario loads
        sc = _resolve_scenario(scenario, overrides, params)
        seed = int(sc.seed if rng is None else rng)
        super().__init__(rng=seed)
        self.kernels = engine
        self.spec = sc
        self.root_seed = seed
        self.n_steps = sc.n_steps
        self.step_count = 0                      # steps completed
        self.step_days = sc.clock.step_minutes / 1440.0
        self.dt_years = sc.dt_years
        self.clocks = {kind: PoissonClocks() for kind in PHASES}
        self.activity = ActivityTracker()
        self.acted = {kind: 0 for kind in PHASES}          # agents that acted this step, by kind
        self.premium_after_arb: dict[str, float] = {}
        self.events = EventLog()
        self.failed_trades = 0
        self.departures_step = 0
        self.arrivals_step = 0
        self._parked: dict[str, list[DirectionalTrader]] = {}   # market -> parked in safe mode
        self.active_now = {"trader": 0, "liquidity_provider": 0}   # active users (phase 9)
        self.row: dict[str, Any] = {}          # this step's per-step values (metrics.current_row)
        # The Bass arrivals' uniforms: one per step and kind, so twin runs' arrivals are nested.
        self._arrival_uniforms = {kind: stream(seed, "arrival_count", KIND[kind]).random(self.n_steps)
                                  for kind in ("trader", "liquidity_provider")}

        assets = [*sc.tokens, USDC]
        self.ledger = Ledger(assets)
        self.world_holder = self.ledger.open_account("outside_world", external=True)
        # The treasury: an external wallet that seeds insurance, and a share holder of a pool
        # that has no initial LP.
        self.treasury = Treasury(self.ledger.open_account("treasury", external=True))
        self.world = World(sc, self.ledger, seed, self.kernels)
        self.outside = OutsideWorld(self.ledger, self.world_holder, self.token_price)
        self.sales = SaleQueue(self.world, self.ledger)
        self.markets: dict[str, OptionsMarket] = {name: self._build_market(name) for name in sc.markets}
        self.history = metrics.History(self)
        self._trader_inputs = {name: self._build_trader_inputs(name) for name in self.markets}
        self._lp_inputs = {name: self._build_lp_inputs(name) for name in self.markets}
        self.quality_now = (0.0, 0.0, 0.0, 0.0)   # quality, capacity, margin depth, spread
        self.impulse_traders = 0                  # traders the impulse added (design 11)
        self.frozen_quality = self._frozen_quality(sc, quality_path)
        self.datacollector = mesa.DataCollector(
            model_reporters=metrics.HEADLINE_REPORTERS, tables={metrics.TABLE: metrics.columns(self)}
        )
        self._populate()
        self.shocks = ShockSchedule(self)
        self.running = True

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _frozen_quality(sc: Any, path: Any) -> np.ndarray | None:
        """The quality path arrivals follow in a frozen impulse twin (None: the run's own)."""
        if sc.impulse is None or not sc.impulse.freeze_quality:
            return None
        if path is None or len(path) < sc.n_steps:
            raise ValueError("impulse.freeze_quality needs the quality path (one value per step) "
                             "of the run without the impulse; sim.twins runs it first")
        return np.asarray(path, dtype=float)

    def _build_market(self, name: str) -> OptionsMarket:
        sc = self.spec
        spec = sc.markets[name]
        mg, lq = spec.requirements, spec.liquidation
        asset = sc.margin_of(name)
        params = MarginParams(
            long_initial=mg.long_initial, short_initial=mg.short_initial, long_maint=mg.long_maint,
            short_maint=mg.short_maint, floor=mg.floor, stress_initial_mult=mg.stress_initial_mult,
            stress_maint_mult=mg.stress_maint_mult, close_factor=lq.close_factor,
            full_close_below=lq.full_close_below, penalty_ratio=lq.penalty_ratio, keeper_share=lq.keeper_share,
        )
        steps_per_day = 1440 / sc.clock.step_minutes
        cfg = MarketConfig(
            name=name, haircut=sc.haircut_of(name), funding_period_years=spec.funding_period_days / 365.25,
            base_spread=spec.base_spread, skew=spec.skew, perp_spread=spec.perp_spread,
            notional_fee=spec.notional_fee, lp_share=spec.lp_share, max_utilization=spec.max_utilization,
            max_net_delta_fraction=spec.max_net_delta_fraction, oi_cap_usd=spec.oi_cap_usd,
            cooldown_steps=int(round(sc.pool.cooldown_days * steps_per_day)),
            withdrawal_fee=sc.pool.withdrawal_fee, margin=params,
            token_moves=tuple(mg.stress_token_moves) if asset != USDC else (0.0,),
            perp_funding_coeff=spec.perp_funding_coeff, perp_funding_cap=spec.perp_funding_cap,
            hedge=sc.pool.hedge, hedge_cost_bps=sc.pool.hedge_cost_bps, asset=asset,
        )
        spots = np.array([self.world.price(u) for u in spec.underlyings])
        book = ListedSeries(spec.underlyings, spots, spec.strikes, spec.include_perpetual,
                          cfg.funding_period_years, mg.stress_crypto_moves, spec.pool_stress_moves,
                          self.kernels)
        book.relist(spots)
        market = OptionsMarket(cfg, self.ledger, book, self.kernels)
        self._set_market_prices(name, market)
        return market

    def _build_trader_inputs(self, name: str) -> TraderInputs:
        """What every trader of market ``name`` decides from (handed in, design 2)."""
        ag = self.spec.agents
        m = self.markets[name]
        return TraderInputs(
            params=ag.trader, holders=ag.holders, market=m,
            market_index=list(self.markets).index(name),
            quotes=MarketQuotes(m, lambda: self.step_count), token=self.world.tokens.get(m.token),
            prices=PriceHistory(self.history, self.world, self.dt_years), outside=self.outside,
            sales=self.sales, activity=self.activity, step_years=self.dt_years,
            park=self.park_until_safe_mode_ends, order_failed=self._count_failed_order)

    def _build_lp_inputs(self, name: str) -> LpInputs:
        """What every LP of market ``name`` decides from (handed in, design 2)."""
        p = self.spec.agents.lp
        m = self.markets[name]
        fair = self.world.fair_value_view(m.token) if m.token in self.world.tokens else None
        pool = PoolView(m, self.world.tokens.get(m.token), self.history, LpRoster(),
                        p.panic_discount, fair)
        return LpInputs(params=p, pool=pool, outside=self.outside, sales=self.sales)

    def _populate(self) -> None:
        """Market makers seed the AMMs, initial LPs the pools, the treasury the insurance."""
        sc, ag = self.spec, self.spec.agents
        tokens = list(sc.tokens)
        mm_of = {t: [i for i in range(ag.market_makers) if i % len(tokens) == k]
                 for k, t in enumerate(tokens)}
        for token in tokens:
            reserve = sc.tokens[token].amm.reserve_usd
            mms = mm_of[token]
            if not mms:     # no market maker: a passive seed account supplies the AMM
                seed = self.ledger.open_account(f"amm_seed:{token}")
                nav = self.world.tokens[token].nav
                self.fund_wallet(seed, token, reserve, reserve, price=nav)
                self.world.tokens[token].amm.add_liquidity(seed, reserve / nav, reserve)
            for i in mms:
                self._new_market_maker(i, token, reserve / len(mms))
        for i in range(ag.arbitrageurs):
            self._new_arbitrageur(i)
        self._refresh_prices()
        markets = list(sc.markets)
        lp_rngs = [stream(self.root_seed, "initial", KIND["liquidity_provider"], i)
                   for i in range(ag.liquidity_providers)]
        # Shares of the initial pool: the LPs' truncated Pareto (design 8), so no initial LP
        # holds a large share of a pool (nor sells one into an AMM when it leaves).
        top = ag.lp.wealth_max_usd / ag.lp.wealth_min_usd
        weights = [truncated_pareto(float(r.random()), 1.0, top, ag.lp.wealth_pareto_alpha)
                   for r in lp_rngs]
        for name in markets:
            members = [i for i in range(ag.liquidity_providers)
                       if i % len(markets) == markets.index(name)]
            total = sum(weights[i] for i in members)
            asset = self.markets[name].token
            price = self.token_price(asset)
            for i in members:
                tokens_in = sc.pool.initial_usd / price * weights[i] / total
                LiquidityProvider(self, lp_rngs[i], self._lp_inputs[name],
                                  initial_deposit_tokens=tokens_in)
            if not members:  # no initial LP: the treasury seeds the pool
                m = self.markets[name]
                self.fund_wallet(self.treasury.wallet, asset, 0.0, 0.0)
                m.lp_deposit(self.treasury, self.treasury.wallet, sc.pool.initial_usd / price)
            self._seed_insurance(name)
        for i in range(ag.traders):
            self._new_trader(stream(self.root_seed, "initial", KIND["trader"], i))

    def _new_market_maker(self, i: int, token: str, reserve_usd: float) -> MarketMaker:
        """Market maker ``i`` of ``token``, handed its token, the token's latent-value view, the
        AMM's fee APR, the underlying's realized vol and its off-hours noise stream."""
        w, kind = self.world, KIND["market_maker"]
        k = list(self.spec.tokens).index(token)
        underlying = self.spec.tokens[token].underlying
        return MarketMaker(
            self, stream(self.root_seed, "initial", kind, i), self.spec.agents.market_maker,
            self.outside, w.tokens[token],
            w.fair_value_view(token),
            fee_apr=lambda window_days: self.history.amm_fee_apr(token, window_days),
            sigma=lambda: w.sigma(underlying),
            offhours_rng=stream(self.root_seed, "offhours", kind, i, k),
            initial_reserve_usd=reserve_usd,
        )

    def _new_arbitrageur(self, i: int) -> Arbitrageur:
        """Arbitrageur ``i``, handed the tokens, their latent-value views, the markets, the
        pools' pricing vol, the external vols and one off-hours noise stream per token."""
        w, kind = self.world, KIND["arbitrageur"]
        return Arbitrageur(
            self, stream(self.root_seed, "initial", kind, i), self.spec.agents.arbitrageur,
            self.outside, w.tokens,
            {t: w.fair_value_view(t) for t in w.tokens}, self.markets, self.pool_sigma,
            {a: spec.sigma for a, spec in self.spec.assets.items()},
            {t: stream(self.root_seed, "offhours", kind, i, k) for k, t in enumerate(w.tokens)},
        )

    def _seed_insurance(self, name: str) -> None:
        sc = self.spec
        usd = sc.insurance.initial * sc.pool.initial_usd
        m = self.markets[name]
        if sc.insurance.denomination == "usdc" and m.token != USDC:
            m.hold_insurance_in_usdc()      # its token income is sold for USDC as it arrives
        if usd <= 0:
            return
        if sc.insurance.denomination == "usdc" or m.token == USDC:
            self.ledger.transfer(USDC, self.treasury.wallet, m.insurance_holder, usd)
        else:
            self.ledger.transfer(m.token, self.treasury.wallet, m.insurance_holder,
                                 usd / self.token_price(m.token))

    def _new_trader(self, rng: np.random.Generator) -> DirectionalTrader:
        markets = list(self.spec.markets)
        name = markets[pick(rng, len(markets))]
        return DirectionalTrader(self, rng, self._trader_inputs[name])

    # ------------------------------------------------------------------ services for agents
    def fund_wallet(self, wallet: int, token: str, token_usd: float, usdc_usd: float,
                    price: float | None = None) -> None:
        """Money entering from the outside world: ``token_usd`` worth of ``token`` and USDC."""
        self.outside.fund(wallet, token, token_usd, usdc_usd, price)

    def token_price(self, token: str) -> float:
        """USD per token: the AMM price, or NAV while the AMM is empty; 1 for USDC."""
        if token == USDC:
            return 1.0
        tok = self.world.tokens[token]
        p = tok.amm.price
        return p if p == p and p > 0 else tok.nav

    def queue_sale(self, wallet: int, token: str, tokens: float, seller: str = "other") -> None:
        """Tokens to sell on the AMM in phase 8 (keepers' rewards, exiting users)."""
        self.sales.queue(wallet, token, tokens, seller=seller)

    def on_departure(self, agent: FlywheelAgent) -> None:
        """Count a user who leaves (it returns to the potential pool of arrivals)."""
        self.departures_step += 1
        self.record_event("departure", agent=agent.unique_id, detail=agent.kind, agent_kind=agent.kind)

    def pool_sigma(self, market: str, underlying: int) -> float:
        """Vol the pool prices with: trailing EWMA realized vol x (1 + vol_premium)."""
        u = self.markets[market].series.underlyings[underlying]
        return self.world.sigma(u) * (1.0 + self.spec.markets[market].vol_premium)

    def record_event(self, kind: str, market: str = "", account: int = -1, agent: int = -1,
                     amount_tokens: float = 0.0, amount_usd: float = 0.0, detail: str = "",
                     agent_kind: str = "") -> None:
        self.events.append(self.step_count, kind, market, account, agent, amount_tokens, amount_usd,
                           detail, agent_kind=agent_kind)

    # ------------------------------------------------------------------ one step
    def step(self) -> None:
        """The ten phases of design section 9."""
        t = self.step_count
        new_day = self._advance_world(t)        # 1. clock, calendar, prices, shocks
        self._update_issuers_and_oracles(new_day)  # 2. issuer and oracle
        self._act("market_maker", t)            # 3. market makers
        self._act("arbitrageur", t)             # 4. arbitrageurs
        self._note_after_arbitrage()
        self._unpark(t)                         # 5. traders
        self._act("trader", t)
        self._act("liquidity_provider", t)      # 6. LPs ...
        self._process_withdrawals(t)            #    ... and the withdrawal queue
        self._settle_markets(t)                 # 7. funding, margin, liquidation, waterfall
        self._wake_triggered(t)                 #    take-profit / stop-loss orders: act next step
        self._sell(t)                           # 8. keepers and exiting users sell
        self._arrivals(t)                       # 9. arrivals (departures counted as they happen)
        self._collect(t)                        # 10. metrics and the conservation audit
        self.step_count += 1
        if self.step_count >= self.n_steps:
            self.running = False

    def _advance_world(self, t: int) -> bool:
        before = self.world.time.date() if t > 0 else None
        self.world.advance()
        self.shocks.apply(t)
        return before is not None and self.world.time.date() != before

    def _update_issuers_and_oracles(self, new_day: bool) -> None:
        self.world.update_issuers_and_oracles(new_day)
        self._refresh_prices(relist=new_day)

    def _refresh_prices(self, relist: bool = False) -> None:
        for name, m in self.markets.items():
            if relist:
                m.series.relist(np.array([self.world.price(u) for u in m.series.underlyings]))
            self._set_market_prices(name, m)

    def _set_market_prices(self, name: str, m: OptionsMarket) -> None:
        if m.token == USDC:
            m.set_prices(1.0, 1.0, 1.0, False)
        else:
            o = self.world.tokens[m.token].oracle
            if o.sampled:
                m.set_prices(o.price, o.collateral_price, o.outgoing_price, o.safe_mode)
            else:
                nav = self.world.tokens[m.token].nav
                m.set_prices(nav, nav, nav, False)
        sb = m.series
        spots = np.array([self.world.price(u) for u in sb.underlyings])
        prem = self.spec.markets[name].vol_premium
        sigmas = np.array([self.world.sigma(u) * (1.0 + prem) for u in sb.underlyings])
        sb.update_marks(spots, sigmas)
        m.marks_changed()

    def _act(self, kind: str, t: int) -> int:
        due = self.clocks[kind].due(t + 1)
        for agent in due:
            agent.ring(t)
        self.acted[kind] = len(due)
        return len(due)

    def _count_failed_order(self) -> None:
        """An order the pool refused for good (margin, caps, safe mode): ``failed_trades``."""
        self.failed_trades += 1

    def park_until_safe_mode_ends(self, trader: DirectionalTrader) -> None:
        """A flat trader's rate is zero while its market is in safe mode (thinning): hold it
        until the market leaves safe mode."""
        self._parked.setdefault(trader.market_name, []).append(trader)

    def _unpark(self, t: int) -> None:
        """Markets out of safe mode: parked traders' Poisson clocks restart now (memoryless)."""
        for name in list(self._parked):
            if not self.markets[name].safe_mode:
                for trader in self._parked.pop(name):
                    trader.unpark(t)

    def _wake_triggered(self, t: int) -> None:
        """Owners whose orders crossed at this step's marks act in the next step's phase 5 (an
        hourly order bot: a one-step jump meets the liquidation engine first)."""
        for m in self.markets.values():
            for owner in m.triggered_owners():
                owner.wake(t + 1)

    def _note_after_arbitrage(self) -> None:
        """Premium right after the arbitrageurs acted (what the band of design 4 speaks of)."""
        self.premium_after_arb = {name: tok.premium for name, tok in self.world.tokens.items()}

    def _process_withdrawals(self, t: int) -> None:
        """Pay the ready withdrawal requests (share holders: LPs, the treasury) and tell them."""
        for m in self.markets.values():
            if m.queue:
                for holder, tokens in m.process_withdrawals(t, lambda holder: holder.wallet):
                    self.record_event("withdrawal", market=m.name, agent=holder.unique_id,
                                      agent_kind=holder.kind,
                                      amount_tokens=tokens, amount_usd=tokens * m.price)
                    holder.on_withdrawal_paid(tokens)

    def _settle_markets(self, t: int) -> None:
        """Funding, margin check, liquidation and waterfall per market; owners of liquidated
        accounts are told."""
        keepers = [a.wallet for a in self.agents_by_type.get(Arbitrageur, []) if a.is_keeper]
        for k, (name, m) in enumerate(self.markets.items()):
            m.settle_step(self.dt_years, keepers,
                          lambda k=k: stream(self.root_seed, "keepers", k, t), t)
            res = m.last_margin
            if res is not None and len(res.liq_account):
                for a in set(int(x) for x in res.liq_account):
                    m.account_owner[a].on_liquidated()
            m.run_hedge()                       # pool.hedge: delta (nothing when none)

    def _sell(self, t: int) -> None:
        for arb in self.agents_by_type.get(Arbitrageur, []):
            for token in self.world.tokens:
                self.queue_sale(arb.wallet, token, arb.rewards_to_sell(token), arb.kind)
        self.sales.execute()

    def _arrivals(self, t: int) -> None:
        sc = self.spec
        arr = sc.arrivals
        self.quality_now = self.current_quality()
        if self.frozen_quality is not None:     # the frozen twin: the base run's quality
            self.quality_now = (float(self.frozen_quality[t]), *self.quality_now[1:])
        quality = self.quality_now[0]
        # Arrivals are not active until they trade or deposit, so these counts hold for the row too.
        self.active_now = {kind: self.active_count(kind)
                           for kind in ("trader", "liquidity_provider")}
        for kind, bass, make in (
            ("trader", arr.traders, self._new_trader),
            ("liquidity_provider", arr.liquidity_providers, self._new_lp),
        ):
            u = float(self._arrival_uniforms[kind][t])
            active = self.active_now[kind]
            n = bass_arrivals(u, self.dt_years, quality, bass.p, bass.q, active, bass.potential)
            for k in range(n):
                agent = make(stream(self.root_seed, "arrival", KIND[kind], t, k))
                self.record_event("arrival", agent=agent.unique_id, detail=kind, agent_kind=kind)
            self.arrivals_step += n
        if t == self.spec.impulse_step:
            self._add_impulse()

    def _add_impulse(self) -> None:
        """The impulse (design 11): k = round(fraction x active traders) traders arrive now,
        each with the stream ``(impulse, trader, j)``, so the runs with and without it share
        every other random number."""
        k = int(round(self.spec.impulse.fraction * self.active_now["trader"]))
        for j in range(k):
            agent = self._new_impulse_trader(stream(self.root_seed, "impulse", KIND["trader"], j))
            self.record_event("impulse", agent=agent.unique_id, detail="trader", agent_kind="trader")
        self.impulse_traders = k

    def _new_impulse_trader(self, rng: np.random.Generator) -> FlywheelAgent:
        """One trader of the impulse: an arrival like any other (tests put a null agent here)."""
        return self._new_trader(rng)

    def _new_lp(self, rng: np.random.Generator) -> LiquidityProvider:
        markets = list(self.spec.markets)
        name = markets[pick(rng, len(markets))]
        return LiquidityProvider(self, rng, self._lp_inputs[name])

    def active_count(self, kind: str) -> int:
        """Active traders (position open or traded in the last 7 days), or LPs holding shares."""
        if kind == "trader":
            window = int(round(ACTIVE_WINDOW_DAYS / self.step_days))
            holding = [m.accounts_holding() for m in self.markets.values()]
            return self.activity.count(self.step_count, window, holding)
        return sum(m.lp_holders() for m in self.markets.values())

    def current_quality(self) -> tuple[float, float, float, float]:
        """(quality, capacity_usd, margin_depth_usd, spread) of the whole venue now (design 8):
        capacity summed over the markets, the margin tokens' AMM depth +-2% averaged over the
        token-margined markets (NaN when every market is margined in USDC, whose factor is 1),
        the standard size's spread averaged over the markets."""
        a = self.spec.arrivals
        capacity = sum(m.capacity_usd() for m in self.markets.values())
        depths = [self._margin_depth_usd(m) for m in self.markets.values()]
        factor = margin_depth_factor(depths, a.margin_ref_usd, a.e_margin)
        spreads = [metrics.standard_spread(m) for m in self.markets.values()]
        spread = sum(spreads) / len(spreads) if spreads else a.spread_ref
        quality = market_quality(capacity, factor, spread, a.capacity_ref_usd, a.spread_ref,
                                 a.e_capacity, a.e_spread)
        shown = [d for d in depths if d is not None]    # USDC margin: no token to buy
        return quality, capacity, sum(shown) / len(shown) if shown else math.nan, spread

    def _margin_depth_usd(self, m: OptionsMarket) -> float | None:
        """AMM depth +-2% (USD) of the margin token of ``m``; None when it is margined in USDC."""
        if m.token == USDC:
            return None
        amm = self.world.tokens[m.token].amm
        return amm.depth_usd(0.02) if amm.has_liquidity else 0.0

    def _collect(self, t: int) -> None:
        for m in self.markets.values():
            m.take_book_stats()
        self.ledger.audit()
        self.history.record(t)
        self.row = metrics.current_row(self, t)
        self.datacollector.add_table_row(metrics.TABLE, self.row)
        self.datacollector.collect(self)
        for m in self.markets.values():
            metrics.record_market_events(self, m)
            m.stats = type(m.stats)()
        self.arrivals_step = 0
        self.departures_step = 0

    # ------------------------------------------------------------------ results
    def timeseries(self):
        return metrics.timeseries_frame(self)

    def events_frame(self):
        return metrics.events_frame(self)

    def summary(self) -> dict:
        return metrics.summary(self)

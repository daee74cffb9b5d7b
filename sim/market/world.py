"""The exogenous world of one run: clock, calendar, prices, tokens, issuers, AMMs, oracles.

Phase 1 and 2 of a step (design section 9): the clock advances, exogenous prices move (with
scheduled shocks), stock reference prices update only while NYSE is open (so the weekend gap
appears at the open), then issuers and oracles are updated. A split of a stock (``split``)
divides its prices (a simulated stock's; a replayed stock's feed is used as it is) and
multiplies the stock per token of every token it backs, so NAV is continuous. Replayed assets
(``price_file`` or ``price_files``) take the files' prices; the others are simulated, given
the replayed ones' returns when some are replayed (``paths.generate_log_returns(given=...)``).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from kernels import KernelSet
from sim.ledger import Ledger
from sim.market.amm import SpotAmm
from sim.market.calendar import NyseCalendar, step_times
from sim.market.issuer import Issuer
from sim.market.oracle import Oracle
from sim.market.paths import generate_log_returns
from sim.market.vol import EwmaVol
from sim.rng import stream
from sim.scenario._base import MIN_SIGMA


class TokenState:
    """One stock token: backing, NAV, its AMM, its issuer and its oracle."""

    def __init__(self, name: str, underlying_index: int, spec, ledger: Ledger, oracle_spec,
                 kernels: KernelSet | None = None) -> None:
        self.name = name
        self.underlying_index = underlying_index
        self.backing = float(spec.backing)   # 1.0 unless a depeg lowers it
        self.split_multiplier = 1.0          # x ratio at each split of the stock
        self.nav = 0.0              # USD per token now (reference x backing per token)
        self.nav_last_open = 0.0    # USD per token as of the last open step (what `nav` oracles see)
        self.amm = SpotAmm(ledger, name, ledger.open_account(f"amm:{name}"), spec.amm.fee, kernels)
        self.issuer = Issuer(
            ledger, name, ledger.open_account(f"issuer:{name}", external=True),
            spec.issuer.mint_fee, spec.issuer.redeem_fee, spec.issuer.daily_capacity_usd,
        )
        mode, twap, dev, split_lag = oracle_spec if oracle_spec else ("nav", 4, 0.10, 0)
        self.oracle = Oracle(mode, twap, dev, split_lag)

    @property
    def backing_per_token(self) -> float:
        """Stock per token: the backing ratio times the splits since the start."""
        return self.backing * self.split_multiplier

    @property
    def premium(self) -> float:
        return self.amm.price / self.nav - 1.0 if self.nav > 0 else 0.0


class World:
    """Prices and tokens of one run, advanced one step at a time; ``kernels`` is handed to the
    AMMs (default: the Cython kernels)."""

    def __init__(self, scenario, ledger: Ledger, root_seed: int,
                 kernels: KernelSet | None = None) -> None:
        self.scenario = scenario
        self.ledger = ledger
        sc = scenario
        self.asset_names = list(sc.assets)
        self.asset_index = {a: i for i, a in enumerate(self.asset_names)}
        assets = [sc.assets[a] for a in self.asset_names]
        self.is_stock = np.array([a.kind == "stock" for a in assets])
        self.n_steps = sc.n_steps
        self.dt_years = sc.dt_years
        self.times: list[datetime] = step_times(sc.clock.start, sc.n_steps, sc.clock.step_minutes)
        self.calendar = NyseCalendar(sc.clock.holidays)
        self.open_mask = self.calendar.open_mask(self.times)
        replayed: dict[str, np.ndarray] = {}
        if sc.price_file is not None or sc.price_files:
            from sim.market.replay import replayed_prices

            replayed = replayed_prices(sc, self.times)
        # Per asset: True when its prices come from a file (used as they are, splits included).
        self.replayed_mask = np.array([a in replayed for a in self.asset_names])
        init = np.array([a.price for a in assets], dtype=float)
        for name, prices in replayed.items():
            init[self.asset_index[name]] = prices[0]
        if replayed and len(replayed) == len(self.asset_names):
            self.log_returns = np.column_stack(
                [np.diff(np.log(replayed[a])) for a in self.asset_names]
            ) if self.asset_names else np.zeros((sc.n_steps, 0))
        else:
            given = {self.asset_index[a]: np.diff(np.log(p)) for a, p in replayed.items()}
            self.log_returns = generate_log_returns(
                np.array([a.sigma for a in assets]), np.array([a.mu for a in assets]),
                sc.correlation_matrix(), np.array([a.jump_intensity for a in assets]),
                np.array([a.jump_mean for a in assets]), np.array([a.jump_sd for a in assets]),
                sc.n_steps, sc.dt_years, stream(root_seed, "paths"), given=given or None,
            )
        self.latent = np.array(init, dtype=float)       # USD; fair value, moves all the time
        self.reference = self.latent.copy()              # USD; stocks: official price, only while open
        self.step_index = -1
        self.is_open = bool(self.open_mask[0])
        steps_per_day = 1440 / sc.clock.step_minutes
        halflife_days = min((m.vol_halflife_days for m in sc.markets.values()), default=7.0)
        self.vols = [EwmaVol(halflife_days * steps_per_day, sc.dt_years, a.sigma) for a in assets]
        self.extra_log_moves: dict[int, np.ndarray] = {}  # step -> added log moves (shocks)
        self.tokens: dict[str, TokenState] = {}
        for name, spec in sc.tokens.items():
            # The oracle of the market margined in this token (none: nothing reads its oracle).
            mk = next((m for key, m in sc.markets.items() if sc.margin_of(key) == name), None)
            oracle_spec = ((mk.oracle, mk.twap_steps, mk.safe_mode_deviation, mk.split_lag_steps)
                           if mk is not None else None)
            self.tokens[name] = TokenState(name, self.asset_index[spec.underlying], spec, ledger, oracle_spec,
                                           kernels)
        self._update_navs(force=True)

    @property
    def time(self) -> datetime:
        return self.times[max(self.step_index, 0)]

    def price(self, asset: str) -> float:
        """USD price now: crypto spot, or a stock's official reference price."""
        return float(self.reference[self.asset_index[asset]])

    def add_log_move(self, step: int, asset: str, size: float) -> None:
        """Schedule a shock: an extra log move of ``asset`` at ``step`` (crypto jump, weekend gap)."""
        arr = self.extra_log_moves.setdefault(step, np.zeros(len(self.asset_names)))
        arr[self.asset_index[asset]] += size

    def is_replayed(self, asset: str) -> bool:
        """Whether ``asset``'s prices come from a file (``price_file`` or ``price_files``)."""
        return bool(self.replayed_mask[self.asset_index[asset]])

    def split_step(self, step: int, asset: str) -> int:
        """The step at which a split of ``asset`` scheduled for ``step`` (its time's step) is
        applied: that step, or for a replayed feed the one before, whose prices are the feed's
        as of the split time (a step's prices are those at its end), so that the backing
        changes with them."""
        return max(step - 1, 0) if self.is_replayed(asset) else step

    # -- phase 1 ---------------------------------------------------------------------------
    def advance(self) -> None:
        """Move the clock one step and the exogenous prices with it."""
        self.step_index += 1
        t = self.step_index
        r = self.log_returns[t].copy()
        extra = self.extra_log_moves.get(t)
        if extra is not None:
            r += extra
        self.latent *= np.exp(r)
        self.is_open = bool(self.open_mask[t + 1])
        crypto = ~self.is_stock
        self.reference[crypto] = self.latent[crypto]
        if self.is_open:
            self.reference[self.is_stock] = self.latent[self.is_stock]
        for i, v in enumerate(self.vols):
            if not self.is_stock[i]:
                v.update(float(r[i]))

    def split(self, asset: str, ratio: float) -> None:
        """A ``ratio``-for-1 split of stock ``asset``, after this step's prices moved: a simulated
        stock's latent and reference prices divide by ``ratio`` (a replayed feed already holds
        the division, so only a reference frozen since the last open divides: the last close,
        split-adjusted); every token backed by it multiplies its stock per token by ``ratio``
        and tells its oracle (which may lag)."""
        i = self.asset_index[asset]
        if not self.is_stock[i]:
            raise ValueError(f"asset: {asset!r} is not a stock; only a stock splits")
        if not (np.isfinite(ratio) and ratio > 0):
            raise ValueError(f"ratio: must be finite and > 0, got {ratio}")
        if not self.replayed_mask[i]:
            self.latent[i] /= ratio
        if self.is_open:
            self.reference[i] = self.latent[i]
        else:
            self.reference[i] /= ratio
        for tok in self.tokens.values():
            if tok.underlying_index == i:
                tok.split_multiplier *= ratio
                tok.oracle.split(ratio)

    # -- phase 2 ---------------------------------------------------------------------------
    def _update_navs(self, force: bool = False) -> None:
        for tok in self.tokens.values():
            tok.nav = float(self.reference[tok.underlying_index]) * tok.backing * tok.split_multiplier
            if self.is_open or force:
                tok.nav_last_open = tok.nav

    def update_issuers_and_oracles(self, new_day: bool) -> None:
        self._update_navs()
        for tok in self.tokens.values():
            iss = tok.issuer
            iss.open = self.is_open
            iss.nav = tok.nav
            if new_day:
                iss.new_day()
            amm_price = tok.amm.price
            if not amm_price > 0:       # an emptied AMM has no price (NaN): its last one stands,
                amm_price = tok.oracle.spot if tok.oracle.sampled else tok.nav_last_open
            tok.oracle.sample(amm_price, tok.nav_last_open)     # as Uniswap's accumulator keeps it

    def sigma(self, asset: str) -> float:
        """Trailing EWMA realized vol of ``asset`` (annual), at least ``MIN_SIGMA``: the pools
        price with it, and a vol of 0 (a flat replayed feed, long enough) makes the
        everlasting option's u infinite."""
        return max(float(self.vols[self.asset_index[asset]].sigma), MIN_SIGMA)

    def fair_value(self, token: str) -> float:
        """USD per token at the stock's latent value: latent x stock per token (design 3). It
        equals NAV while NYSE is open and keeps moving while it is closed."""
        tok = self.tokens[token]
        return float(self.latent[tok.underlying_index]) * tok.backing_per_token

    def fair_value_view(self, token: str) -> FairValueView:
        """What an informed agent watches for ``token`` (handed to it at construction)."""
        return FairValueView(self, token)


class FairValueView:
    """One token's fair value and whether its stock market is open, read live from the world:
    the latent-value view handed to informed agents (design 8, informed off-hours flow)."""

    __slots__ = ("_world", "token")

    def __init__(self, world: World, token: str) -> None:
        self._world = world
        self.token = token

    @property
    def value(self) -> float:
        """USD per token at the latent value (see ``World.fair_value``)."""
        return self._world.fair_value(self.token)

    @property
    def market_open(self) -> bool:
        """Whether NYSE is open this step (the issuer works and NAV is live)."""
        return self._world.is_open

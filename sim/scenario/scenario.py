"""``Scenario``: everything one run needs, with the checks that span several sections."""

from __future__ import annotations

import math
import re
from itertools import combinations
from typing import Annotated

import numpy as np
from pydantic import Field, field_validator, model_validator

from sim.assets import USDC
from sim.durations import at_to_step, duration_to_steps, parse_duration
from sim.scenario._base import NAME_PATTERN, SHOCKED_PRICE_RANGE, FrozenModel, check_issues
from sim.scenario.agents import Agents, Arrivals
from sim.scenario.events import TARGET_FIELD, TIMED_EVENTS, Event
from sim.scenario.markets import Insurance, MarketSpec, Pool
from sim.scenario.twins import Impulse, Twin
from sim.scenario.world import (
    DEFAULT_ASSETS,
    DEFAULT_TOKENS,
    Asset,
    AssetPriceFile,
    Clock,
    PriceFile,
    Token,
)

MAX_SEED = 2**63 - 1
"""The largest root seed: a signed 64-bit integer, what Parquet, JSON readers and most tools
keep exactly (numpy's SeedSequence itself takes any integer >= 0)."""

# Default correlations by pair of asset kinds (design 3).
DEFAULT_CORRELATION = {
    ("crypto", "crypto"): 0.80,
    ("crypto", "stock"): 0.45,
    ("stock", "crypto"): 0.45,
    ("stock", "stock"): 0.45,
}


class Scenario(FrozenModel):
    """One scenario: the world, the product, the agents and the shocks of a run."""

    name: str = Field(
        pattern=NAME_PATTERN,
        max_length=200,
        description="Name of the scenario, used as its results folder ([A-Za-z0-9_.-]+, at most "
        "200 characters: a folder name may have 255, and twins add a suffix).",
    )
    description: str = Field(
        "", max_length=10_000, description="The question this scenario asks."
    )
    seed: int = Field(
        0, ge=0, le=MAX_SEED,
        description="Root seed of every random stream (0 to 2^63 - 1, a signed 64-bit integer).",
    )
    clock: Clock = Field(Clock(), description="Start, length and step of the run.")
    assets: dict[str, Asset] = Field(
        DEFAULT_ASSETS, description="Underlyings by name: crypto coins and stocks."
    )
    correlations: dict[str, Annotated[float, Field(ge=-1, le=1)]] = Field(
        {},
        description="Correlations of log returns by pair, 'BTC/TSLA': 0.5; pairs not named "
        "use 0.80 crypto-crypto, 0.45 crypto-stock and stock-stock.",
    )
    price_file: PriceFile | None = Field(
        None, description="Replay every asset's prices from one wide file instead of simulating "
        "them (the shorthand of price_files).",
    )
    price_files: dict[str, AssetPriceFile] = Field(
        {},
        description="Replay some assets' prices, one file per asset; the others are simulated "
        "conditionally on the replayed ones' returns with the correlation matrix.",
    )
    tokens: dict[str, Token] = Field(DEFAULT_TOKENS, description="Stock tokens by name.")
    markets: dict[str, MarketSpec] = Field(
        {"TSLA.M": MarketSpec(), "NVDA.M": MarketSpec()},
        description="Option markets by name; each is margined in its `margin` asset (by default "
        "the token it is named after).",
    )
    pool: Pool = Field(Pool(), description="Main pool of each market.")
    insurance: Insurance = Field(Insurance(), description="Insurance pool of each market.")
    agents: Agents = Field(Agents(), description="Populations and behaviours.")
    arrivals: Arrivals = Field(Arrivals(), description="Bass arrivals of new users.")
    events: list[Event] = Field([], description="Scheduled shocks.")
    twin: Twin = Field(Twin(), description="How the margin twin (design 1) differs.")
    impulse: Impulse | None = Field(
        None, description="Extra traders at one time: an impulse twin (design 11); null: none."
    )

    # --- checks -----------------------------------------------------------------------------

    @field_validator("name")
    @classmethod
    def _not_dots(cls, name: str) -> str:
        if name in (".", ".."):
            raise ValueError(f"{name!r} cannot be a folder name")
        return name

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        issues: list[tuple[str, str]] = []
        issues += self._check_names()
        issues += self._check_tokens()
        issues += self._check_markets()
        issues += self._check_price_files()
        corr_issues = self._check_correlation_keys()
        issues += corr_issues
        if not corr_issues:
            issues += self._check_positive_definite()
        issues += self._check_events()
        issues += self._check_impulse()
        issues += self._check_shocked_prices()
        check_issues(issues)
        return self

    def _check_names(self) -> list[tuple[str, str]]:
        issues = []
        for section in ("assets", "tokens"):
            for key in getattr(self, section):
                if not re.match(NAME_PATTERN, key):
                    issues.append((f"{section}.{key}", "names may use only A-Z a-z 0-9 _ . -"))
        if not self.assets:
            issues.append(("assets", "at least one asset is needed"))
        return issues

    def _check_price_files(self) -> list[tuple[str, str]]:
        issues = []
        for name in self.price_files:
            if name not in self.assets:
                issues.append((f"price_files.{name}", f"no asset named {name!r} "
                               f"(assets: {', '.join(self.assets)})"))
            elif self.price_file is not None:
                issues.append((f"price_files.{name}", f"{name!r} is named twice: price_file "
                               "already replays every asset"))
        return issues

    def _check_tokens(self) -> list[tuple[str, str]]:
        issues = []
        for name, token in self.tokens.items():
            if name == USDC:
                issues.append((f"tokens.{name}", "USDC is reserved for the stable coin (a margin asset)"))
            asset = self.assets.get(token.underlying)
            if asset is None:
                issues.append(
                    (f"tokens.{name}.underlying", f"no asset named {token.underlying!r} "
                     f"(assets: {', '.join(self.assets)})")
                )  # fmt: skip
            elif asset.kind != "stock":
                issues.append(
                    (f"tokens.{name}.underlying", f"{token.underlying!r} is {asset.kind}, "
                     "a token must be backed by a stock")
                )  # fmt: skip
        return issues

    def _check_markets(self) -> list[tuple[str, str]]:
        issues = []
        if not self.markets:
            issues.append(("markets", "at least one market is needed"))
        for name, market in self.markets.items():
            if not re.match(NAME_PATTERN, name):
                issues.append((f"markets.{name}", "names may use only A-Z a-z 0-9 _ . -"))
            asset = self.margin_of(name)
            if asset != USDC and asset not in self.tokens:
                tokens = ", ".join(self.tokens) or "none"
                issues.append(
                    (f"markets.{name}.margin", f"no token named {asset!r} (tokens: {tokens}; or USDC)")
                    if market.margin else
                    (f"markets.{name}", f"no token named {name!r} to margin it in (a market "
                     f"without `margin:` is margined in the token it is named after; tokens: {tokens})")
                )  # fmt: skip
            for underlying in market.underlyings:
                asset = self.assets.get(underlying)
                if asset is None:
                    issues.append((f"markets.{name}.underlyings", f"no asset named {underlying!r}"))
                elif asset.kind != "crypto":
                    issues.append(
                        (f"markets.{name}.underlyings", f"{underlying!r} is a {asset.kind}; "
                         "option underlyings must be crypto")
                    )  # fmt: skip
        return issues

    def _check_correlation_keys(self) -> list[tuple[str, str]]:
        issues = []
        seen: dict[frozenset, str] = {}
        for key in self.correlations:
            parts = [p.strip() for p in key.split("/")]
            if len(parts) != 2 or not all(parts):
                issues.append((f"correlations.{key}", "key must name two assets as 'A/B'"))
                continue
            unknown = [p for p in parts if p not in self.assets]
            if unknown:
                issues.append((f"correlations.{key}", f"no asset named {unknown[0]!r}"))
            elif parts[0] == parts[1]:
                issues.append((f"correlations.{key}", "an asset's correlation with itself is 1"))
            elif frozenset(parts) in seen:
                issues.append(
                    (f"correlations.{key}", f"the same pair as {seen[frozenset(parts)]!r}")
                )
            else:
                seen[frozenset(parts)] = key
        return issues

    def _check_positive_definite(self) -> list[tuple[str, str]]:
        try:
            np.linalg.cholesky(self.correlation_matrix())
        except np.linalg.LinAlgError:
            smallest = float(np.linalg.eigvalsh(self.correlation_matrix())[0])
            return [
                ("correlations", f"the correlation matrix of {', '.join(self.assets)} is not "
                 f"positive definite (smallest eigenvalue {smallest:.3g}); "
                 "make the named correlations consistent with each other and the defaults")
            ]  # fmt: skip
        return []

    def _check_events(self) -> list[tuple[str, str]]:
        issues = []
        for i, event in enumerate(self.events):
            where = f"events.{i}"
            issues += [(f"{where}.{f}", msg) for f, msg in self._event_target_issues(event)]
            step = self.event_step(event)
            if step >= self.n_steps:
                issues.append(
                    (f"{where}.at", f"{event.at!r} is step {step}, after the run's end "
                     f"(the run has {self.n_steps} steps)")
                )  # fmt: skip
            elif step < self.burn_in_steps:
                issues.append(
                    (f"{where}.at", f"{event.at!r} is step {step}, inside the burn-in "
                     f"(steps 0-{self.burn_in_steps - 1}), where shocks do not count")
                )  # fmt: skip
            elif isinstance(event, TIMED_EVENTS) and event.duration is not None:
                end = step + duration_to_steps(event.duration, self.clock.step_minutes)
                if end > self.n_steps:
                    issues.append(
                        (f"{where}.duration", f"{event.duration!r} from step {step} ends at "
                         f"step {end}, after the run's end ({self.n_steps} steps)")
                    )  # fmt: skip
        return issues

    def _check_shocked_prices(self) -> list[tuple[str, str]]:
        """Each asset's starting price under all its scheduled shocks (jumps, gaps, splits)
        stays within ``SHOCKED_PRICE_RANGE``, so prices and reserves stay within float limits."""
        issues = []
        low, high = SHOCKED_PRICE_RANGE
        for name, asset in self.assets.items():
            up = down = 0.0                       # log moves the scheduled shocks add
            first = ""
            for i, event in enumerate(self.events):
                if event.kind in ("crypto_jump", "weekend_gap") and event.asset == name:
                    move = event.size
                elif event.kind == "split" and event.asset == name:
                    move = -math.log(event.ratio)
                else:
                    continue
                first = first or f"events.{i}"
                up, down = up + max(move, 0.0), down + min(move, 0.0)
            if not first:
                continue
            if asset.price * math.exp(up) > high or asset.price * math.exp(down) < low:
                issues.append((first, f"the shocks of {name} together move its price from "
                               f"{asset.price:g} to between {asset.price * math.exp(down):.3g} "
                               f"and {asset.price * math.exp(up):.3g} USD; a price must stay "
                               f"within {low:g} to {high:g}"))
        return issues

    def _check_impulse(self) -> list[tuple[str, str]]:
        if self.impulse is None:
            return []
        step = self.impulse_step
        if step >= self.n_steps:
            return [("impulse.at", f"{self.impulse.at!r} is step {step}, after the run's end "
                     f"(the run has {self.n_steps} steps)")]  # fmt: skip
        if step < self.burn_in_steps:
            return [("impulse.at", f"{self.impulse.at!r} is step {step}, inside the burn-in "
                     f"(steps 0-{self.burn_in_steps - 1})")]  # fmt: skip
        return []

    def _event_target_issues(self, event: Event) -> list[tuple[str, str]]:
        field = TARGET_FIELD[event.target_kind]
        known = getattr(self, event.target_kind)        # this scenario's own section, by name
        if event.target not in known:
            return [(field, f"no {field} named {event.target!r} "
                     f"({event.target_kind}: {', '.join(known) or 'none'})")]  # fmt: skip
        if event.asset_kind and known[event.target].kind != event.asset_kind:
            return [(field, f"{event.kind} needs a {event.asset_kind} asset; "
                     f"{event.target!r} is {known[event.target].kind}")]  # fmt: skip
        return []

    # --- derived values ---------------------------------------------------------------------

    @property
    def n_steps(self) -> int:
        """Steps in the run, burn-in included."""
        return _floor(self.clock.days * 1440 / self.clock.step_minutes)

    @property
    def dt_years(self) -> float:
        """Length of one step in years (365.25-day years), the same for every asset."""
        return self.clock.step_minutes / (365.25 * 1440)

    @property
    def burn_in_steps(self) -> int:
        """Steps before metrics, impulses and shocks count."""
        return _floor(self.clock.burn_in_days * 1440 / self.clock.step_minutes)

    def correlation_matrix(self) -> np.ndarray:
        """Correlation of log returns, rows and columns in the order of ``list(assets)``."""
        names = list(self.assets)
        index = {n: i for i, n in enumerate(names)}
        corr = np.eye(len(names))
        for a, b in combinations(names, 2):
            rho = DEFAULT_CORRELATION[(self.assets[a].kind, self.assets[b].kind)]
            corr[index[a], index[b]] = corr[index[b], index[a]] = rho
        for key, rho in self.correlations.items():
            a, b = (p.strip() for p in key.split("/"))
            corr[index[a], index[b]] = corr[index[b], index[a]] = rho
        return corr

    def event_step(self, event) -> int:
        """Index of the step at which ``event`` fires (the first step at or after its time)."""
        return at_to_step(event.at, self.clock.start, self.clock.step_minutes)

    @property
    def impulse_step(self) -> int:
        """The step at which the impulse's traders arrive (-1: no impulse)."""
        if self.impulse is None:
            return -1
        return at_to_step(self.impulse.at, self.clock.start, self.clock.step_minutes)

    def duration_steps(self, duration: str) -> int:
        """Steps a duration such as '3d' lasts, rounded up (at least one)."""
        return duration_to_steps(duration, self.clock.step_minutes)

    parse_duration = staticmethod(parse_duration)

    def margin_of(self, market: str) -> str:
        """The margin asset of a market (design 5): its ``margin``, else the token it is named
        after (USDC for a market named USDC)."""
        return self.markets[market].margin or market

    def haircut_of(self, market: str) -> float:
        """Collateral haircut of a market: its own, else its margin token's, 0 for USDC."""
        spec = self.markets[market]
        if spec.haircut is not None:
            return spec.haircut
        asset = self.margin_of(market)
        return 0.0 if asset == USDC else self.tokens[asset].haircut


def _floor(x: float) -> int:
    return math.floor(x + 1e-9)

"""Stand-ins for ``sim.model.FlywheelModel`` and a light ``Scenario``, for run and chart tests.

``FakeModel`` produces a plausible synthetic run (random walks, a NYSE-like calendar, a shock or
two) whose columns follow docs/interfaces.md section 4 exactly, deterministically from its seed.
It knows nothing of the mechanism: it only lets ``sim.run`` and ``sim.charts`` be tested while
the real model is being written, and fast.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

NEW_YORK = ZoneInfo("America/New_York")
EVENT_COLUMNS = (
    "step", "time", "kind", "market", "account", "agent",
    "amount_tokens", "amount_usd", "detail",
)  # fmt: skip


@dataclass(frozen=True)
class FakeScenario:
    """What ``sim.run`` reads of a Scenario: ``name``, ``seed``, ``n_steps``, ``dt_years``."""

    name: str = "fake"
    seed: int = 7
    start: str = "2025-07-07T00:00:00+00:00"  # a Monday
    days: float = 14.0
    step_minutes: int = 60
    burn_in_days: float = 3.0
    assets: dict[str, float] = field(
        default_factory=lambda: {"BTC": 108_000.0, "ETH": 2_500.0, "TSLA": 315.0, "NVDA": 160.0}
    )
    tokens: dict[str, str] = field(default_factory=lambda: {"TSLA.M": "TSLA", "NVDA.M": "NVDA"})
    markets: tuple[str, ...] = ("TSLA.M", "NVDA.M")
    shocks: tuple[tuple[float, str], ...] = (
        (6.5, "crypto_jump BTC -14%"),
        (9.0, "pin TSLA.M -30%"),
    )

    @property
    def n_steps(self) -> int:
        return int(round(self.days * 1440 / self.step_minutes))

    @property
    def burn_in_steps(self) -> int:
        return int(round(self.burn_in_days * 1440 / self.step_minutes))

    @property
    def dt_years(self) -> float:
        return self.step_minutes / (365.25 * 1440)


def usdc_only(**changes) -> FakeScenario:
    """The control scenario: one USDC market, no stock tokens."""
    base = dict(name="usdc-control", assets={"BTC": 108_000.0, "ETH": 2_500.0}, tokens={},
                markets=("USDC",), shocks=((5.0, "crypto_jump BTC -14%"),))  # fmt: skip
    return FakeScenario(**{**base, **changes})


def dump_fake_scenario(scenario: FakeScenario) -> str:
    """Stand-in for ``sim.scenario.dump_scenario``: every field, in a stable text form."""
    return json.dumps(asdict(scenario), sort_keys=True, indent=1) + "\n"


def load_fake_scenario(path, overrides=()) -> FakeScenario:
    """Stand-in for ``sim.scenario.load_scenario``: the file holds ``dump_fake_scenario`` text."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    data["markets"] = tuple(data["markets"])
    data["shocks"] = tuple(tuple(s) for s in data["shocks"])
    for item in overrides:
        key, _, value = item.partition("=")
        data[key] = type(data[key])(value)
    return FakeScenario(**data)


def layout_of(scenario) -> FakeScenario:
    """The FakeScenario that mirrors a real ``sim.scenario.Scenario`` (clock, assets, tokens,
    markets; one shock on day 1.5 so charts have a marker), or ``scenario`` itself."""
    if isinstance(scenario, FakeScenario):
        return scenario
    clock = scenario.clock
    return FakeScenario(
        name=scenario.name,
        seed=scenario.seed,
        start=clock.start.isoformat(),
        days=float(clock.days),
        step_minutes=int(clock.step_minutes),
        burn_in_days=float(clock.burn_in_days),
        assets={a: float(spec.price) for a, spec in scenario.assets.items()},
        tokens={t: spec.underlying for t, spec in scenario.tokens.items()},
        markets=tuple(scenario.markets),
        shocks=((1.5, "crypto_jump BTC -14%"),),
    )


class FakeModel:
    """A model-shaped object: ``n_steps``, ``step()``, ``timeseries()``, ``events_frame()``,
    ``summary()``. ``fail_at_step`` makes ``step()`` raise there (to test failed runs)."""

    def __init__(self, scenario, rng: int | None = None, *, impulse=None, fail_at_step=None):
        self.scenario = layout_of(scenario)
        self.seed = scenario.seed if rng is None else rng
        self.n_steps = scenario.n_steps
        self.steps_done = 0
        self.fail_at_step = fail_at_step
        self._ts, self._events = _synthesize(self.scenario, np.random.default_rng(self.seed))

    def step(self) -> None:
        if self.fail_at_step is not None and self.steps_done == self.fail_at_step:
            raise RuntimeError(f"fake failure at step {self.steps_done}")
        self.steps_done += 1

    def run_for(self, n: int) -> None:
        for _ in range(n):
            self.step()

    def timeseries(self) -> pd.DataFrame:
        return self._ts.iloc[: self.steps_done].reset_index(drop=True)

    def events_frame(self) -> pd.DataFrame:
        return self._events[self._events["step"] < self.steps_done].reset_index(drop=True)

    def summary(self) -> dict:
        ts, ev = self.timeseries(), self.events_frame()
        after = ts[~ts["burn_in"]] if (~ts["burn_in"]).any() else ts
        users = after["active_traders"] + after["active_lps"]
        out = {
            "days_simulated": len(ts) * self.scenario.step_minutes / 1440,
            "steps": len(ts),
            "active_users_start": int(users.iloc[0]),
            "active_users_end": int(users.iloc[-1]),
            "option_volume_usd": float(after["volume_usd"].sum()),
            "liquidations": int(after["liquidations"].sum()),
            "liquidations_usd": float(after["liquidations_usd"].sum()),
            "bad_debt_usd": float(after["bad_debt_usd"].sum()),
            "insurance_depleted": False,
            "insurance_depleted_at": None,
            "conservation_error": 3.1e-15,
            "n_events": len(ev),
        }
        for m in self.scenario.markets:
            share = after[f"lp_share_price[{m}]"]
            nav = after[f"pool_nav_usd[{m}]"]
            out[f"lp_return_token[{m}]"] = float(share.iloc[-1] / share.iloc[0] - 1)
            out[f"lp_return_usd[{m}]"] = float(nav.iloc[-1] / nav.iloc[0] - 1)
            out[f"lp_max_drawdown[{m}]"] = float((1 - share / share.cummax()).max())
        for t in self.scenario.tokens:
            out[f"peak_premium[{t}]"] = float(after[f"premium[{t}]"].max())
            out[f"peak_discount[{t}]"] = float(after[f"premium[{t}]"].min())
        return out


def _market_open(times: pd.DatetimeIndex) -> np.ndarray:
    local = times.tz_convert(NEW_YORK)
    minutes = local.hour * 60 + local.minute
    return np.asarray((local.day_of_week < 5) & (minutes >= 570) & (minutes < 960))


def _walk(rng, n: int, start: float, sigma: float, dt: float) -> np.ndarray:
    steps = rng.normal(-0.5 * sigma**2 * dt, sigma * np.sqrt(dt), n)
    return start * np.exp(np.cumsum(steps))


def _synthesize(s, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    n, dt = s.n_steps, s.dt_years
    t0 = datetime.fromisoformat(s.start).astimezone(timezone.utc)
    times = pd.DatetimeIndex([t0 + timedelta(minutes=s.step_minutes * i) for i in range(n)])
    is_open = _market_open(times)
    shock_steps = [int(day * 1440 / s.step_minutes) for day, _ in s.shocks]
    shock_steps = [k for k in shock_steps if k < n]
    cols: dict[str, object] = {
        "step": np.arange(n, dtype=np.int64),
        "time": times,
        "market_open": is_open,
        "burn_in": np.arange(n) < s.burn_in_steps,
    }
    for a, p0 in s.assets.items():
        path = _walk(rng, n, p0, 0.6, dt)
        for k in shock_steps:
            path[k:] *= 0.9
        cols[f"price[{a}]"] = path
    for t, under in s.tokens.items():
        latent = np.asarray(cols[f"price[{under}]"])
        nav = pd.Series(np.where(is_open, latent, np.nan)).ffill().fillna(latent[0]).to_numpy()
        noise = np.zeros(n)
        for i in range(1, n):  # premium: mean-reverting, wider off-hours
            noise[i] = 0.9 * noise[i - 1] + rng.normal(0, 0.001 if is_open[i] else 0.004)
        amm = nav * (1 + noise)
        cols[f"nav[{t}]"] = nav
        cols[f"amm_price[{t}]"] = amm
        cols[f"premium[{t}]"] = amm / nav - 1
        cols[f"oracle[{t}]"] = nav
        cols[f"depth_2pct_usd[{t}]"] = 40_000 * np.exp(np.cumsum(rng.normal(0.001, 0.01, n)))
        cols[f"safe_mode[{t}]"] = np.abs(noise) > 0.1
    totals = {k: np.zeros(n) for k in ("volume_usd", "liquidations_usd", "bad_debt_usd",
                                       "insurance_usd", "pool_capacity_usd")}  # fmt: skip
    totals["liquidations"] = np.zeros(n, dtype=np.int64)
    events: list[dict] = []
    for m in s.markets:
        price = np.asarray(cols.get(f"amm_price[{m}]", np.ones(n)))
        trades = rng.poisson(np.where(is_open, 6.0, 3.0))
        volume = trades * rng.lognormal(np.log(20_000), 0.5, n)
        liqs = rng.poisson(0.03, n)
        for k in shock_steps:
            liqs[k : k + 3] += rng.poisson(4, min(3, n - k))
        liq_usd = liqs * rng.lognormal(np.log(8_000), 0.4, n)
        bad = np.where(liqs > 2, liq_usd * 0.05, 0.0)
        share = np.exp(np.cumsum(rng.normal(2e-5, 5e-4, n))) - np.cumsum(bad) / 2e6
        nav_usd = 2e6 * share * price / price[0]
        insurance = np.maximum(4e4 + np.cumsum(volume * 5e-4 * 0.3) - np.cumsum(bad), 0.0)
        util = np.clip(0.3 + np.cumsum(rng.normal(0, 0.01, n)), 0.05, 0.79)
        cols |= {
            f"volume_usd[{m}]": volume,
            f"trades[{m}]": trades,
            f"open_interest_usd[{m}]": np.cumsum(volume) * 0.05,
            f"fees_usd[{m}]": volume * 5e-4,
            f"funding_usd[{m}]": volume * 1e-4,
            f"pool_nav_usd[{m}]": nav_usd,
            f"pool_nav_tokens[{m}]": nav_usd / price,
            f"lp_share_price[{m}]": share,
            f"pool_capacity_usd[{m}]": (0.8 - util) * nav_usd,
            f"utilization[{m}]": util,
            f"spread_std[{m}]": 0.002 + 0.01 * util,
            f"insurance_usd[{m}]": insurance,
            f"insurance_tokens[{m}]": insurance / price,
            f"liquidations[{m}]": liqs,
            f"liquidations_usd[{m}]": liq_usd,
            f"bad_debt_usd[{m}]": bad,
            f"adl_usd[{m}]": np.where(bad > 1_000, bad * 0.1, 0.0),
        }
        totals["volume_usd"] += volume
        totals["liquidations"] += liqs
        totals["liquidations_usd"] += liq_usd
        totals["bad_debt_usd"] += bad
        totals["insurance_usd"] += insurance
        totals["pool_capacity_usd"] += (0.8 - util) * nav_usd
        for i in np.flatnonzero(liqs)[:50]:
            events.append(dict(step=i, time=times[i], kind="liquidation", market=m, account=int(i),
                               agent=f"trader-{i}", amount_tokens=liq_usd[i] / price[i],
                               amount_usd=liq_usd[i], detail=f"{liqs[i]} accounts"))  # fmt: skip
        for i in np.flatnonzero(trades)[:100]:
            events.append(dict(step=i, time=times[i], kind="trade", market=m, account=int(i) % 40,
                               agent=f"trader-{int(i) % 40}", amount_tokens=volume[i] / price[i],
                               amount_usd=volume[i], detail="BTC call"))  # fmt: skip
    arrivals = rng.poisson(0.8, n)
    departures = rng.poisson(0.6, n)
    traders = 100 + np.cumsum(arrivals - departures)
    cols |= {
        "active_traders": traders,
        "active_lps": 40 + np.cumsum(rng.poisson(0.1, n) - rng.poisson(0.08, n)),
        "arrivals": arrivals,
        "departures": departures,
        "volume_usd": totals["volume_usd"],
        "depth_quality_usd": np.sqrt(np.maximum(totals["pool_capacity_usd"], 0) * 40_000),
        "quality": np.clip(1 + np.cumsum(rng.normal(0, 0.01, n)), 0.1, None),
        "liquidations": totals["liquidations"],
        "liquidations_usd": totals["liquidations_usd"],
        "bad_debt_usd": totals["bad_debt_usd"],
        "insurance_usd": totals["insurance_usd"],
    }
    for k, (_, detail) in zip(shock_steps, s.shocks, strict=False):
        events.append(dict(step=k, time=times[k], kind="shock", market=None, account=None,
                           agent=None, amount_tokens=np.nan, amount_usd=np.nan,
                           detail=detail))  # fmt: skip
    ev = pd.DataFrame(events, columns=list(EVENT_COLUMNS))
    ev = ev.sort_values(["step", "kind"], kind="stable").reset_index(drop=True)
    ev = ev.astype({"step": "int64", "account": "Int64", "amount_tokens": "float64",
                    "amount_usd": "float64"})  # fmt: skip
    return pd.DataFrame(cols), ev

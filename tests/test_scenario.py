"""Scenario files: defaults, shipped scenarios, round trip, overrides, one-line errors, CLI, schema."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from sim.cli import main
from sim.errors import UserInputError
from sim.scenario import (
    NYSE_HOLIDAYS_2020_2027,
    SCHEMA_PATH,
    DepegEvent,
    Scenario,
    apply_overrides,
    dump_scenario,
    load_scenario,
    parse_duration,
    scenario_from_dict,
    scenario_json_schema,
)
from sim.study.spec import is_study_file

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [p for p in sorted((ROOT / "scenarios").glob("*.yaml")) if not is_study_file(p)] + [
    ROOT / "tests" / "data" / "tiny.yaml"]             # scenarios/study.yaml is a study


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- defaults --------------------------------------------------------------------------------


def test_defaults_match_the_design():
    s = Scenario(name="x")
    assert (s.description, s.seed) == ("", 0)
    assert s.clock.start == datetime(2025, 7, 7, tzinfo=UTC)
    assert (s.clock.days, s.clock.step_minutes, s.clock.burn_in_days) == (90, 60, 7)
    assert (s.n_steps, s.burn_in_steps) == (2160, 168)
    assert s.dt_years == pytest.approx(60 / (365.25 * 1440))

    btc, eth, tsla, nvda = (s.assets[k] for k in ("BTC", "ETH", "TSLA", "NVDA"))
    assert list(s.assets) == ["BTC", "ETH", "TSLA", "NVDA"]
    assert (btc.kind, btc.price, btc.sigma, btc.mu) == ("crypto", 108000, 0.55, 0)
    assert (btc.jump_intensity, btc.jump_mean, btc.jump_sd) == (4, -0.05, 0.08)
    assert (eth.kind, eth.price, eth.sigma, eth.jump_intensity) == ("crypto", 2500, 0.75, 0)
    assert (tsla.kind, tsla.price, tsla.sigma) == ("stock", 315, 0.60)
    assert (nvda.kind, nvda.price, nvda.sigma) == ("stock", 160, 0.50)
    np.testing.assert_array_equal(
        s.correlation_matrix(),
        [[1, 0.8, 0.45, 0.45], [0.8, 1, 0.45, 0.45], [0.45, 0.45, 1, 0.45], [0.45, 0.45, 0.45, 1]],
    )
    assert s.price_file is None and s.events == []

    assert {k: t.underlying for k, t in s.tokens.items()} == {"TSLA.M": "TSLA", "NVDA.M": "NVDA"}
    tok = s.tokens["TSLA.M"]
    assert (tok.backing, tok.haircut, tok.amm.reserve_usd, tok.amm.fee) == (1.0, 0.25, 2e6, 0.003)
    assert (tok.issuer.mint_fee, tok.issuer.redeem_fee, tok.issuer.daily_capacity_usd) == (
        0.001, 0.001, 5e6,
    )  # fmt: skip

    assert list(s.markets) == ["TSLA.M", "NVDA.M"]
    m = s.markets["TSLA.M"]
    assert (m.underlyings, m.funding_period_days, m.oracle, m.twap_steps) == (
        ["BTC", "ETH"], 1.0, "guarded", 4,
    )  # fmt: skip
    assert m.safe_mode_deviation == 0.10
    assert m.strikes == [-0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2] and m.include_perpetual
    assert (m.base_spread, m.skew, m.perp_spread, m.vol_premium) == (0.005, 0.02, 0.0005, 0.10)
    assert (m.vol_halflife_days, m.notional_fee, m.lp_share) == (7.0, 0.0005, 0.7)
    assert (m.max_utilization, m.max_net_delta_fraction, m.oi_cap_usd) == (0.8, 0.30, 5e7)
    assert m.pool_stress_moves == [-0.2, -0.1, -0.05, 0.05, 0.1, 0.2] and m.haircut is None
    assert m.margin is None          # margined in the token it is named after
    mg = m.requirements
    assert (mg.long_initial, mg.short_initial, mg.long_maint, mg.short_maint, mg.floor) == (
        0.15, 0.33, 0.10, 0.25, 0.01,
    )  # fmt: skip
    assert mg.stress_crypto_moves == [-0.15, 0.0, 0.15]
    assert mg.stress_token_moves == [0.0, -0.10, -0.25]
    assert (mg.stress_initial_mult, mg.stress_maint_mult) == (1.5, 1.0)
    lq = m.liquidation
    assert (lq.close_factor, lq.full_close_below, lq.penalty_ratio, lq.keeper_share) == (
        0.5, 0.95, 0.05, 0.5,
    )  # fmt: skip
    assert s.haircut_of("TSLA.M") == 0.25

    p = s.pool
    assert (p.initial_usd, p.cooldown_days, p.withdrawal_fee, p.hedge, p.hedge_cost_bps) == (
        2e6, 3, 0.003, "none", 2.0,
    )  # fmt: skip
    assert (s.insurance.initial, s.insurance.denomination) == (0.02, "token")

    a = s.agents
    counts = (a.liquidity_providers, a.traders, a.market_makers, a.arbitrageurs)
    assert counts == (100, 800, 5, 3)
    assert (a.lp.wealth_pareto_alpha, a.lp.wealth_min_usd, a.lp.herding) == (1.5, 20000, 2.0)
    assert (a.lp.panic_prob, a.lp.apy_window_days, a.lp.exit_sell_fraction) == (0.2, 30, 0.5)
    assert a.trader.styles == {
        "momentum": 0.3, "mean_reversion": 0.25, "volatility": 0.2, "noise": 0.35,
    }  # fmt: skip
    assert (a.trader.leverage_fraction_median, a.trader.exit_sell_fraction) == (0.45, 1.0)
    assert (a.trader.wealth_max_usd, a.lp.wealth_max_usd) == (1e5, 4e5)
    assert (a.holders.combination_share, a.holders.combination_lp_fraction) == (0.1, 0.5)
    assert (a.market_maker.capital_usd, a.market_maker.fee_window_days) == (2e6, 7)
    assert (a.arbitrageur.capital_usd, a.arbitrageur.act_rate_per_day) == (1e6, 24)
    assert a.arbitrageur.keeper is True

    arr = s.arrivals
    assert (arr.traders.p, arr.traders.q, arr.traders.potential) == (0.5, 2.0, 3000)
    lp = arr.liquidity_providers
    assert (lp.p, lp.q, lp.potential) == (0.3, 1.0, 300)
    assert (arr.capacity_ref_usd, arr.margin_ref_usd, arr.spread_ref) == (1e6, 5e5, 0.01)
    assert (arr.e_capacity, arr.e_margin, arr.e_spread) == (0.25, 0.25, 0.5)


def test_default_holidays_are_nyse_weekday_closures_2020_to_2027():
    holidays = Scenario(name="x").clock.holidays
    assert holidays == NYSE_HOLIDAYS_2020_2027
    assert all(d.weekday() < 5 for d in holidays)
    assert date(2025, 7, 4) in holidays and date(2026, 7, 3) in holidays  # observed
    assert date(2027, 12, 24) in holidays and date(2025, 12, 26) not in holidays
    assert sum(d.year == 2025 for d in holidays) == 11  # 10 regular + 9 Jan 2025 mourning


def test_defaults_of_each_model_are_independent_copies():
    a, b = Scenario(name="a"), Scenario(name="b")
    a.assets["XRP"] = a.assets["BTC"]  # dicts stay mutable; defaults must not be shared
    assert "XRP" not in b.assets and "XRP" not in Scenario(name="c").assets


# --- shipped scenarios -----------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_scenario_validates(path):
    s = load_scenario(path)
    assert s.name == path.stem
    assert s.description.strip()


def test_usdc_control_is_the_margin_twin_of_the_baseline_written_out():
    from sim.twins import margin_twin

    base = load_scenario(ROOT / "scenarios" / "baseline.yaml")
    control = load_scenario(ROOT / "scenarios" / "usdc_control.yaml")
    a = base.agents
    assert 950 <= a.liquidity_providers + a.traders + a.market_makers + a.arbitrageurs <= 1050
    assert list(base.markets) == ["TSLA.M", "NVDA.M"] and base.events == []
    assert (base.clock.days, base.clock.step_minutes) == (90, 60)
    assert list(control.markets) == ["TSLA.M", "NVDA.M"]
    assert all(control.margin_of(m) == "USDC" and control.haircut_of(m) == 0.0 for m in control.markets)
    same = {"name", "description"}
    assert margin_twin(base).model_dump(exclude=same) == control.model_dump(exclude=same)


def test_depeg_scenario_fires_on_a_friday_evening_after_the_close():
    s = load_scenario(ROOT / "scenarios" / "depeg.yaml")
    (ev,) = s.events
    assert isinstance(ev, DepegEvent)
    assert (ev.token, ev.backing, ev.halt_redemptions, ev.duration) == ("TSLA.M", 0.85, True, "3d")
    when = s.clock.start + timedelta(minutes=s.event_step(ev) * s.clock.step_minutes)
    assert when.weekday() == 4 and when.hour >= 21  # Friday, after 16:00 New York (20:00 UTC)
    assert 29 <= (when - s.clock.start).days <= 33


def test_tiny_is_small_and_short():
    s = load_scenario(ROOT / "tests" / "data" / "tiny.yaml")
    a = s.agents
    assert a.liquidity_providers + a.traders + a.market_makers + a.arbitrageurs <= 60
    assert s.n_steps == 72 and s.burn_in_steps == 12
    # A partial Bass mapping keeps its own field's other defaults.
    assert (s.arrivals.liquidity_providers.p, s.arrivals.liquidity_providers.potential) == (0.3, 20)


# --- dump and load ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_dump_then_load_gives_an_equal_scenario(path, tmp_path):
    s = load_scenario(path)
    text = dump_scenario(s)
    again = load_scenario(write(tmp_path, text))
    assert again == s
    assert dump_scenario(again) == text
    assert "burn_in_days" in text and "stress_token_moves" in text  # defaults are spelled out


def test_round_trip_keeps_events_price_file_and_overrides(tmp_path):
    prices = write(tmp_path, "time,BTC\n2025-07-07T00:00:00Z,108000\n", "prices.csv")
    s = scenario_from_dict(
        {
            "name": "rt",
            "clock": {"start": datetime(2025, 7, 7, 2)},  # naive: read as UTC
            "price_file": {"path": str(prices)},
            "correlations": {"ETH/BTC": 0.7},
            "events": [
                {"kind": "depeg", "token": "TSLA.M", "at": "day 30.5", "backing": 0.9},
                {"kind": "oracle_outage", "token": "NVDA.M", "at": "step 500", "duration": "6h"},
                {"kind": "lp_run", "market": "TSLA.M", "at": "2025-08-20T12:00:00", "fraction": 1},
            ],
        }
    )
    assert s.clock.start.tzinfo is not None and s.clock.start.hour == 2
    assert load_scenario(write(tmp_path, dump_scenario(s))) == s


# --- derived values --------------------------------------------------------------------------


def test_event_steps_and_durations():
    s = scenario_from_dict({"name": "x", "clock": {"step_minutes": 30}})
    pin = {"kind": "pin", "token": "TSLA.M", "size_usd": 1}
    steps = [
        s.event_step(scenario_from_dict({"name": "x", "clock": {"step_minutes": 30},
                                         "events": [{**pin, "at": at}]}).events[0])
        for at in ("day 30", "day 30.5", "step 1000", "2025-08-06T00:10:00Z")
    ]  # fmt: skip
    assert steps == [1440, 1464, 1000, 1441]  # a time between steps fires at the next one
    assert parse_duration("3d") == timedelta(days=3)
    assert parse_duration("12h") == parse_duration("0.5d") == timedelta(hours=12)
    assert parse_duration("1d12h") == timedelta(hours=36)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert s.duration_steps("90m") == 3 and s.duration_steps("1m") == 1
    for bad in ("3", "3 days", "", "-1d", "0h"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_named_correlations_override_the_defaults_symmetrically():
    s = scenario_from_dict({"name": "x", "correlations": {"TSLA/BTC": 0.3, "ETH/BTC": 0.9}})
    c = s.correlation_matrix()
    assert c[2, 0] == c[0, 2] == 0.3 and c[0, 1] == c[1, 0] == 0.9 and c[3, 2] == 0.45
    np.linalg.cholesky(c)


# --- overrides -------------------------------------------------------------------------------


def test_overrides_set_numbers_dotted_keys_lists_and_new_pairs():
    s = scenario_from_dict(
        {"name": "x", "seed": 1},
        overrides=[
            "seed=5",
            "insurance.initial=0.1",
            "tokens.TSLA.M.haircut=0.3",
            "markets.NVDA.M.requirements.long_initial=0.2",
            "markets.TSLA.M.strikes=[-0.1, 0, 0.1]",
            "correlations.BTC/ETH=0.7",
            "markets.TSLA.M.include_perpetual=false",
            "arrivals.liquidity_providers.q=2",
        ],
    )
    assert s.seed == 5 and s.insurance.initial == 0.1
    assert s.tokens["TSLA.M"].haircut == 0.3 and s.tokens["NVDA.M"].haircut == 0.25
    assert s.markets["NVDA.M"].requirements.long_initial == 0.2
    assert s.markets["TSLA.M"].strikes == [-0.1, 0.0, 0.1]
    assert s.markets["TSLA.M"].include_perpetual is False
    assert s.correlation_matrix()[0, 1] == 0.7
    assert (s.arrivals.liquidity_providers.p, s.arrivals.liquidity_providers.q) == (0.3, 2.0)


def test_overrides_reach_into_a_scenario_file_and_accept_a_mapping():
    path = ROOT / "scenarios" / "depeg.yaml"
    s = load_scenario(path, overrides={"events.0.backing": 0.7, "agents.traders": 10})
    assert s.events[0].backing == 0.7 and s.agents.traders == 10
    s = load_scenario(path, overrides=["events.0.at=day 45"])
    assert s.event_step(s.events[0]) == 45 * 24


def test_apply_overrides_returns_a_copy():
    data = {"name": "x", "tokens": {"TSLA.M": {"underlying": "TSLA"}}}
    out = apply_overrides(data, ["tokens.TSLA.M.haircut=0.5"])
    assert out["tokens"]["TSLA.M"]["haircut"] == 0.5
    assert data == {"name": "x", "tokens": {"TSLA.M": {"underlying": "TSLA"}}}


@pytest.mark.parametrize(
    "override, named",
    [
        ("tokens.TSLQ.M.haircut=0.3", "tokens.TSLQ.M.haircut"),
        ("clock.dayz=3", "clock.dayz"),
        ("seed.value=3", "seed.value"),
        ("events.0.at=day 3", "events.0.at"),
        ("tokens.AAPL.M=0.3", "tokens.AAPL.M"),
        ("no_equals_sign", "no_equals_sign"),
    ],
)
def test_an_unknown_override_path_is_an_error_naming_it(override, named):
    with pytest.raises(UserInputError) as err:
        scenario_from_dict({"name": "x"}, source="f.yaml", overrides=[override])
    assert str(err.value).startswith(f"f.yaml: {named}: ")
    assert "\n" not in str(err.value)


def test_an_override_is_validated_like_the_file():
    with pytest.raises(UserInputError, match=r"^f\.yaml: insurance\.initial: .*greater than"):
        scenario_from_dict({"name": "x"}, source="f.yaml", overrides=["insurance.initial=-1"])


# --- one-line errors -------------------------------------------------------------------------

BAD_INPUTS = {
    "malformed YAML": ("name: x\nclock:\n  days: 3\n   step_minutes: 60\n", "line 4"),
    "duplicate key": ("name: x\nseed: 1\nseed: 2\n", "line 3"),
    "unknown key": ("name: x\nclock: {dayz: 3}\n", "clock.dayz: unknown key"),
    "unknown top-level key": ("name: x\nagent: {}\n", "agent: unknown key; did you mean 'agents'"),
    "wrong type": ("name: x\nclock: {days: ninety}\n", "clock.days: "),
    "negative size": (
        "name: x\nevents:\n- {kind: pin, token: TSLA.M, at: day 30, size_usd: -5}\n",
        "events.0.size_usd: ",
    ),
    "NaN": ("name: x\nassets: {BTC: {kind: crypto, price: .nan, sigma: 0.5}}\n", "assets.BTC.price"),
    "infinity": ("name: x\npool: {initial_usd: .inf}\n", "pool.initial_usd"),
    "not positive definite": (
        "name: x\ncorrelations: {BTC/ETH: 0.95, BTC/TSLA: -0.9, ETH/TSLA: 0.9}\n",
        "correlations: the correlation matrix",
    ),
    "event with unknown token": (
        "name: x\nevents:\n- {kind: depeg, token: AAPL.M, at: day 30, backing: 0.9}\n",
        "events.0.token: no token named 'AAPL.M'",
    ),
    "event after the end": (
        "name: x\nevents:\n- {kind: crypto_jump, asset: BTC, at: day 95, size: -0.1}\n",
        "events.0.at: ",
    ),
    "event in the burn-in": (
        "name: x\nevents:\n- {kind: crypto_jump, asset: BTC, at: step 3, size: -0.1}\n",
        "events.0.at: ",
    ),
    "jump of a stock": (
        "name: x\nevents:\n- {kind: crypto_jump, asset: TSLA, at: day 9, size: -0.1}\n",
        "events.0.asset: ",
    ),
    "bad duration": (
        "name: x\nevents:\n- {kind: oracle_outage, token: TSLA.M, at: day 9, duration: 3 days}\n",
        "events.0.duration: ",
    ),
    "unknown event kind": ("name: x\nevents:\n- {kind: meteor, at: day 9}\n", "events.0: "),
    "token backed by crypto": (
        "name: x\ntokens: {TSLA.M: {underlying: BTC}, NVDA.M: {underlying: NVDA}}\n",
        "tokens.TSLA.M.underlying: ",
    ),
    "market on a missing token": (
        "name: x\nmarkets: {AAPL.M: {}}\n",
        "markets.AAPL.M: no token named 'AAPL.M' to margin it in",
    ),
    "margin requirements under their old name": (
        "name: x\nmarkets: {TSLA.M: {margin: {long_initial: 0.2}}}\n",
        "markets.TSLA.M.margin: `margin:` names the margin asset",
    ),
    "market margined in a missing token": (
        "name: x\nmarkets: {TSLA.M: {margin: AAPL.M}}\n",
        "markets.TSLA.M.margin: no token named 'AAPL.M'",
    ),
    "options on a stock": (
        "name: x\nmarkets: {USDC: {underlyings: [TSLA]}}\n",
        "markets.USDC.underlyings: ",
    ),
    "maintenance above initial": (
        "name: x\nmarkets: {USDC: {requirements: {short_maint: 0.4}}}\n",
        "markets.USDC.requirements.short_maint: ",
    ),
    "step not dividing a day": ("name: x\nclock: {step_minutes: 7}\n", "clock.step_minutes: "),
    "burn-in longer than the run": ("name: x\nclock: {days: 5}\n", "clock.burn_in_days: "),
    "bad name": ("name: a/b\n", "name: "),
    "missing name": ("seed: 1\n", "name: required"),
    "unknown style": ("name: x\nagents: {trader: {styles: {yolo: 1}}}\n", "agents.trader.styles"),
    "wealth range": ("name: x\nagents: {trader: {wealth_max_usd: 100}}\n", "agents.trader.wealth_max_usd"),
    "not a mapping": ("- name: x\n", "a scenario is a mapping"),
    "missing price file": ("name: x\nprice_file: {path: nope.csv}\n", "price_file.path: "),
}


@pytest.mark.parametrize("text, expected", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_each_bad_input_gives_one_line_naming_file_and_field(text, expected, tmp_path):
    path = write(tmp_path, text)
    with pytest.raises(UserInputError) as err:
        load_scenario(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_several_problems_are_joined_on_one_line(tmp_path):
    path = write(tmp_path, "name: x\nseed: -1\npool: {initial_usd: 0}\n")
    with pytest.raises(UserInputError) as err:
        load_scenario(path)
    assert "seed: " in str(err.value) and "; pool.initial_usd: " in str(err.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(UserInputError, match=r"nope\.yaml: file not found$"):
        load_scenario(tmp_path / "nope.yaml")


def test_price_file_is_found_next_to_the_scenario(tmp_path, monkeypatch):
    folder = tmp_path / "sc"
    folder.mkdir()
    write(folder, "time,BTC\n", "prices.csv")
    path = write(folder, "name: x\nprice_file: {path: prices.csv}\n")
    monkeypatch.chdir(tmp_path)
    s = load_scenario(path)
    assert Path(s.price_file.path) == folder / "prices.csv"


def test_scenario_is_frozen():
    s = Scenario(name="x")
    with pytest.raises(Exception):
        s.seed = 3
    with pytest.raises(Exception):
        s.clock.days = 3


# --- the CLI ---------------------------------------------------------------------------------


def test_flywheel_validate_prints_ok_for_good_files(capsys):
    paths = [str(ROOT / "scenarios" / "baseline.yaml"), str(ROOT / "tests/data/tiny.yaml")]
    assert main(["validate", *paths, "--set", "seed=3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"OK {p}" for p in paths]


def test_flywheel_validate_rejects_a_bad_file_in_one_line(capsys, tmp_path):
    bad = write(tmp_path, "name: x\ninsurance: {initial: -0.5}\n")
    assert main(["validate", str(bad)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert f"{bad}: insurance.initial: " in lines[0]


def test_flywheel_validate_rejects_a_bad_override(capsys):
    good = str(ROOT / "scenarios" / "baseline.yaml")
    assert main(["validate", good, "--set", "pool.initial=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{good}: pool.initial: unknown path" in err


# --- the schema ------------------------------------------------------------------------------


def test_schema_file_is_up_to_date():
    committed = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert committed == scenario_json_schema(), (
        "sim/schema/scenario.schema.json is stale: run `python -m sim.scenario --write-schema`"
    )


def test_schema_describes_every_field():
    schema = scenario_json_schema()
    missing = [
        f"{name}.{field}"
        for name, model in {"Scenario": schema, **schema["$defs"]}.items()
        for field, prop in model.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert missing == []
    assert schema["properties"]["clock"]["default"]["days"] == 90


def test_shipped_scenarios_load_with_plain_safe_load():
    for path in SHIPPED:
        assert isinstance(yaml.safe_load(path.read_text()), dict)

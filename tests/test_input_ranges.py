"""Every value a scenario accepts is one the run can survive (issue 10): dates within the
calendar, physical ranges for numbers, shocks that keep prices within float limits, booleans
never taken for numbers; each refusal is one line naming the file and the field."""

from __future__ import annotations

import math

import pytest

from sim.cli import main
from sim.errors import UserInputError
from sim.scenario import load_scenario
from sim.scenario._base import MAX_USD, SHOCKED_PRICE_RANGE

BTC = "{kind: crypto, price: 108000, sigma: 0.55}"


def jump(size, at: str = "day 30") -> str:
    return f"- {{kind: crypto_jump, asset: BTC, at: '{at}', size: {size}}}\n"


REFUSED = {
    # impossible dates, unquoted (YAML reads them as dates) and quoted (text for pydantic)
    "month 13": ("clock: {start: 2025-13-01}\n", "line 2, column 16: invalid YAML: '2025-13-01' "
                 "is not a date and time that exists"),
    "30 February as a holiday": ("clock: {holidays: [2025-02-30]}\n", "line 2"),
    "an offset of +25 h": ("clock: {start: 2025-07-07T00:00:00+25:00}\n", "line 2"),
    "an event on 30 February at 01:00": ("events:\n- {kind: crypto_jump, asset: BTC, "
                                         "at: 2025-02-30T01:00:00Z, size: 0.1}\n", "line 3"),
    "month 13, quoted": ("clock: {start: '2025-13-01T00:00:00Z'}\n", "clock.start"),
    "30 February": ("clock: {start: '2025-02-30T00:00:00Z'}\n", "clock.start"),
    "an offset of 25 hours": ("clock: {start: '2025-07-07T00:00:00+25:00'}\n", "clock.start"),
    "an event on 30 February": ("events:\n" + jump(0.1, "2025-02-30T00:00:00Z"), "events.0.at"),
    "a start near year 1": ("clock: {start: '0001-01-02T00:00:00Z'}\n", "clock.start: "),
    "a start near year 9999": ("clock: {start: '9999-12-30T00:00:00Z'}\n", "clock.start: "),
    "a run ending after 2200": ("clock: {start: '2199-12-01T00:00:00Z', days: 90}\n",
                                "clock.days: "),
    # numbers the schema took and the run could not survive
    "a subnormal price": (f"assets: {{BTC: {BTC.replace('108000', '5e-324')}}}\n",
                          "assets.BTC.price"),
    "sigma 1000": (f"assets: {{BTC: {BTC.replace('0.55', '1000')}}}\n", "assets.BTC.sigma"),
    "a pool of 1e308": ("pool: {initial_usd: 1.0e+308}\n", "pool.initial_usd"),
    "an AMM of 1e308": ("tokens: {TSLA.M: {underlying: TSLA, amm: {reserve_usd: 1.0e+308}}}\n",
                        "tokens.TSLA.M.amm.reserve_usd"),
    "a crypto jump of 800": ("events:\n" + jump(800), "events.0.size"),
    "a weekend gap of -800": ("events:\n- {kind: weekend_gap, asset: TSLA, at: day 30, "
                              "size: -800}\n", "events.0.size"),
    "jumps that add up beyond float range": ("events:\n" + jump(5) * 30, "events.0: the shocks "
                                             "of BTC"),
    "an event duration of 1e20 days": (
        "events:\n- {kind: depeg, token: TSLA.M, at: day 30, backing: 0.9, "
        "duration: 100000000000000000000d}\n", "events.0.duration"),
    "an event at day 1e400": ("events:\n" + jump(0.1, "day " + "9" * 400), "events.0.at"),
    "insurance of 1e300 pools": ("insurance: {initial: 1.0e+300}\n", "insurance.initial"),
    "a spread that makes the bid negative": ("markets: {TSLA.M: {skew: 0.2}, NVDA.M: {}}\n",
                                             "markets.TSLA.M.skew"),
    "a market without options": ("markets: {TSLA.M: {strikes: []}, NVDA.M: {}}\n",
                                 "markets.TSLA.M.strikes"),
    "a subnormal volatility": (f"assets: {{BTC: {BTC.replace('0.55', '5e-324')}}}\n",
                               "assets.BTC.sigma"),
    "a subnormal depth reference": ("arrivals: {depth_ref_usd: 5e-324}\n",
                                    "arrivals.depth_ref_usd"),
    "a backing of 1e-300": ("tokens: {TSLA.M: {underlying: TSLA, backing: 1.0e-300}}\n",
                            "tokens.TSLA.M.backing"),
    # booleans are not numbers
    "true as an agent count": ("agents: {traders: true}\n", "agents.traders: true is a boolean"),
    "false as a seed": ("seed: false\n", "seed: false is a boolean"),
    "true as a correlation": ("correlations: {BTC/ETH: true}\n", "correlations.BTC/ETH"),
    "true as a strike": ("markets: {TSLA.M: {strikes: [0.1, true]}, NVDA.M: {}}\n",
                         "markets.TSLA.M.strikes.1"),
    "true as an event size": ("events:\n" + jump("true"), "events.0.size: true is a boolean"),
    # names and seeds that outgrow a folder or an int64
    "a 300-character name": ("name: " + "n" * 300 + "\n", "name: "),
    "a seed beyond int64": (f"seed: {2**63}\n", "seed: "),
}


@pytest.mark.parametrize("text, field", REFUSED.values(), ids=REFUSED.keys())
def test_each_value_the_run_cannot_survive_is_refused_in_one_line(tmp_path, text, field):
    path = tmp_path / "s.yaml"
    path.write_text(("" if text.startswith("name:") else "name: x\n") + text)
    with pytest.raises(UserInputError) as err:
        load_scenario(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    assert field in message, message


@pytest.mark.parametrize("case", ["a start near year 1", "a subnormal price",
                                  "a crypto jump of 800", "true as an agent count",
                                  "an event at day 1e400"])
def test_flywheel_run_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, case):
    text, field = REFUSED[case]
    path = tmp_path / "s.yaml"
    path.write_text("name: x\n" + text)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and field in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_the_edges_of_the_ranges_are_accepted(tmp_path):
    """1900-01-01, a trillion USD, and jumps of +-5 that keep BTC within the shocked range."""
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nclock: {start: 1900-01-01, days: 30}\n"
                    f"pool: {{initial_usd: {MAX_USD:.1e}}}\n"
                    "events:\n" + jump(5, "day 10") + jump(-5, "day 11") + jump(5, "day 12"))
    scenario = load_scenario(path)
    assert scenario.pool.initial_usd == MAX_USD and len(scenario.events) == 3
    assert 108000 * math.exp(10) < SHOCKED_PRICE_RANGE[1]


def test_an_integer_float_is_still_a_count_and_a_number_still_a_boolean(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nagents: {traders: 12.0}\nmarkets: {TSLA.M: {include_perpetual: "
                    "false}, NVDA.M: {}}\n")
    scenario = load_scenario(path)
    assert scenario.agents.traders == 12 and not scenario.markets["TSLA.M"].include_perpetual

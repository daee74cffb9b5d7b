"""The dashboard's model (sim.live): controls become the scenario the CLI would run, a mistake
becomes one line on the page, and a live run shows the same numbers as ``flywheel run``."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.charts import CHART_FILES
from sim.live import (
    Controls,
    LiveModel,
    control_specs,
    events_digest,
    scenario_of,
    shock_label,
)
from sim.model import FlywheelModel
from sim.run import summary_rows
from sim.twins import margin_twin
from tests.tiny import TINY, jump, tiny


@pytest.fixture
def shocked(tmp_path: Path) -> Path:
    """tiny.yaml with three shocks."""
    data = yaml.safe_load(TINY.read_text())
    data["events"] = [jump("BTC", 1.0), jump("ETH", 1.5, -0.2),
                      {"kind": "depeg", "token": "TSLA.M", "at": "day 2", "backing": 0.9}]
    path = tmp_path / "shocked.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_untouched_controls_give_the_file_and_its_seed():
    scenario, seed = scenario_of(Controls(str(TINY)))
    assert scenario == tiny()
    assert seed == tiny().seed


def test_each_control_changes_its_field_only(shocked: Path):
    base, _ = scenario_of(Controls(str(shocked)))
    scenario, seed = scenario_of(Controls(str(shocked), seed="7", insurance_initial="0.1",
                                          denomination="usdc", oracle="nav", shocks_off=(0, 2)))
    assert seed == 7
    assert scenario.insurance.initial == 0.1 and scenario.insurance.denomination == "usdc"
    assert {m.oracle for m in scenario.markets.values()} == {"nav"}
    assert scenario.events == [base.events[1]]
    assert scenario.model_dump(exclude={"insurance", "markets", "events"}) == \
        base.model_dump(exclude={"insurance", "markets", "events"})


def test_margin_off_is_the_margin_twin():
    scenario, _ = scenario_of(Controls(str(TINY), stock_margin=False))
    assert scenario == margin_twin(tiny())
    assert {m.margin for m in scenario.markets.values()} == {"USDC"}


@pytest.mark.parametrize("controls, message", [
    (dict(scenario="no/such.yaml"), "no/such.yaml: file not found"),
    (dict(insurance_initial="7"), "insurance.initial: must be from 0 to 1"),
    (dict(insurance_initial="-0.1"), "insurance.initial: must be from 0 to 1"),
    (dict(insurance_initial="nan"), "insurance.initial: must be a finite number"),
    (dict(insurance_initial="lots"), "insurance.initial: not a number: 'lots'"),
    (dict(seed="-1"), "seed: must be from 0 to 2^63 - 1, got -1"),
    (dict(seed="1.5"), "seed: must be a whole number"),
    (dict(seed=str(2**63)), "seed: must be from 0 to 2^63 - 1"),
    (dict(events_digest="0123456789ab"), "its shocks changed since it was loaded; press Load"),
    (dict(denomination="gold"), "insurance.denomination"),
    (dict(oracle="twap"), "markets.TSLA.M.oracle"),
    (dict(shock_0=False), "shocks: no shock 0"),
    (dict(speed=3), "speed: not a control of the dashboard"),
])
def test_a_mistake_is_one_line_and_a_model_that_does_nothing(controls, message):
    kwargs = {"scenario_file": str(TINY), **controls}
    if "scenario" in kwargs:
        kwargs["scenario_file"] = kwargs.pop("scenario")
    model = LiveModel(**kwargs)
    assert model.error is not None and message in model.error
    assert "\n" not in model.error and "Traceback" not in model.error
    assert model.run is None and not model.running
    model.step()                                   # what Play or Step would call: nothing
    assert model.headline_rows() == []


def test_a_step_is_a_day_and_the_run_ends_where_it_should():
    model = LiveModel(scenario_file=str(TINY))
    assert model.error is None and model.running and model.steps_per_day == 24
    model.step()
    assert model.steps_done == 24
    while model.running:
        model.step()
    assert model.steps_done == model.run.n_steps == 72
    model.step()
    assert model.steps_done == 72


def test_the_live_run_is_the_run_flywheel_run_makes(shocked: Path):
    live = LiveModel(scenario_file=str(shocked), seed="5", insurance_initial="0.05", shock_1=False)
    for _ in range(2):
        live.step()
    scenario, _ = scenario_of(Controls(str(shocked), insurance_initial=0.05, shocks_off=(1,)))
    plain = FlywheelModel(scenario, rng=5)
    for _ in range(48):
        plain.step()
    pd.testing.assert_frame_equal(live.view()[0], plain.timeseries())


def test_the_table_leads_with_the_insurance_balance_and_follows_with_the_summary():
    small = LiveModel(scenario_file=str(TINY), insurance_initial="0.01")
    large = LiveModel(scenario_file=str(TINY), insurance_initial="0.05")
    def insurance(model: LiveModel) -> np.ndarray:
        rows = dict(model.headline_rows())
        return np.array([float(rows[f"insurance [{m}]"].removesuffix(" USD").replace(",", ""))
                         for m in model.run.markets])
    # before any step: the seed, 1% and 5% of each market's initial main pool
    np.testing.assert_allclose(insurance(large), 5 * insurance(small), rtol=1e-3)
    # pool.initial_usd is per market
    assert insurance(small) == pytest.approx([0.01 * 2e5] * 2, rel=1e-3)
    large.step()
    rows = large.headline_rows()
    assert rows[0][0] == "simulated time" and "step 24 of 72" in rows[0][1]
    assert rows[3:] == summary_rows(large.run.summary())
    ts = large.view()[0]
    for m in large.run.markets:
        assert dict(rows)[f"insurance [{m}]"] == f"{ts[f'insurance_usd[{m}]'].iloc[-1]:,.0f} USD"


def test_the_four_charts_are_the_run_charts_and_are_redrawn_after_a_step():
    model = LiveModel(scenario_file=str(TINY))
    with pytest.raises(ValueError, match="no step"):
        model.charts()
    model.step()
    first = model.charts()
    assert list(first) == list(CHART_FILES)
    assert all(png.startswith(b"\x89PNG") and len(png) > 10_000 for png in first.values())
    assert model.charts() is first                  # drawn once, by step()
    model.step()
    assert all(model.charts()[name] != first[name] for name in CHART_FILES)


def test_a_seed_is_read_exactly_and_the_untouched_controls_are_the_file():
    assert scenario_of(Controls(str(TINY), seed="9007199254740993"))[1] == 9007199254740993
    scenario = tiny({"insurance.initial": 0.0123456789})
    specs = control_specs(str(TINY), scenario)
    values = {name: (spec["value"] if isinstance(spec, dict) else spec)
              for name, spec in specs.items() if name != "scenario_file"}
    assert float(values["insurance_initial"]) == 0.0123456789   # not rounded for display
    assert values["events_digest"] == events_digest(scenario)


def test_a_scenario_that_loads_but_cannot_run_alone_is_one_line(tmp_path: Path):
    data = yaml.safe_load(TINY.read_text())
    data["impulse"] = {"fraction": 0.1, "at": "day 1", "freeze_quality": True}
    path = tmp_path / "frozen.yaml"
    path.write_text(yaml.safe_dump(data))
    model = LiveModel(scenario_file=str(path))
    assert model.error is not None and "freeze_quality" in model.error
    assert "\n" not in model.error and not model.running


def test_the_page_reads_a_snapshot_while_another_thread_steps():
    """Mesa's play loop steps in a thread while the page renders: every read is whole."""
    model = LiveModel(scenario_file=str(TINY))
    errors: list[BaseException] = []

    def play() -> None:
        try:
            while model.running:
                model.step()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    player = threading.Thread(target=play)
    player.start()
    seen = set()
    while player.is_alive():
        rows, snap = model.headline_rows(), model.snapshot
        seen.add(snap.steps_done)
        assert snap.steps_done % 24 == 0                     # never half a day
        if snap.timeseries is not None:
            assert len(snap.timeseries) == snap.steps_done
            assert f"step {snap.steps_done} of 72" in rows[0][1]
            model.charts()
        time.sleep(0.002)          # a render now and then, not a busy loop holding the GIL
    player.join()
    assert not errors and model.steps_done == 72 and 0 in seen


def test_shock_labels_name_kind_target_time_and_size(shocked: Path):
    events = scenario_of(Controls(str(shocked)))[0].events
    assert [shock_label(e) for e in events] == [
        "crypto_jump BTC at day 1.0 (log move -0.1)", "crypto_jump ETH at day 1.5 (log move -0.2)",
        "depeg TSLA.M at day 2 (backing 0.9)"]



"""sim.run and sim.results_io: a run end to end (the real model on tests/data/tiny.yaml), stored
atomically, resumed, reproducible byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

import sim.results_io as rio
from sim import run as run_mod
from sim.cli import main
from sim.errors import UserInputError
from sim.metrics import MarketSummary, RunSummary
from sim.model import FlywheelModel
from sim.scenario import Scenario, dump_scenario, load_scenario
from tests.tiny import TINY, FailingModel, jump, tiny

RUN_FILES = {"scenario.resolved.yaml", "timeseries.parquet", "events.parquet", "summary.json",
             "run_info.json"}
CHARTS = {"prices.png", "pools.png", "flywheel.png", "risk.png"}


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return tiny()


class CountingFactory:
    """A model factory that counts the models it builds (and can make them fail)."""

    def __init__(self, fail_at_step=None):
        self.calls = 0
        self.fail_at_step = fail_at_step

    def __call__(self, scenario, rng=None):
        self.calls += 1
        if self.fail_at_step is None:
            return FlywheelModel(scenario, rng)
        return FailingModel(scenario, rng, fail_at_step=self.fail_at_step)


def refuse_model(scenario, rng=None):
    raise AssertionError("the model was built although the run is stored")


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


# ------------------------------------------------------------------ run and its files


def test_run_without_out_returns_the_models_frames_and_stores_nothing(tmp_path):
    scenario = tiny({"events": [jump("BTC", 1.5)]})
    result = run_mod.run(scenario)
    assert result.path is None and not result.reused
    assert len(result.timeseries) == scenario.n_steps
    assert (result.events["kind"] == "shock").sum() == 1
    assert result.summary["seed"] == scenario.seed
    assert result.info["run_key"] == run_mod.run_key(scenario, scenario.seed)
    assert result.summary["steps"] == scenario.n_steps


def test_the_summary_is_the_models_summary_with_the_schemas_keys(scenario):
    """summary.json holds sim.metrics.summary as it is: the keys of RunSummary, per market
    the keys of MarketSummary, nothing else (wall time and versions live in run_info.json)."""
    result = run_mod.run(scenario, seed=3)
    model = FlywheelModel(scenario, rng=3)
    model.run_for(model.n_steps)
    assert result.summary == rio.to_jsonable(model.summary())
    assert set(result.summary) == set(RunSummary.__annotations__)
    for market in result.summary["markets"].values():
        assert set(market) == set(MarketSummary.__annotations__)
    assert set(result.info) == {"run_key", "wall_time_s", "versions"}


def test_run_with_out_writes_the_results_layout(scenario, tmp_path):
    result = run_mod.run(scenario, seed=11, out=tmp_path)
    key = run_mod.run_key(scenario, 11)
    assert result.path == tmp_path / scenario.name / key
    assert files_under(result.path) == RUN_FILES | {f"charts/{c}" for c in CHARTS}
    summary = json.loads((result.path / "summary.json").read_text())
    assert summary["seed"] == 11 and summary["scenario"] == "tiny"
    info = json.loads((result.path / "run_info.json").read_text())
    assert info["run_key"] == key and info["wall_time_s"] >= 0
    assert set(info["versions"]) >= {"flywheel-sim", "code", "mesa", "numpy", "python"}
    resolved = (result.path / "scenario.resolved.yaml").read_text()
    assert resolved.endswith(dump_scenario(scenario)) and "seed 11" in resolved
    assert load_scenario(result.path / "scenario.resolved.yaml") == scenario


def test_no_charts_writes_no_charts_folder(scenario, tmp_path):
    result = run_mod.run(scenario, out=tmp_path, charts=False)
    assert files_under(result.path) == RUN_FILES


def test_stored_run_reads_back_equal(scenario, tmp_path):
    result = run_mod.run(scenario, out=tmp_path, charts=False)
    loaded = run_mod.load_run(result.path)
    pd.testing.assert_frame_equal(loaded.timeseries, result.timeseries, check_dtype=False)
    pd.testing.assert_frame_equal(loaded.events, result.events, check_dtype=False)
    assert loaded.summary == result.summary and loaded.info == result.info
    assert loaded.reused


def test_progress_bar_counts_simulated_days(scenario, capsys):
    run_mod.run(scenario, progress=True)
    err = capsys.readouterr().err
    assert "day 3.0/3.0" in err


# ------------------------------------------------------------------ atomicity


def test_a_model_that_fails_mid_run_leaves_no_files(scenario, tmp_path):
    with pytest.raises(RuntimeError, match="failure at step 30"):
        run_mod.run(scenario, out=tmp_path, model_factory=CountingFactory(fail_at_step=30))
    assert files_under(tmp_path) == set()


def test_a_failure_while_writing_leaves_no_final_and_no_temp_files(scenario, tmp_path, monkeypatch):
    real_write_table = rio.pq.write_table
    calls = []

    def write_half_then_fail(table, where, **options):
        calls.append(where)
        if len(calls) == 2:  # events.parquet: a half-written file, then the disk fails
            Path(where).write_bytes(b"PAR1 half a file")
            raise OSError("disk full")
        return real_write_table(table, where, **options)

    monkeypatch.setattr(rio.pq, "write_table", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        run_mod.run(scenario, out=tmp_path, charts=False)
    assert len(calls) == 2
    assert files_under(tmp_path) == set()  # neither final names nor temporary ones


def test_a_failure_writing_the_summary_removes_the_files_written_before(scenario, tmp_path,
                                                                         monkeypatch):  # fmt: skip
    def fail(path, data):
        raise OSError("no space left")

    monkeypatch.setattr(rio, "write_json", fail)
    with pytest.raises(OSError):
        run_mod.run(scenario, out=tmp_path)
    assert files_under(tmp_path) == set()


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "a.txt"
    rio.write_text(target, "old")
    with pytest.raises(ValueError), rio.atomic_path(target) as tmp:
        tmp.write_text("new, half")
        raise ValueError("interrupted")
    assert target.read_text() == "old"
    assert files_under(tmp_path) == {"a.txt"}


# ------------------------------------------------------------------ resume


def test_a_stored_run_is_loaded_not_recomputed(scenario, tmp_path, capsys):
    factory = CountingFactory()
    first = run_mod.run(scenario, seed=3, out=tmp_path, charts=False, model_factory=factory)
    assert factory.calls == 1
    second = run_mod.run(scenario, seed=3, out=tmp_path, progress=True, charts=False,
                         model_factory=refuse_model)  # fmt: skip
    assert second.reused and second.path == first.path
    assert second.summary == first.summary
    pd.testing.assert_frame_equal(second.timeseries, first.timeseries, check_dtype=False)
    assert "already stored" in capsys.readouterr().err


def test_another_seed_is_a_new_run(scenario, tmp_path):
    factory = CountingFactory()
    a = run_mod.run(scenario, seed=3, out=tmp_path, charts=False, model_factory=factory)
    b = run_mod.run(scenario, seed=4, out=tmp_path, charts=False, model_factory=factory)
    assert factory.calls == 2 and a.path != b.path


def test_a_folder_without_summary_is_recomputed(scenario, tmp_path):
    factory = CountingFactory()
    first = run_mod.run(scenario, out=tmp_path, charts=False, model_factory=factory)
    (first.path / "summary.json").unlink()  # as if killed before the last write
    again = run_mod.run(scenario, out=tmp_path, charts=False, model_factory=factory)
    assert factory.calls == 2 and not again.reused
    assert (first.path / "summary.json").is_file()


def test_a_stored_run_without_charts_gets_them_when_asked(scenario, tmp_path):
    first = run_mod.run(scenario, out=tmp_path, charts=False)
    run_mod.run(scenario, out=tmp_path, charts=True, model_factory=refuse_model)
    assert files_under(first.path / "charts") == CHARTS


# ------------------------------------------------------------------ reproducibility


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_scenario_and_seed_give_byte_identical_results(scenario, tmp_path):
    """Two computations of a run: the same bytes in every file but run_info.json."""
    a = run_mod.run(scenario, seed=5, out=tmp_path / "a", charts=False)
    b = run_mod.run(scenario, seed=5, out=tmp_path / "b", charts=False)
    assert len(a.timeseries) == scenario.n_steps
    for name in ("timeseries.parquet", "events.parquet", "scenario.resolved.yaml", "summary.json"):
        assert sha(a.path / name) == sha(b.path / name), name
    assert a.summary == b.summary


def test_another_seed_gives_other_bytes(scenario, tmp_path):
    a = run_mod.run(scenario, seed=5, out=tmp_path, charts=False)
    b = run_mod.run(scenario, seed=6, out=tmp_path, charts=False)
    assert sha(a.path / "timeseries.parquet") != sha(b.path / "timeseries.parquet")


def test_writing_one_frame_twice_gives_identical_bytes(scenario, tmp_path):
    ts = run_mod.run(scenario).timeseries
    rio.write_parquet(tmp_path / "1.parquet", ts)
    rio.write_parquet(tmp_path / "2.parquet", ts.copy())
    assert sha(tmp_path / "1.parquet") == sha(tmp_path / "2.parquet")
    assert (tmp_path / "1.parquet").read_bytes()[:4] == b"PAR1"


def test_summary_json_is_plain_json():
    import numpy as np

    data = {"a": np.float64(1.5), "b": np.int64(2), "c": float("nan"), "d": np.bool_(True),
            "e": pd.Timestamp("2025-07-07", tz="UTC"), "f": {"x": np.array([1, 2])}}  # fmt: skip
    expected = {"a": 1.5, "b": 2, "c": None, "d": True, "e": "2025-07-07T00:00:00+00:00",
                "f": {"x": [1, 2]}}  # fmt: skip
    assert rio.to_jsonable(data) == expected


# ------------------------------------------------------------------ run key


def test_run_key_is_12_hex_and_stable(scenario):
    key = run_mod.run_key(scenario, 1)
    assert len(key) == 12 and int(key, 16) >= 0
    assert run_mod.run_key(load_scenario(TINY), 1) == key
    # naming a default explicitly is the same scenario, so the same run
    assert run_mod.run_key(load_scenario(TINY, ["clock.step_minutes=60"]), 1) == key


def test_run_key_changes_with_the_seed(scenario):
    keys = {run_mod.run_key(scenario, seed) for seed in range(20)}
    assert len(keys) == 20


KEY_OVERRIDES = {  # top-level field -> an override that changes it
    "name": "name=other",
    "description": "description=another question",
    "seed": "seed=2",
    "clock": "clock.days=4",
    "assets": "assets.BTC.sigma=0.6",
    "correlations": "correlations.BTC/ETH=0.7",
    "price_file": "price_file={path: prices.csv}",
    "price_files": "price_files={BTC: {path: prices.csv}}",
    "tokens": "tokens.TSLA.M.haircut=0.3",
    "markets": "markets.TSLA.M.oracle=amm_spot",
    "pool": "pool.initial_usd=3e5",
    "insurance": "insurance.initial=0.05",
    "agents": "agents.traders=25",
    "arrivals": "arrivals.traders.potential=120",
    "events": "events=[{kind: crypto_jump, asset: BTC, at: day 2, size: -0.15}]",
    "twin": "twin.potential_ratio=2",
    "impulse": "impulse={fraction: 0.1, at: day 2}",
}


@pytest.mark.parametrize("field", sorted(KEY_OVERRIDES))
def test_run_key_changes_with_any_scenario_field(scenario, field, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prices.csv").write_text("time,BTC\n2025-07-07T00:00:00Z,108000\n")
    changed = load_scenario(TINY, [KEY_OVERRIDES[field]])     # every override must be accepted
    assert getattr(changed, field) != getattr(scenario, field)
    assert run_mod.run_key(changed, 1) != run_mod.run_key(scenario, 1)


def test_the_key_test_covers_every_scenario_field():
    assert set(KEY_OVERRIDES) == set(Scenario.model_fields)


# ------------------------------------------------------------------ load_run and the CLI


def test_load_run_names_what_is_missing(tmp_path):
    with pytest.raises(UserInputError, match="no such results folder"):
        run_mod.load_run(tmp_path / "nope")
    with pytest.raises(UserInputError, match="no summary.json"):
        run_mod.load_run(tmp_path)
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(UserInputError, match="no run_info.json"):
        run_mod.load_run(tmp_path)


def test_summary_table_shows_headline_values_per_market_with_units(scenario):
    summary = run_mod.run(scenario).summary
    summary["days_simulated"], summary["option_volume_usd"] = 90.0, 1.25e7
    summary["conservation_max_error"] = 3e-15
    summary["markets"]["TSLA.M"]["lp_return_mw_token"] = -0.0123
    summary["markets"]["NVDA.M"]["lp_return_mw_token"] = 0.05
    summary["markets"]["NVDA.M"]["insurance_depleted_day"] = 2.5
    summary["markets"]["TSLA.M"]["insurance_depleted_day"] = None
    for m in summary["markets"].values():       # the same in both markets: shown once
        m["lp_return_mw_usd"] = 0.01
    lines = run_mod.format_summary_table(summary).splitlines()
    assert "days simulated" in lines[0] and "90.0 days" in lines[0]
    assert any("option volume" in ln and "12,500,000 USD" in ln for ln in lines)
    assert any("LP money-weighted return in token [TSLA.M]" in ln and "-1.23 %" in ln for ln in lines)
    assert any("LP money-weighted return in token [NVDA.M]" in ln and "+5.00 %" in ln for ln in lines)
    assert not any("LP money-weighted return in USD [" in ln for ln in lines)
    assert any("insurance depleted on [NVDA.M]" in ln and "day 2.5" in ln for ln in lines)
    assert not any("insurance depleted on [TSLA.M]" in ln for ln in lines)
    assert any("3.00e-15" in ln for ln in lines)
    rows = run_mod.summary_rows(summary)
    assert len(rows) == len(lines)
    value_columns = {ln.index(value, len(label) + 2) for (label, value), ln in zip(rows, lines)}
    assert len(value_columns) == 1  # values aligned in one column


def test_flywheel_run_prints_the_summary_table_and_returns_0(scenario, tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["run", str(TINY), "--seed", "9", "--out", str(out), "--quiet", "--no-charts"])
    assert code == 0
    printed = capsys.readouterr().out
    key = run_mod.run_key(scenario, 9)
    assert f"run {key}" in printed and "computed in" in printed
    for label in ("days simulated", "steps", "active users at end", "option volume",
                  "LP money-weighted return in token [TSLA.M]", "bad debt", "conservation error"):  # fmt: skip
        assert label in printed
    assert f"results: {out / 'tiny' / key}" in printed
    assert (out / "tiny" / key / "summary.json").is_file()

    assert main(["run", str(TINY), "--seed", "9", "--out", str(out), "--quiet", "--no-charts"]) == 0
    assert "stored earlier, not recomputed" in capsys.readouterr().out


def test_flywheel_run_applies_overrides(tmp_path, capsys):
    code = main(["run", str(TINY), "--set", "clock.days=2", "--out", str(tmp_path), "--quiet",
                 "--no-charts"])  # fmt: skip
    assert code == 0
    assert "2.0 days" in capsys.readouterr().out


def test_flywheel_run_with_a_bad_override_exits_2_with_one_line(tmp_path, capsys):
    assert main(["run", str(TINY), "--set", "clock.nope=1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "clock.nope" in err
    assert not any(tmp_path.iterdir())


def test_run_key_changes_with_the_code(scenario, monkeypatch):
    """A stored run is reused only by the code that made it: the key covers the sources."""
    key = run_mod.run_key(scenario, 1)
    fingerprint = run_mod.code_fingerprint()
    assert len(fingerprint) == 16 and int(fingerprint, 16) >= 0
    monkeypatch.setattr(run_mod, "code_fingerprint", lambda: "0" * 16)
    assert run_mod.run_key(scenario, 1) != key


def test_code_fingerprint_covers_every_source_file(tmp_path, monkeypatch):
    """Editing any .py or .pyx file under agents/, kernels/ or sim/ changes the fingerprint."""
    root = tmp_path / "repo"
    for folder in run_mod._CODE_DIRS:
        (root / folder).mkdir(parents=True)
        (root / folder / "a.py").write_text("x = 1\n")
    (root / "kernels" / "k.pyx").write_text("cdef int y = 2\n")
    (root / "sim" / "run.py").write_text("")
    monkeypatch.setattr(run_mod, "__file__", str(root / "sim" / "run.py"))
    prints = []
    for edit in (None, root / "agents" / "a.py", root / "kernels" / "k.pyx", root / "sim" / "a.py"):
        if edit is not None:
            edit.write_text(edit.read_text() + "# changed\n")
        run_mod.code_fingerprint.cache_clear()
        prints.append(run_mod.code_fingerprint())
    run_mod.code_fingerprint.cache_clear()
    assert len(set(prints)) == len(prints)

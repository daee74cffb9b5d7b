"""The sweep runner: streamed to the journal, flat memory, failures recorded, reruns compute
nothing. Runs on a thread pool here (the runner takes any Executor); the process pools and Dask
are in test_sweep_backends.py."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

import sim.run
from sim.cli import main
from sim.sweep.driver import run_sweep
from sim.sweep.journal import Journal
from sim.sweep.plan import Task
from sim.sweep.runner import execute
from tests.sweeps import write_sweep


class Summary(dict):
    """A run's record that counts how many of its kind are alive."""

    alive = 0
    most = 0
    lock = threading.Lock()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        with Summary.lock:
            Summary.alive += 1
            Summary.most = max(Summary.most, Summary.alive)

    def __del__(self):
        with Summary.lock:
            Summary.alive -= 1


def fake_run(task: Task, out: str) -> dict:
    """A run that returns a bulky summary at once (no simulation)."""
    return Summary(key=task.key, status="ok", reused=False, wall_time_s=0.0,
                   row={"metric": float(task.seed), "bulk": "x" * 10_000})


def tasks(n: int):
    for i in range(n):
        yield Task("/nowhere.yaml", "fake", i // 10, {"p": i // 10}, {}, i % 10, i, key=f"k{i:05d}")


def test_parent_holds_no_more_summaries_than_runs_in_flight(tmp_path):
    Summary.alive = Summary.most = 0
    with Journal(tmp_path / "journal.jsonl") as journal, ThreadPoolExecutor(4) as pool:
        result = execute(tasks(400), 400, pool, tmp_path, journal, max_in_flight=6,
                         run_fn=fake_run)
    assert result.counts.computed == 400
    assert result.max_in_flight_seen == 6
    assert 1 <= Summary.most <= 6          # never all 400: each is written, then dropped
    lines = (tmp_path / "journal.jsonl").read_text().splitlines()
    assert len(lines) == 400 and len({json.loads(line)["key"] for line in lines}) == 400


def test_journal_cuts_a_torn_last_line_and_keeps_the_rest(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"key":"a","status":"ok"}\n{"key":"b","status":"failed"}\n{"key":"c","sta')
    with Journal(path) as journal:
        assert journal.done == {"a"} and journal.failed == {"b"}
        journal.append({"key": "c", "status": "ok"})
    assert path.read_text().splitlines()[-1] == '{"key":"c","status":"ok"}'
    assert len(path.read_text().splitlines()) == 3


def test_a_second_sweep_on_the_same_folder_is_refused(tmp_path):
    with Journal(tmp_path / "journal.jsonl"):
        with pytest.raises(Exception, match="another flywheel sweep is writing"):
            with Journal(tmp_path / "journal.jsonl"):
                pass


def test_a_run_that_raises_is_recorded_and_the_others_finish(tmp_path, monkeypatch):
    path = write_sweep(tmp_path, seeds=2)
    real_run = sim.run.run

    def run_failing_at_insurance_5pct(scenario, **kwargs):
        if scenario.insurance.initial == 0.05:
            raise RuntimeError("margin engine exploded")
        return real_run(scenario, **kwargs)

    monkeypatch.setattr(sim.run, "run", run_failing_at_insurance_5pct)
    with ThreadPoolExecutor(2) as pool:
        result = run_sweep(path, pool, out=tmp_path / "out", charts=False)
    runs = result.runs
    assert len(runs) == 4 and result.failed == 2
    failed = runs[runs["status"] == "failed"]
    assert set(failed["insurance.initial"]) == {0.05}
    assert set(failed["seed"]) == set(runs["seed"])          # parameters and seed recorded
    assert failed["error"].str.contains("RuntimeError: margin engine exploded").all()
    ok = runs[runs["status"] == "ok"]
    assert ok["bad_debt_usd"].notna().all() and ok["error"].isna().all()
    agg = result.aggregate
    assert (agg.loc[agg["insurance.initial"] == 0.05, "n_failed"] == 2).all()
    assert (agg.loc[agg["insurance.initial"] == 0.05, "n"] == 0).all()
    records = [json.loads(line) for line in
               (result.folder / "journal.jsonl").read_text().splitlines()]
    bad = [r for r in records if r["status"] == "failed"]
    assert {r["params"]["insurance.initial"] for r in bad} == {0.05}


def test_cli_exits_1_with_a_count_when_a_run_failed(tmp_path, monkeypatch, capsys):
    import contextlib

    import sim.executor
    from sim.sweep.spec import load_sweep
    from sim.sweep.spec import seeds as spawn

    @contextlib.contextmanager
    def threads(backend, workers, scheduler):
        with ThreadPoolExecutor(2) as pool:
            yield pool

    real_run = sim.run.run

    def run_failing(scenario, **kwargs):
        if scenario.insurance.initial == 0.05 and kwargs["seed"] == seeds[0]:
            raise ValueError("no")
        return real_run(scenario, **kwargs)

    path = write_sweep(tmp_path)
    seeds = spawn(load_sweep(path))
    monkeypatch.setattr(sim.executor, "make_executor", threads)
    monkeypatch.setattr(sim.run, "run", run_failing)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet",
                 "--no-charts"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: 1 of 4 runs failed (status and error in "
                   f"{tmp_path / 'out' / 'tiny_sweep' / 'runs.parquet'})"]
    # started again, the failed run is tried again (and fails again); the others are reused
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet",
                 "--no-charts"]) == 1
    assert "3 reused, 1 failed" in capsys.readouterr().out


def test_rerun_computes_nothing_and_gives_the_same_rows(tmp_path):
    path = write_sweep(tmp_path)
    with ThreadPoolExecutor(2) as pool:
        first = run_sweep(path, pool, out=tmp_path / "out", charts=False)
        again = run_sweep(path, pool, out=tmp_path / "out", charts=False)
    assert first.execution.counts.computed == 4
    assert again.execution.counts.computed == 0 and again.execution.counts.reused == 4
    pd.testing.assert_frame_equal(first.runs, again.runs)
    assert len((first.folder / "journal.jsonl").read_text().splitlines()) == 4


def test_runs_parquet_holds_parameters_seed_and_every_summary_figure(tmp_path):
    path = write_sweep(tmp_path)
    with ThreadPoolExecutor(2) as pool:
        result = run_sweep(path, pool, out=tmp_path / "out", charts=False)
    runs = pd.read_parquet(result.folder / "runs.parquet")
    assert list(runs["insurance.initial"]) == [0.0, 0.0, 0.05, 0.05]
    assert runs["replicate"].tolist() == [0, 1, 0, 1]
    stored = sim.run.load_run(tmp_path / "out" / "tiny" / runs["run_key"].iloc[0])
    s = stored.summary
    row = runs.iloc[0]
    assert row["seed"] == s["seed"] and row["bad_debt_usd"] == s["bad_debt_usd"]
    for market, figures in s["markets"].items():
        assert row[f"bad_debt_lp_usd[{market}]"] == figures["bad_debt_lp_usd"]
        for part, value in figures["lp_pnl_split_usd"].items():
            assert row[f"lp_pnl_split_usd.{part}[{market}]"] == pytest.approx(value)
    assert row["adl_events"] == int((stored.events["kind"] == "adl").sum())
    assert not (tmp_path / "out" / "tiny" / runs["run_key"].iloc[0] / "charts").exists()
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["runs"]["computed"] == 4
    assert len(manifest["sweep_file_sha256"]) == 64 and manifest["versions"]["code"]


def test_compare_adds_the_twins_gains_and_margin_differences_as_columns(tmp_path):
    from sim.scenario import load_scenario
    from sim.twins import impulse_runs, margin_differences, margin_twin

    compare = {"compare": ["margin", "impulse"],
               "impulse": {"at": "day 1", "fractions": [0.1], "horizons_days": [0.5, 1.0]}}
    path = write_sweep(tmp_path, seeds=1, set={"clock.days": 2.0}, **compare)
    plain = write_sweep(tmp_path, name="plain", seeds=1, set={"clock.days": 2.0})
    with ThreadPoolExecutor(2) as pool:
        before = run_sweep(plain, pool, out=tmp_path / "out", charts=False)
        result = run_sweep(path, pool, out=tmp_path / "out", charts=False)
    assert before.execution.counts.computed == 2
    assert result.execution.counts.computed == 2        # the twins are new work ...
    runs = result.runs
    assert list(runs["run_key"]) == list(before.runs["run_key"])   # ... around the same runs
    row = runs.iloc[1]
    # the same numbers sim.twins gives for that scenario and seed (flywheel run --compare)
    sc = load_scenario(runs_scenario(row), {"clock.days": 2.0,
                                            "insurance.initial": row["insurance.initial"]})
    seed = int(row["seed"])
    base = sim.run.run(sc, seed=seed, out=tmp_path / "out", charts=False)
    assert base.info["run_key"] == row["run_key"]
    twin = sim.run.run(margin_twin(sc), seed=seed, out=tmp_path / "out", charts=False)
    diffs = margin_differences(base.summary, twin.summary)
    assert row["margin_diff.option_volume_usd"] == diffs["option_volume_usd"]["stock_minus_twin"]
    assert row["margin_twin.active_users_end"] == diffs["active_users_end"]["usdc_twin"]
    gains = impulse_runs(sc, seed, [0.1], "day 1", [0.5, 1.0], tmp_path / "out", False, base)
    for g in gains["gains"]:
        h = f"{g['horizon_days']:g}d"
        assert row[f"G[k=10%,H={h}]"] == pytest.approx(g["G"], nan_ok=True)
        assert row[f"gain[k=10%,H={h}]"] == pytest.approx(g["gain"], nan_ok=True)
    metrics = set(result.aggregate["metric"])
    assert {"G[k=10%,H=1d]", "gain[k=10%,H=1d]", "margin_diff.bad_debt_usd"} <= metrics
    assert "## Twins (compare: margin, impulse)" in result.report


def runs_scenario(row) -> str:
    from tests.tiny import TINY

    assert row["scenario_file"] == TINY.name
    return str(TINY)


def test_an_impulse_after_the_runs_end_is_one_line_before_any_run(tmp_path):
    from sim.errors import UserInputError
    from sim.sweep.driver import prepare

    path = write_sweep(tmp_path, compare=["impulse"], impulse={"at": "day 30"})
    with pytest.raises(UserInputError) as info:
        prepare(path)
    assert str(info.value).startswith(f"{path}: scenario tiny.yaml, point 0 (")
    assert "compare: impulse twin: impulse.at: 'day 30' is step 720, after the run's end" \
        in str(info.value)

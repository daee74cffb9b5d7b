"""Pre-flight (issue 10): a scenario that cannot fit is refused from its sizes, in one line naming
the fields, the estimate and the option, before any agent is built; ``flywheel validate`` checks
everything ``flywheel run`` checks before its first step."""

from __future__ import annotations

import dataclasses
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.errors import UserInputError
from sim.preflight import Limits, check_fits, estimate
from sim.run import run
from sim.scenario import load_scenario
from tests.tiny import TINY, tiny

BILLION = "name: huge\nagents: {traders: 1000000000}\n"


def refuse_model(scenario, rng=None):
    raise AssertionError("an agent was built for a scenario that cannot fit")


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_billion_agents_are_refused_before_any_agent_is_built(tmp_path):
    path = write(tmp_path, BILLION)
    scenario = load_scenario(path)
    with pytest.raises(UserInputError) as err:
        run(scenario, out=tmp_path / "out", model_factory=refuse_model, source=str(path))
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: agents.traders, ")
    assert "clock.days" in message and "1,000,003,408 agents" in message
    assert "GB of memory" in message and "--max-memory-gb" in message
    assert "agent-steps" in message and "--max-agent-steps" in message
    assert not (tmp_path / "out").exists()


def test_refusing_a_billion_agents_allocates_nothing_in_proportion(tmp_path):
    scenario = load_scenario(write(tmp_path, BILLION))
    tracemalloc.start()
    with pytest.raises(UserInputError):
        check_fits(scenario)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000        # bytes: not the 6 kB per agent that building would take


@pytest.mark.parametrize("command", ["run", "validate"])
def test_the_cli_refuses_in_one_line_and_the_option_lifts_the_limit(tmp_path, capsys, command):
    path = write(tmp_path, BILLION)
    out = ["--out", str(tmp_path / "out"), "--quiet"] if command == "run" else []
    assert main([command, str(path), *out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: agents.traders" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    if command == "validate":       # the options are the ones the message names
        raised = ["--max-memory-gb", "1e5", "--max-agent-steps", "1e13"]
        assert main([command, str(path), *raised]) == 0
        assert capsys.readouterr().out == f"OK {path}\n"


def test_a_long_clock_names_the_clock_first(tmp_path):
    scenario = tiny({"clock.days": 30_000, "clock.step_minutes": 5})
    with pytest.raises(UserInputError,
                       match=r"^tiny: clock.days, clock.step_minutes, .* steps need"):
        check_fits(scenario)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_a_limit_that_is_not_a_positive_number_is_one_line(value, capsys):
    assert main(["validate", str(TINY), "--max-memory-gb", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--max-memory-gb" in err


def test_the_default_limits_take_the_designs_year_and_the_shipped_scenarios():
    """The design's whole-model target, 10,000 agents for a year of hourly steps (what `flywheel
    bench --only model` runs; 0.33 GB measured), fits the defaults with room to spare."""
    from sim.bench.model import AGENTS, SCALE_10X
    from sim.scenario import scenario_from_dict

    year = scenario_from_dict({"name": "bench", "clock": {"days": 365, "burn_in_days": 0},
                               "agents": AGENTS, **SCALE_10X})
    est = check_fits(year)
    assert 0.33 < est.memory_gb < Limits().max_memory_gb / 4
    assert est.agent_steps < Limits().max_agent_steps / 10
    from sim.study.spec import is_study_file
    from sim.sweep.spec import is_sweep_file

    for path in sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml")):
        if not (is_study_file(path) or is_sweep_file(path)):
            check_fits(load_scenario(path))


def test_the_estimate_grows_with_each_size():
    base = estimate(tiny())
    for override in ({"agents.traders": 2000}, {"arrivals.traders.potential": 2000},
                     {"clock.days": 30}, {"clock.step_minutes": 5}):
        bigger = estimate(tiny(override))
        assert bigger.memory_bytes > base.memory_bytes and bigger.agent_steps > base.agent_steps


# ------------------------------------------------------------------ validate = what run checks


def _price_csv(path: Path, nan_row: int | None = None) -> Path:
    times = pd.date_range("2025-07-07", periods=80, freq="h", tz="UTC")
    prices = 100.0 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, len(times))))
    if nan_row is not None:
        prices[nan_row] = np.nan
    pd.DataFrame({"time": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "price": prices}).to_csv(
        path, index=False)
    return path


def test_validate_refuses_a_price_file_holding_a_nan_as_the_run_would(tmp_path, capsys):
    _price_csv(tmp_path / "tsla.csv", nan_row=30)
    path = write(tmp_path, TINY.read_text() + "price_files: {TSLA: {path: tsla.csv}}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tsla.csv" in err and "price_files.TSLA" in err
    assert "row 31" in err and "nan" in err
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == err.splitlines()[0]
    assert not (tmp_path / "out").exists()


def test_flywheel_bench_reports_the_time_and_memory_of_refusing_a_billion_agents(capsys):
    assert main(["bench", "--only", "preflight"]) == 0
    out = capsys.readouterr().out
    assert "1,000,003,408 agents refused in" in out and "MB allocated" in out
    assert "preflight: refuse 1e9 agents (from the file)" in out


def test_a_sweep_point_that_cannot_fit_is_refused_before_any_run(tmp_path, capsys):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"name: big\nscenarios: [{TINY}]\n"
                     "grid: {agents.traders: [10, 1000000000]}\nseeds: 1\n")
    assert main(["validate", str(sweep)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "point 1 (agents.traders=1000000000)" in err
    assert "--max-memory-gb" in err


# --- sweeps and studies: checked as runs before anything runs, with the same options ------------
def _bad_price_scenario(tmp_path: Path) -> Path:
    _price_csv(tmp_path / "tsla.csv", nan_row=30)
    return write(tmp_path, TINY.read_text() + "price_files: {TSLA: {path: tsla.csv}}\n", "bad.yaml")


def test_a_sweep_or_study_over_a_bad_price_file_is_one_line_and_writes_nothing(tmp_path, capsys):
    """Before: `validate` said OK and the sweep failed every run, leaving a results folder."""
    scenario = _bad_price_scenario(tmp_path)
    sweep = write(tmp_path, f"name: sw\nscenarios: [{scenario.name}]\n"
                  "grid: {insurance.initial: [0, 0.01]}\nseeds: 1\n", "sweep.yaml")
    study = write(tmp_path, f"name: st\nscenarios: [{scenario.name}]\nseeds: 1\n", "study.yaml")
    out = str(tmp_path / "out")
    for argv in (["validate", str(sweep)], ["sweep", str(sweep), "--out", out, "--quiet"],
                 ["validate", str(study)], ["study", str(study), "--out", out, "--quiet"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "price_files.TSLA" in err and "row 31" in err, argv
    assert not (tmp_path / "out").exists()


def test_a_sweep_reads_each_price_file_once_per_clock(tmp_path, monkeypatch):
    from sim.market import replay
    from sim.sweep.driver import prepare

    _price_csv(tmp_path / "tsla.csv")
    scenario = write(tmp_path, TINY.read_text() + "price_files: {TSLA: {path: tsla.csv}}\n")
    sweep = write(tmp_path, f"name: sw\nscenarios: [{scenario.name}]\n"
                  "grid: {insurance.initial: [0, 0.01, 0.02], clock.days: [2, 3]}\nseeds: 1\n",
                  "sweep.yaml")
    reads = []
    real = replay.check_price_files
    monkeypatch.setattr(replay, "check_price_files", lambda sc: reads.append(sc.clock.days) or real(sc))
    plan = prepare(sweep)
    assert len(plan.points) == 6 and sorted(reads) == [2, 3]


@pytest.mark.parametrize("command", ["sweep", "study"])
def test_sweep_and_study_take_the_limits_and_name_their_own_option(tmp_path, capsys, command):
    spec = (f"name: lim\nscenarios: [{TINY}]\nseeds: 1\n"
            + ("grid: {insurance.initial: [0, 0.01]}\n" if command == "sweep" else ""))
    path = write(tmp_path, spec, f"{command}.yaml")
    out = ["--out", str(tmp_path / "out"), "--quiet"]
    assert main([command, str(path), "--max-agent-steps", "10", *out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "raise it with --max-agent-steps" in err
    assert not (tmp_path / "out").exists()
    assert main(["validate", str(path), "--max-agent-steps", "10"]) == 2
    assert "--max-agent-steps" in capsys.readouterr().err


def test_the_limits_reach_the_runs_in_the_workers_and_every_twin(tmp_path, monkeypatch):
    """A sweep's task (with its margin and impulse twins), a study's cell and `run --compare`
    give every run they make the limits they were given, not the defaults: each call of
    ``sim.run.run`` is recorded (and then made, so the twins that follow it run too)."""
    import sim.sweep.runner
    import sim.twins
    from sim.study.runner import CellJob, compute_cell
    from sim.sweep.driver import prepare
    from sim.sweep.runner import run_task

    given = Limits(max_memory_gb=7.5, max_agent_steps=9e9)
    seen: list = []

    def recording_run(*args, **kwargs):
        seen.append(kwargs.get("limits"))
        return run(*args, **kwargs)

    monkeypatch.setattr(sim.twins, "run", recording_run)
    monkeypatch.setattr(sim.sweep.runner, "run", recording_run, raising=False)
    monkeypatch.setattr("sim.run.run", recording_run)       # run_task imports it when it runs

    sweep = write(tmp_path, f"name: lim\nscenarios: [{TINY}]\ngrid: {{insurance.initial: [0]}}\n"
                  "seeds: 1\ncompare: [margin, impulse]\nimpulse: {at: day 1, fractions: [0.1], "
                  "horizons_days: [1]}\n", "sweep.yaml")
    task = dataclasses.replace(next(prepare(sweep, limits=given).tasks()))
    assert task.limits == given
    record = run_task(task, str(tmp_path / "a"))
    assert record["status"] == "ok", record.get("error")
    assert len(seen) == 4 and all(lim == given for lim in seen)   # base, margin, impulse, frozen

    seen.clear()
    job = CellJob("k", tiny(), 0, 1, (0.1,), 1.0, (1.0,), given)
    record = compute_cell(sim.twins.study_cell, job, str(tmp_path / "c"))
    assert record["status"] == "ok", record.get("error")
    assert len(seen) == 4 and all(lim == given for lim in seen)   # base, margin, impulse, frozen

    seen.clear()
    sim.twins.compare(tiny(), 1, ("margin", "impulse"), tmp_path / "d", (0.1,), "day 1", (1.0,),
                      charts=False, limits=given)
    assert len(seen) == 4 and all(lim == given for lim in seen)


def test_too_small_limits_refuse_a_workers_run_and_a_study_cell(tmp_path):
    from sim.study.runner import CellJob, compute_cell
    from sim.sweep.driver import prepare
    from sim.sweep.runner import run_task
    from sim.twins import study_cell

    tight = Limits(max_agent_steps=10)
    sweep = write(tmp_path, f"name: lim\nscenarios: [{TINY}]\ngrid: {{insurance.initial: [0]}}\n"
                  "seeds: 1\n", "sweep.yaml")
    task = dataclasses.replace(next(prepare(sweep).tasks()), limits=tight)
    record = run_task(task, str(tmp_path / "b"))
    assert record["status"] == "failed" and "--max-agent-steps" in record["error"]
    record = compute_cell(study_cell, CellJob("k", tiny(), 0, 1, (0.1,), 1.0, (1.0,), tight),
                          str(tmp_path / "c"))
    assert record["status"] == "failed" and "--max-agent-steps" in record["error"]


def test_run_compare_over_seeds_is_checked_before_its_first_run(tmp_path, capsys):
    """Before: `run --compare margin --seeds 2` over a bad price file wrote a study folder and
    exited 1 with every cell failed."""
    scenario = _bad_price_scenario(tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--compare", "margin", "--seeds", "2", "--at", "day 1",
                 "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "price_files.TSLA" in err
    assert main(["run", str(TINY), "--compare", "margin", "--seeds", "2", "--at", "day 1",
                 "--out", str(out), "--quiet", "--max-agent-steps", "10"]) == 2
    assert "--max-agent-steps" in capsys.readouterr().err
    assert not out.exists()


def test_a_study_of_a_scenario_with_its_own_frozen_impulse_is_checked_as_the_cell_runs_it(tmp_path):
    """A study cell runs the scenario without its own impulse: the check must not refuse it."""
    from sim.study.spec import load_study

    write(tmp_path, TINY.read_text() + "impulse: {fraction: 0.1, at: day 1, freeze_quality: true}\n",
          "frozen.yaml")
    study = write(tmp_path, "name: st\nscenarios: [frozen.yaml]\nseeds: 1\nat: day 1\n", "study.yaml")
    assert load_study(study).scenarios[0].scenario.impulse.freeze_quality

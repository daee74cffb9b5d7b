"""`flywheel study` with a stand-in cell (tests/study_doubles.py): the verdict rule, the
intervals, resuming, failing cells, bad study files and the generated answer."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

import sim.study as study_pkg
from sim.cli import main
from sim.errors import UserInputError
from sim.study import load_study, run_study
from sim.study.aggregate import (
    AMPLIFIES,
    DECAYS,
    NEUTRAL,
    UNDECIDED,
    mean_estimate,
    paired_difference,
)
from sim.study.runner import CELLS
from sim.study.spec import replication_seeds
from tests.study_doubles import CellDouble, Gains, calls

TINY = Path(__file__).parent / "data" / "tiny.yaml"


def write_study(folder: Path, names: list[str], **fields) -> Path:
    """A study over copies of tiny.yaml named ``names`` (the double ignores all but the name)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = TINY.read_text()
    for name in names:
        (folder / f"{name}.yaml").write_text(text.replace("name: tiny", f"name: {name}"))
    spec = {"name": "t", "scenarios": [f"{n}.yaml" for n in names], "seeds": 6,
            "at": "day 1", "horizons_days": [7, 30, 60], **fields}
    path = folder / "study.yaml"
    path.write_text(json.dumps(spec))            # JSON is YAML
    return path


def study_of(tmp_path: Path, gains: dict[str, Gains], fail_seeds=(), **fields):
    path = write_study(tmp_path, list(gains), **fields)
    study = load_study(path)
    double = CellDouble(gains, frozenset(study.seeds[i] for i in fail_seeds))
    return study, double


def quiet_run(study, out, double, **options):
    """``run_study`` in this process with the double, no progress bar, no charts."""
    return run_study(study, out, cell_fn=double, workers=1, progress=False,
                     **{"charts": False, **options})


def verdicts(outcome) -> dict[str, str]:
    return {r.name: r.verdict.label for r in outcome.results}


# ---------------------------------------------------------------------- the verdict rule
def test_verdict_is_amplifies_decays_or_neutral_where_the_gains_put_it(tmp_path):
    gains = {"up": Gains(g=2.0, g_frozen=1.0), "down": Gains(g=0.9, g_frozen=1.4),
             "flat": Gains(g=1.0, g_frozen=1.0, sd=0.3),
             "stays": Gains(g=1.5, g_frozen=1.5),     # G above 1, but not through quality
             "leaves": Gains(g=0.5, g_frozen=0.5)}    # G below 1, but not through quality
    study, double = study_of(tmp_path, gains)
    outcome = quiet_run(study, tmp_path / "out", double)
    assert verdicts(outcome) == {"up": AMPLIFIES, "down": DECAYS, "flat": NEUTRAL,
                                 "stays": NEUTRAL, "leaves": NEUTRAL}
    assert not outcome.failures


def test_verdict_is_undecided_with_one_seed_or_a_horizon_past_the_end(tmp_path):
    gains = {"short": Gains(g=2.0, g_frozen=1.0, days=20.0), "one": Gains(g=2.0, g_frozen=1.0)}
    study, double = study_of(tmp_path, gains, seeds=1)
    outcome = quiet_run(study, tmp_path / "out", double)
    got = {r.name: (r.verdict.label, r.verdict.reason) for r in outcome.results}
    assert got["short"] == (UNDECIDED, "horizon outside the run")
    assert got["one"] == (UNDECIDED, "fewer than 2 seeds")
    assert "past the end" in outcome.report.read_text()


# ---------------------------------------------------------------------- intervals
def test_intervals_contain_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(200):
        e = mean_estimate(rng.normal(5.0, 2.0, 10))
        hits += e.low <= 5.0 <= e.high
    # The percentile bootstrap of a mean of 10 normals covers about 91% (it is a little
    # narrow for small samples); a broken interval would be far off in either direction.
    assert 0.85 <= hits / 200 <= 0.99


def test_a_large_sample_interval_matches_the_t_interval():
    x = np.random.default_rng(4).exponential(3.0, 400)
    e = mean_estimate(x)
    low, high = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert e.mean == pytest.approx(x.mean())
    assert e.low == pytest.approx(low, rel=0.03) and e.high == pytest.approx(high, rel=0.03)


def test_the_paired_interval_is_the_interval_of_the_per_seed_differences():
    rng = np.random.default_rng(5)
    common = rng.normal(100, 30, 12)                      # what the twins share
    a, b = common + rng.normal(1.0, 0.5, 12), common
    paired = paired_difference(a, b)
    assert paired.low > 0                                # pairing removes the shared noise
    assert (paired.low, paired.high) == (mean_estimate(a - b).low, mean_estimate(a - b).high)


def test_study_reports_paired_variance_far_below_unpaired_for_shared_noise(tmp_path):
    study, double = study_of(tmp_path, {"s": Gains(g=2.0, g_frozen=1.0)})
    outcome = quiet_run(study, tmp_path / "out", double)
    for p in outcome.results[0].points:
        assert p.variance_ratio is not None and p.variance_ratio < 0.5


# ---------------------------------------------------------------------- running and resuming
def test_seeds_are_spawned_from_the_root_and_grow_without_changing():
    seeds = replication_seeds(7, 5)
    children = np.random.SeedSequence(7).spawn(5)
    assert seeds == tuple(int(c.generate_state(1)[0]) for c in children)
    assert replication_seeds(7, 8)[:5] == seeds and len(set(seeds)) == 5


def test_a_resumed_study_computes_no_finished_cell_twice_and_adds_no_line(tmp_path):
    study, double = study_of(tmp_path, {"a": Gains(), "b": Gains()})
    out = tmp_path / "out"
    quiet_run(study, out, double)
    cells = out / "t" / CELLS
    first = cells.read_text()
    assert calls(out) == 12 and len(first.splitlines()) == 12
    quiet_run(study, out, double)
    assert calls(out) == 12 and cells.read_text() == first
    more = load_study(study.source, seeds=8)                 # two more replications
    quiet_run(more, out, double)
    assert calls(out) == 16 and len(cells.read_text().splitlines()) == 16


def test_a_torn_last_line_is_ignored_and_the_cell_recomputed(tmp_path):
    study, double = study_of(tmp_path, {"a": Gains()}, seeds=3)
    out = tmp_path / "out"
    quiet_run(study, out, double)
    cells = out / "t" / CELLS
    lines = cells.read_text().splitlines()
    cells.write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])      # killed mid-write
    outcome = quiet_run(study, out, double)
    assert calls(out) == 4 and outcome.results[0].seeds_done == 3
    assert all(json.loads(x) for x in cells.read_text().splitlines()[-1:])


def test_cells_run_through_any_executor_alike(tmp_path):
    study, double = study_of(tmp_path, {"a": Gains(g=2.0), "b": Gains()})
    serial = quiet_run(study, tmp_path / "serial", double)
    with ThreadPoolExecutor(2) as pool:
        threads = run_study(study, tmp_path / "threads", cell_fn=double, executor=pool,
                            progress=False, charts=False)
    assert serial.report.read_text() == threads.report.read_text()   # in any order


def test_a_failing_cell_is_recorded_and_the_others_finish(tmp_path):
    study, double = study_of(tmp_path, {"a": Gains(g=2.0), "b": Gains()}, fail_seeds=[2])
    outcome = quiet_run(study, tmp_path / "out", double)
    assert len(outcome.failures) == 2                     # seed 2 of each scenario
    assert all(r.seeds_done == 5 and r.failed == 1 for r in outcome.results)
    records = [json.loads(x) for x in (outcome.folder / CELLS).read_text().splitlines()]
    failed = [r for r in records if r["status"] == "failed"]
    assert len(failed) == 2 and "broke" in failed[0]["error"] and failed[0]["traceback"]
    assert "2 of 12 cells failed" in outcome.report.read_text()
    # The next run tries the failed cells again, and only those.
    fixed = CellDouble(double.gains)
    again = quiet_run(study, tmp_path / "out", fixed)
    assert not again.failures and calls(tmp_path / "out") == 14


def test_cli_exits_1_with_one_line_count_when_a_cell_fails(tmp_path, capsys, monkeypatch):
    study, double = study_of(tmp_path, {"a": Gains(g=2.0)}, fail_seeds=[0], seeds=3)
    monkeypatch.setattr(study_pkg, "_study_cell", lambda: double)
    code = main(["study", study.source, "--out", str(tmp_path / "out"), "--workers", "1",
                 "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.strip().splitlines() == [
        f"error: 1 of 3 cells failed (errors in {tmp_path / 'out' / 't' / CELLS})"]
    assert "| a | undecided |" not in out and "| a |" in out and "REPORT.md" in out


def test_cli_runs_the_cells_on_dask_as_on_the_local_pool(tmp_path, capsys, monkeypatch):
    study, double = study_of(tmp_path, {"a": Gains(g=2.0)}, seeds=3)
    monkeypatch.setattr(study_pkg, "_study_cell", lambda: double)
    common = ["study", study.source, "--workers", "1", "--quiet", "--out"]
    assert main([*common, str(tmp_path / "local")]) == 0
    assert main([*common, str(tmp_path / "dask"), "--backend", "dask"]) == 0
    local, dask = ((tmp_path / out / "t" / "REPORT.md").read_text() for out in ("local", "dask"))
    assert local == dask
    assert main([*common, str(tmp_path / "x"), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: --scheduler: only the dask backend joins a scheduler (add --backend dask)")


# ---------------------------------------------------------------------- bad study files
BAD = {
    "unknown key": ({"colour": "red"}, "colour"),
    "no seeds": ({"seeds": 0}, "seeds"),
    "bad time": ({"at": "noon"}, "at"),
    "impulse too big": ({"impulses": [0.1, 1.5]}, "impulses.1"),
    "missing scenario": ({"scenarios": ["nowhere.yaml"]}, "nowhere.yaml"),
    "bad override": ({"set": {"clock.dayz": 3}}, "clock.dayz"),
    "at after the end": ({"at": "day 5"}, "at"),
    "own at after the end": ({"scenarios": [{"path": "a.yaml", "at": "day 9"}]},
                             "scenarios.0.at"),
    "own at unreadable": ({"scenarios": [{"path": "a.yaml", "at": "soon"}]}, "scenarios.0.at"),
    "bad name": ({"name": "a b"}, "name"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_study_file_is_one_line_naming_file_and_field_exit_2(tmp_path, capsys, case):
    fields, field = BAD[case]
    path = write_study(tmp_path, ["a"], **fields)
    code = main(["study", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "study.yaml" in lines[0] and field in lines[0], err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_a_scenario_may_have_its_own_t0(tmp_path):
    path = write_study(tmp_path, ["a", "b"], scenarios=["a.yaml", {"path": "b.yaml",
                                                                   "at": "step 36"}])
    study = load_study(path)
    assert [(s.name, s.at_day) for s in study.scenarios] == [("a", 1.0), ("b", 1.5)]


def test_the_shipped_study_loads_with_the_library_and_ten_seeds():
    study = load_study(Path(__file__).parent.parent / "scenarios" / "study.yaml")
    assert len(study.seeds) == 10 and study.scenarios[0].name == "baseline"
    assert {s.name for s in study.scenarios} >= {"baseline", "depeg", "premium", "pin",
                                                 "weekend_gap", "crypto_crash"}


def test_two_scenarios_with_one_name_are_refused(tmp_path):
    path = write_study(tmp_path, ["a"])
    shutil.copy(tmp_path / "a.yaml", tmp_path / "a2.yaml")
    path.write_text(path.read_text().replace('["a.yaml"]', '["a.yaml", "a2.yaml"]'))
    with pytest.raises(UserInputError, match="both named 'a'"):
        load_study(path)


# ---------------------------------------------------------------------- the report
def _answer(report: Path) -> str:
    text = report.read_text()
    return text[text.index("## The answer"):text.index("## Verdicts")]


def test_the_answer_is_generated_from_the_numbers(tmp_path):
    one, double_one = study_of(tmp_path / "one", {"base": Gains(g=2.0, g_frozen=1.0),
                                                  "shock": Gains(g=0.8, g_frozen=1.3)})
    two, double_two = study_of(tmp_path / "two", {"base": Gains(g=1.0, g_frozen=1.0, sd=0.3,
                                                                margin_users=80.0),
                                                  "shock": Gains(g=2.0, g_frozen=1.0)})
    a = quiet_run(one, tmp_path / "out1", double_one)
    b = quiet_run(two, tmp_path / "out2", double_two)
    text_a, text_b = _answer(a.report), _answer(b.report)
    assert text_a != text_b
    assert "amplifies in 1 (`base`), decays in 1 (`shock`)" in text_a
    assert "`base` the flywheel amplifies" in text_a
    assert "amplifies in 1 (`shock`), decays in none and is neutral in 1 (`base`)" in text_b
    assert "so there is no self-reinforcing loop" in text_b
    # Its numbers are the tables' numbers: G at 30 d, 10% of `base` as the verdict table has it.
    g = a.results[0].verdict.point.gain
    assert f"{g.mean:.2f}" in text_a
    users = next(m for m in b.results[0].margin if m.measure.key == "users").relative
    assert f"{100 * users.mean:+.1f}%" in text_b and users.above(0)
    assert "more active users in 1 (`base`)" in text_b


def test_the_report_states_its_estimators_and_the_twin_assumptions(tmp_path):
    study, double = study_of(tmp_path, {"a": Gains(g=2.0)})
    text = quiet_run(study, tmp_path / "out", double).report.read_text()
    for phrase in ("paired percentile bootstrap over seeds", "9,999 resamples",
                   "same potential market M", "`twin.potential_ratio` = 1", "same USD wealth",
                   "Wilson", "95th percentile over seeds", "6 seeds"):
        assert phrase in text, phrase


def test_charts_are_small_pngs_beside_the_report(tmp_path):
    study, double = study_of(tmp_path, {"a": Gains(g=2.0), "b": Gains(), "c": Gains(g=0.5)})
    outcome = quiet_run(study, tmp_path / "out", double, charts=True)
    charts = sorted((outcome.folder / "charts").glob("*.png"))
    assert [c.name for c in charts] == ["gain.png", "margin_twin.png"]
    for c in charts:
        assert c.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and c.stat().st_size < 100_000
        assert f"charts/{c.name}" in outcome.report.read_text()


# ---------------------------------------------------------------------- a real tiny study
def test_a_tiny_real_study_runs_end_to_end(tmp_path, capsys):
    """sim.twins.study_cell on tiny.yaml for 4 days: two seeds, one impulse, one horizon."""
    from sim.run import run
    from sim.scenario import load_scenario

    path = tmp_path / "study.yaml"
    path.write_text(json.dumps({"name": "tiny_real", "scenarios": [str(TINY)], "seeds": 2,
                                "impulses": [0.1], "at": "day 1.5", "horizons_days": [2],
                                "set": {"clock.days": 4}}))
    out = tmp_path / "out"
    assert main(["study", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    folder = out / "tiny_real"
    assert "| tiny | undecided |" in printed and str(folder / "REPORT.md") in printed
    report = (folder / "REPORT.md").read_text()
    assert "| 10% | 2 |" in report and "## The answer" in report
    assert sorted(p.name for p in (folder / "charts").glob("*.png")) == ["gain.png",
                                                                          "margin_twin.png"]
    records = [json.loads(x) for x in (folder / CELLS).read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok", "ok"]
    # The study's base arm is the plain run of the scenario with the replication's seed.
    seed = records[0]["seed"]
    alone = run(load_scenario(TINY, {"clock.days": 4}), seed=seed).summary
    assert records[0]["cell"]["base"] == json.loads(json.dumps(alone))
    assert records[0]["cell"]["impulses"][0]["inside_run"]


def test_a_cell_travels_to_a_worker_process():
    """What a process pool (or Dask) sends: the cell function and the job, pickled."""
    import pickle

    from sim.study import plan
    from sim.twins import study_cell

    study = load_study(Path(__file__).parent.parent / "scenarios" / "study.yaml", seeds=1)
    job = plan(study)[0]
    fn, back = pickle.loads(pickle.dumps((study_cell, job)))
    assert fn is study_cell and back == job


def test_validate_checks_a_study_file_as_a_study(tmp_path, capsys):
    shipped = Path(__file__).parent.parent / "scenarios" / "study.yaml"
    assert main(["validate", str(shipped)]) == 0
    assert capsys.readouterr().out.strip() == f"OK {shipped}"
    bad = write_study(tmp_path, ["a"], seeds=0)
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "study.yaml: seeds" in err[0]


def test_a_study_file_takes_no_boolean_for_a_number_and_bounds_its_seeds(tmp_path):
    from sim.study.spec import load_study

    for text, field in (("seeds: true", "seeds"), ("seeds: 100000000", "seeds")):
        path = tmp_path / "s.yaml"
        path.write_text(f"name: s\nscenarios: [{Path(__file__).parent / 'data' / 'tiny.yaml'}]\n{text}\n")
        with pytest.raises(UserInputError, match=field):
            load_study(path)

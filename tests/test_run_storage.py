"""Runs are stored as a whole (issue 10): written in a temporary folder and renamed into place
last; never half-written under a final name, never destroying another process's results, charts
repaired when missing, files following the umask, the key covering the data files read; and
every problem with the output folder, or an interruption, is one line."""

from __future__ import annotations

import errno
import glob
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim.results_io as rio
from sim import run as run_mod
from sim.cli import main
from sim.errors import OutputError, UserInputError
from tests.tiny import TINY, tiny

ROOT = Path(__file__).resolve().parent.parent
CHARTS = ("prices.png", "pools.png", "flywheel.png", "risk.png")


def refuse_model(scenario, rng=None):
    raise AssertionError("the model was built")


def every_file(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def temps(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(f"{rio.TEMP_PREFIX}*"))


# ------------------------------------------------------------------ the run key


def _prices(path: Path, scale: float = 1.0) -> Path:
    times = pd.date_range("2025-07-07", periods=80, freq="h", tz="UTC")
    prices = 315.0 * scale * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, 80)))
    pd.DataFrame({"time": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "price": prices}).to_csv(
        path, index=False)
    return path


def test_a_rewritten_price_file_is_a_new_run_not_a_stored_one(tmp_path):
    path = _prices(tmp_path / "tsla.csv")
    scenario = tiny({"price_files": {"TSLA": {"path": str(path)}}})
    first = run_mod.run(scenario, out=tmp_path / "out", charts=False)
    _prices(path, scale=1.1)                     # the same file name, other prices
    assert run_mod.run_key(scenario, scenario.seed) != first.info["run_key"]
    second = run_mod.run(scenario, out=tmp_path / "out", charts=False)
    assert not second.reused and second.path != first.path
    assert second.timeseries["price[TSLA]"].iloc[0] == pytest.approx(
        1.1 * first.timeseries["price[TSLA]"].iloc[0], rel=1e-12)


def test_a_scenario_without_data_files_keeps_its_key(monkeypatch):
    scenario = tiny()
    assert run_mod.data_fingerprint(scenario) == ""
    assert run_mod.run_key(scenario, 1) == run_mod._run_key_of(
        run_mod.resolved_yaml(scenario), 1)


def test_the_code_fingerprint_covers_what_shapes_numbers_and_not_what_shows_them():
    for path in ("kernels/margin_core.pxd", "kernels/liquidation.pyx", "agents/trader.py",
                 "sim/model.py", "sim/metrics.py", "sim/run.py", "sim/scenario/scenario.py"):
        assert (ROOT / path).is_file() and run_mod.shapes_numbers(path), path
    for path in ("sim/charts.py", "sim/cli.py", "sim/__main__.py", "sim/calibration.py",
                 "sim/bench/model.py", "sim/preflight.py", "sim/sweep/driver.py",
                 "sim/study/report.py", "sim/compare_charts.py", "tests/test_run.py",
                 "sim/dashboard.py", "sim/app.py", "sim/live.py", "sim/results_browser.py",
                 "README.md"):
        assert (ROOT / path).is_file(), path
        assert not run_mod.shapes_numbers(path), path


def test_editing_a_chart_keeps_the_stored_runs_and_editing_the_model_does_not(tmp_path,
                                                                              monkeypatch):
    root = tmp_path / "repo"
    for rel in ("sim/run.py", "sim/model.py", "sim/charts.py", "sim/cli.py", "kernels/k.pxd",
                "agents/a.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x = 1\n")
    monkeypatch.setattr(run_mod, "__file__", str(root / "sim" / "run.py"))

    def fingerprint_after(edit: str | None) -> str:
        if edit:
            (root / edit).write_text((root / edit).read_text() + "# edited\n")
        run_mod.code_fingerprint.cache_clear()
        return run_mod.code_fingerprint()

    try:
        before = fingerprint_after(None)
        assert fingerprint_after("sim/charts.py") == before
        assert fingerprint_after("sim/cli.py") == before
        assert fingerprint_after("kernels/k.pxd") != before
        assert fingerprint_after("sim/model.py") not in (before,)
    finally:
        run_mod.code_fingerprint.cache_clear()


# ------------------------------------------------------------------ charts of a stored run


def test_a_stored_run_missing_a_chart_gets_only_that_one_redrawn(tmp_path):
    scenario = tiny()
    first = run_mod.run(scenario, out=tmp_path, charts=False)
    charts = first.path / "charts"
    charts.mkdir()
    for name in CHARTS:                          # three of the four charts were drawn
        if name != "pools.png":
            (charts / name).write_bytes(b"a chart drawn earlier")
    dead = charts / f"{rio.TEMP_PREFIX}risk.png.999999999@{rio._HOST}.0badf00d"
    dead.write_bytes(b"")                        # left by a process killed while drawing
    kept = {name: (charts / name).stat().st_mtime_ns for name in CHARTS if name != "pools.png"}
    data = {name: (first.path / name).read_bytes() for name in ("timeseries.parquet",
                                                                "summary.json")}
    again = run_mod.run(scenario, out=tmp_path, model_factory=refuse_model)
    assert again.reused and sorted(os.listdir(charts)) == sorted(CHARTS)
    assert {name: (charts / name).stat().st_mtime_ns for name in kept} == kept
    assert all((first.path / name).read_bytes() == b for name, b in data.items())


def test_a_live_processs_temporary_file_is_left_alone(tmp_path):
    live = tmp_path / f"{rio.TEMP_PREFIX}x.png.{os.getpid()}@{rio._HOST}.12345678"
    other_host = tmp_path / f"{rio.TEMP_PREFIX}x.png.999999999@another-host.12345678"
    dead = tmp_path / f"{rio.TEMP_PREFIX}x.png.999999999@{rio._HOST}.12345678"
    for path in (live, other_host, dead):
        path.write_bytes(b"")
    assert rio.remove_stale_temps(tmp_path) == [dead]
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, other_host.name])


# ------------------------------------------------------------------ modes


def test_results_follow_the_users_umask(tmp_path):
    old = os.umask(0o002)                        # a group-shared results folder
    try:
        result = run_mod.run(tiny(), out=tmp_path / "shared", charts=False)
    finally:
        os.umask(old)
    for path in [result.path, *result.path.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o775 if path.is_dir() else 0o664), (path, oct(mode))


# ------------------------------------------------------------------ where results go


def _unwritable(tmp_path: Path) -> Path:
    """A folder this process cannot create anything in (root ignores modes: /sys then)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").mkdir()
    except OSError:
        return folder / "results"
    (folder / "probe").rmdir()
    return Path("/sys/flywheel-results")


@pytest.mark.parametrize("where", ["a file", "inside a file", "unwritable", "empty", "too long"])
def test_a_bad_out_is_one_line_before_anything_is_computed(tmp_path, capsys, monkeypatch, where):
    (tmp_path / "file").write_text("not a folder")
    out = {"a file": str(tmp_path / "file"), "inside a file": str(tmp_path / "file" / "results"),
           "unwritable": str(_unwritable(tmp_path)), "empty": "",
           "too long": str(tmp_path / ("x" * 300))}[where]
    monkeypatch.setattr(run_mod, "_step_all", refuse_model)      # nothing may be computed
    before = every_file(tmp_path)
    assert main(["run", str(TINY), "--out", out, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "Traceback" not in err
    assert every_file(tmp_path) == before


def test_a_full_disk_while_writing_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    def disk_full(table, where, **options):
        Path(where).write_bytes(b"PAR1 half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where))

    monkeypatch.setattr(rio.pq, "write_table", disk_full)
    assert main(["run", str(TINY), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and "--out" in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(OutputError) as exc:                 # an OSError to the API's callers
        run_mod.run(tiny(), out=tmp_path / "out")
    assert isinstance(exc.value, OSError) and isinstance(exc.value, UserInputError)


@pytest.mark.parametrize("seed", ["-1", str(2**63), "abc", "9" * 5000])
def test_a_seed_out_of_range_or_not_a_number_is_one_line(seed, capsys, tmp_path):
    try:
        code = main(["run", str(TINY), "--seed", seed, "--out", str(tmp_path)])
    except SystemExit as exc:                   # argparse's own refusal, one line too
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--seed" in err and len(err) < 400
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------ real processes and signals


def _start(out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "sim", "run", str(TINY), "--out", str(out),
                             "--quiet", *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _freeze_while_writing(proc: subprocess.Popen, out: Path) -> bool:
    """Stop ``proc`` (SIGSTOP) as soon as its temporary run folder exists, i.e. while it writes
    (the charts take it a second or more); False if it finished first."""
    while not glob.glob(str(out / "tiny" / f"{rio.TEMP_PREFIX}*")):
        if proc.poll() is not None:
            return False
        time.sleep(0.001)
    proc.send_signal(signal.SIGSTOP)
    return True


def _interrupt(proc: subprocess.Popen, signum: int) -> tuple[int, str]:
    proc.send_signal(signum)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_writing_leaves_no_file_under_any_name(tmp_path, signum, status):
    out = tmp_path / "out"
    proc = _start(out)
    assert _freeze_while_writing(proc, out), "the run finished before it could be stopped"
    assert not (out / "tiny" / run_mod.run_key(tiny(), 1)).exists()   # nothing final yet
    code, err = _interrupt(proc, signum)
    assert code == status
    assert err.count("\n") == 1 and signal.Signals(signum).name in err and "Traceback" not in err
    assert every_file(tmp_path) == [] and temps(tmp_path) == []


def test_an_interrupted_second_run_leaves_the_first_ones_results_intact(tmp_path):
    """The same run in two processes: the second is stopped while writing, the first completes,
    then the second is terminated: its clean-up removes only its own temporary folder."""
    out = tmp_path / "out"
    second = _start(out)
    assert _freeze_while_writing(second, out)
    first = _start(out, "--no-charts")              # the same run (charts are not in the key)
    assert first.wait(timeout=120) == 0
    stored = out / "tiny" / run_mod.run_key(tiny(), 1)
    files = {name: (stored / name).read_bytes() for name in every_file(stored)}
    assert len(files) == 5
    code, _ = _interrupt(second, signal.SIGTERM)
    assert code == 143
    assert {name: (stored / name).read_bytes() for name in every_file(stored)} == files
    assert temps(tmp_path) == []


def test_two_processes_of_the_same_run_both_succeed_and_one_result_is_kept(tmp_path):
    out = tmp_path / "out"
    second = _start(out)
    assert _freeze_while_writing(second, out)
    first = _start(out, "--no-charts")
    assert first.wait(timeout=120) == 0
    stored = out / "tiny" / run_mod.run_key(tiny(), 1)
    data = {name: (stored / name).read_bytes() for name in ("timeseries.parquet",
                                                            "events.parquet", "summary.json")}
    second.send_signal(signal.SIGCONT)
    assert second.wait(timeout=120) == 0
    assert os.listdir(out / "tiny") == [stored.name] and temps(tmp_path) == []
    assert {name: (stored / name).read_bytes() for name in data} == data


@pytest.mark.parametrize("command", ["sweep", "study", "calibrate"])
def test_every_command_that_writes_results_checks_its_out_first(tmp_path, capsys, command):
    (tmp_path / "file").write_text("not a folder")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"name: s\nscenarios: [{TINY}]\ngrid: {{insurance.initial: [0.01]}}\n")
    target = {"sweep": [str(sweep)], "study": [str(ROOT / "scenarios" / "study.yaml")],
              "calibrate": [str(TINY)]}[command]
    assert main([command, *target, "--out", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "is a file" in err

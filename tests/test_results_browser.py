"""What the dashboard's results page finds and shows (sim.results_browser), on real results:
a stored tiny run and a tiny sweep."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sim import results_browser as rb
from sim import results_io as rio
from sim.charts import CHART_FILES
from sim.errors import UserInputError
from sim.run import run, summary_rows
from tests.sweeps import stored_results
from tests.tiny import tiny


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder with a run of tiny, one stored without charts, and one sweep."""
    root = stored_results(tmp_path_factory.mktemp("results"))
    run(tiny({"clock.days": 1.0}), seed=2, out=root, charts=False)
    return root


def test_runs_are_listed_by_scenario_newest_first(results: Path):
    assert rb.scenario_folders(results) == ["tiny"]      # sweep runs are stored there too
    entries = rb.runs_in(results, "tiny")
    assert len(entries) == 2 + 2                           # two runs, two sweep points x 1 seed
    assert entries[0].label.startswith("seed 2 · ")        # the run stored last
    assert all(e.label.startswith("seed ") and e.path.name in e.label for e in entries)


def test_a_run_page_draws_missing_charts_and_shows_the_summary_rows(results: Path):
    entry = rb.runs_in(results, "tiny")[0]               # the newest: seed 2, no charts
    charts_dir = entry.path / rio.CHARTS_DIR
    assert not charts_dir.exists()                         # stored with --no-charts
    page = rb.run_page(entry.path)
    assert rb.runs_in(results, "tiny")[0] == entry         # drawing them did not move the run
    assert [p.name for p in page.charts] == list(CHART_FILES)
    assert all(p.stat().st_size > 10_000 for p in page.charts)
    assert page.rows == summary_rows(rio.read_json(entry.path / rio.SUMMARY))
    assert "tiny" in page.title and entry.path.name in page.title


def test_a_sweep_page_shows_its_charts_and_report(results: Path):
    assert rb.sweeps_in(results) == ["browse_sweep"]
    page = rb.sweep_page(results / "browse_sweep")
    assert "p_lp_bad_debt_loss" in page.charts and next(iter(page.charts)) == "headlines"
    assert all(p.suffix == ".png" and p.is_file() for p in page.charts.values())
    assert page.report.startswith("#") and "insurance.initial" in page.report


def test_what_is_not_a_result_is_refused_or_left_out(tmp_path: Path, results: Path):
    assert rb.scenario_folders(tmp_path / "none") == [] and rb.sweeps_in(tmp_path / "none") == []
    (tmp_path / "half" / "0123456789ab").mkdir(parents=True)     # a run with no summary
    assert rb.scenario_folders(tmp_path) == []
    with pytest.raises(UserInputError, match="not a finished run"):
        rb.run_page(tmp_path / "half" / "0123456789ab")
    with pytest.raises(UserInputError, match="not a sweep's results folder"):
        rb.sweep_page(results / "tiny")


def test_an_unreadable_summary_is_listed_as_such_and_refused_as_one_line(tmp_path: Path,
                                                                         results: Path):
    copy = tmp_path / "results"
    shutil.copytree(results / "tiny", copy / "tiny")
    broken = rb.runs_in(copy, "tiny")[1].path
    (broken / rio.SUMMARY).write_text("{broken")
    labels = [e.label for e in rb.runs_in(copy, "tiny")]
    assert sum(label.startswith("unreadable summary · ") for label in labels) == 1
    with pytest.raises(UserInputError) as raised:
        rb.run_page(broken)
    assert str(raised.value).startswith(str(broken)) and "\n" not in str(raised.value)

"""sim.charts: the four run charts, drawn from real tiny runs' frames, and ``flywheel charts``."""

from __future__ import annotations

import struct

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from sim import charts
from sim.cli import main
from tests.tiny import TINY, USDC_ONLY, jump, run_frames, tiny

EXPECTED_AXES = {  # chart -> panel titles it must have (one axis per metric)
    "prices.png": ["TSLA.M: price", "TSLA.M: premium over NAV", "NVDA.M: price",
                   "NVDA.M: premium over NAV"],
    "pools.png": ["Main pool NAV", "LP share price", "Insurance pool balance"],
    "flywheel.png": ["Activity, depth and users", "New and leaving users"],
    "risk.png": ["Liquidations per day", "Liquidated notional per day", "Bad debt, cumulative",
                 "Auto-deleveraging (ADL), cumulative"],
}  # fmt: skip


def frames(days: float, events: list | None = None,
           **overrides) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A real tiny run of ``days`` (burn-in 1 day) with ``events``."""
    return run_frames(tiny({"clock.days": days, "clock.burn_in_days": 1.0, "events": events or [],
                            **overrides}))


@pytest.fixture(scope="module")
def two_tokens():
    """Ten days, two tokens and two shocks."""
    pin = {"kind": "pin", "token": "TSLA.M", "at": "day 9", "size_usd": 2e5}
    return frames(10, [jump("BTC", 6.5, -0.15), pin], **{"clock.burn_in_days": 2.0})


@pytest.fixture(scope="module")
def figures(two_tokens):
    return charts.build_figures(*two_tokens, title="tiny (seed 1)")


def as_days(values) -> np.ndarray:
    """Matplotlib's date numbers (days) of plotted x values, whatever form they were given in."""
    return np.asarray(mdates.date2num(pd.DatetimeIndex(pd.to_datetime(list(values)))))


def shock_lines(ax) -> list[Line2D]:
    return [ln for ln in ax.lines if ln.get_color() == charts.SHOCK_COLOR]


# ------------------------------------------------------------------ the figures


def test_there_are_four_charts_of_about_1400_by_800_pixels(figures):
    assert list(figures) == list(charts.CHART_FILES)
    for fig in figures.values():
        width, height = fig.get_size_inches() * fig.dpi
        assert (width, height) == (1400, 800)
        assert "tiny (seed 1)" in fig.get_suptitle()


@pytest.mark.parametrize("name", list(EXPECTED_AXES))
def test_every_axis_has_a_title_units_and_a_legend(figures, name):
    axes = figures[name].axes
    titles = [ax.get_title(loc="left") for ax in axes]
    for expected in EXPECTED_AXES[name]:
        assert any(t.startswith(expected) for t in titles), (expected, titles)
    assert len(axes) == len(EXPECTED_AXES[name])
    for ax in axes:
        assert ax.get_ylabel(), ax.get_title(loc="left")
        legend = ax.get_legend()
        assert legend is not None and legend.get_texts(), ax.get_title(loc="left")
    assert any(ax.get_xlabel() == "time (UTC)" for ax in axes)
    assert figures[name].legends, "the figure legend explains shading and shock lines"


def test_prices_show_nav_amm_price_and_oracle_in_usd_per_token(figures):
    top = figures["prices.png"].axes[0]
    assert [t.get_text() for t in top.get_legend().get_texts()] == [
        "NAV", "AMM price", "oracle (margin price)", "fair value (latent x backing)"]  # fmt: skip
    assert top.get_ylabel() == "USD per token"
    assert figures["prices.png"].axes[1].get_ylabel() == "premium (%)"


def test_premium_panel_is_in_percent(two_tokens, figures):
    ts, _ = two_tokens
    low = figures["prices.png"].axes[1]
    line = next(ln for ln in low.lines if ln.get_label().startswith("premium"))
    np.testing.assert_allclose(line.get_ydata(), 100 * ts["premium[TSLA.M]"].to_numpy())


def test_market_closed_periods_are_merged_spans_not_one_patch_per_step(two_tokens, figures):
    ts, _ = two_tokens
    spans = charts.closed_spans(pd.to_datetime(ts["time"]), ts["market_open"])
    closed_steps = int((~ts["market_open"]).sum())
    assert 5 < len(spans) < closed_steps / 5
    patches = figures["prices.png"].axes[0].patches
    rgb = {name: mpl.colors.to_rgb(c) for name, c in (("night", charts.NIGHT_COLOR), ("long", charts.CLOSED_COLOR))}
    shaded = {name: [p for p in patches if isinstance(p, Rectangle) and p.get_facecolor()[:3] == c]
              for name, c in rgb.items()}
    assert len(shaded["night"]) + len(shaded["long"]) == len(spans)     # every closed hour
    long_spans = [s for s in spans if s[1] - s[0] >= charts.LONG_CLOSE]
    assert len(shaded["long"]) == len(long_spans) and len(shaded["night"]) > 0
    assert sum(rgb["night"]) > sum(rgb["long"])                          # nights lighter


def test_closed_spans_run_from_first_closed_step_to_next_open_step():
    times = pd.date_range("2025-07-07", periods=8, freq="h")
    is_open = [True, False, False, True, True, False, True, False]
    spans = charts.closed_spans(times, is_open)
    assert spans == [(times[1], times[3]), (times[5], times[6]),
                     (times[7], times[7] + pd.Timedelta(hours=1))]  # fmt: skip
    assert charts.closed_spans(times, is_open, min_length=pd.Timedelta(hours=2)) == [spans[0]]
    assert charts.closed_spans(times, [True] * 8) == []


def test_every_time_axis_marks_each_shock_and_labels_them_once(two_tokens, figures):
    _, events = two_tokens
    shocks = events[events["kind"] == "shock"]
    assert len(shocks) == 2
    for fig in figures.values():
        for ax in fig.axes:
            assert len(shock_lines(ax)) == len(shocks)
        labels = [t.get_text() for ax in fig.axes for t in ax.texts]
        for detail in shocks["detail"]:
            assert detail in labels


def test_shock_lines_stand_at_the_shock_times(two_tokens, figures):
    _, events = two_tokens
    expected = pd.to_datetime(events.loc[events["kind"] == "shock", "time"]).dt.tz_convert(None)
    xs = [as_days(ln.get_xdata())[0] for ln in shock_lines(figures["pools.png"].axes[0])]
    np.testing.assert_allclose(xs, as_days(expected))


def test_flywheel_lines_are_indexed_to_100_at_the_end_of_burn_in(two_tokens, figures):
    ts, _ = two_tokens
    burn_end = pd.to_datetime(ts.loc[~ts["burn_in"], "time"].iloc[0]).tz_convert(None)
    top = figures["flywheel.png"].axes[0]
    kinds = ("activity", "depth", "users")
    indexed = [ln for ln in top.lines if ln.get_label().split(":")[0] in kinds]
    assert len(indexed) == 4
    for line in indexed:
        x = as_days(line.get_xdata())
        at = np.flatnonzero(np.isclose(x, as_days([burn_end])[0], rtol=0, atol=1e-6))
        assert len(at) == 1, line.get_label()
        assert line.get_ydata()[at[0]] == pytest.approx(100.0)


def test_risk_shows_cumulative_bad_debt(two_tokens):
    ts, events = two_tokens
    ts = ts.copy()       # the tiny run has none: write some in, one deficit per market
    ts.loc[100, "bad_debt_usd[TSLA.M]"] = 1_500.0
    ts.loc[150, "bad_debt_usd[NVDA.M]"] = 700.0
    ts["bad_debt_usd"] = ts["bad_debt_usd[TSLA.M]"] + ts["bad_debt_usd[NVDA.M]"]
    risk = charts.build_figures(ts, events)["risk.png"]
    ax = next(a for a in risk.axes if a.get_title(loc="left").startswith("Bad debt"))
    total = next(ln for ln in ax.lines if ln.get_label() == "total")
    assert total.get_ydata()[-1] == pytest.approx(2_200.0)


def test_a_usdc_only_run_skips_the_token_panels_and_says_so():
    figs = charts.build_figures(*frames(5, **USDC_ONLY), title="usdc")
    prices = figs["prices.png"]
    assert "no stock tokens" in prices.get_suptitle()
    assert [ax.get_title(loc="left") for ax in prices.axes] == [
        "BTC: underlying price", "ETH: underlying price"]  # fmt: skip
    pools = figs["pools.png"].axes[0]
    assert [t.get_text() for t in pools.get_legend().get_texts()] == ["USDC"]


def test_entities_are_found_from_column_names():
    cols = ["step", "nav[TSLA.M]", "premium[TSLA.M]", "nav[NVDA.M]", "volume_usd", "nav"]
    assert charts.entities(cols, "nav") == ["TSLA.M", "NVDA.M"]
    assert charts.entities(cols, "volume_usd") == []


# ------------------------------------------------------------------ the files


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_draw_run_charts_writes_four_valid_pngs(tmp_path):
    ts, events = frames(5)
    paths = charts.draw_run_charts(ts, events, tmp_path / "charts", title="tiny")
    assert [p.name for p in paths] == list(charts.CHART_FILES)
    for path in paths:
        data = path.read_bytes()
        assert png_size(data) == (1400, 800)
        assert len(data) > 30_000, path.name  # a drawn chart, not an empty canvas
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == sorted(charts.CHART_FILES)


# ------------------------------------------------------------------ flywheel charts


def test_flywheel_charts_on_a_missing_folder_exits_2_with_one_line(tmp_path, capsys):
    code = main(["charts", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and "nope" in err


def test_flywheel_charts_on_a_folder_without_a_timeseries_exits_2(tmp_path, capsys):
    assert main(["charts", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "timeseries.parquet" in err


def test_flywheel_charts_redraws_a_stored_run(tmp_path, capsys):
    from sim.run import run
    from sim.scenario import load_scenario

    scenario = load_scenario(TINY)
    result = run(scenario, out=tmp_path, charts=False)
    assert not (result.path / "charts").exists()
    assert main(["charts", str(result.path)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(result.path / "charts" / name) for name in charts.CHART_FILES]
    for name in charts.CHART_FILES:
        assert png_size((result.path / "charts" / name).read_bytes()) == (1400, 800)


def test_the_real_models_frames_chart_with_every_panel_filled():
    from sim.model import FlywheelModel
    from sim.scenario import load_scenario

    model = FlywheelModel(scenario=load_scenario(TINY), rng=1)
    for _ in range(model.n_steps):
        model.step()
    figs = charts.build_figures(model.timeseries(), model.events_frame(), title="tiny")
    for name, fig in figs.items():
        for ax in fig.axes:
            labels = [t.get_text() for t in ax.get_legend().get_texts()]
            assert not any(label.startswith("no ") for label in labels), (name, labels)


def test_shocks_at_one_time_share_one_line_and_one_label():
    ts, events = frames(4, [jump("BTC", 2.0), jump("ETH", 2.0)])
    fig = charts.build_figures(ts, events)["risk.png"]
    ax = fig.axes[0]
    assert len(shock_lines(ax)) == 1
    assert [t.get_text() for t in ax.texts] == ["crypto_jump BTC + crypto_jump ETH"]


def test_an_empty_risk_panel_says_so_and_shows_no_negative_dollars():
    ts, events = frames(4)
    for col in ts.columns:
        if col.startswith("adl_usd"):
            ts[col] = 0.0
    ax = next(a for a in charts.build_figures(ts, events)["risk.png"].axes
              if a.get_title(loc="left").startswith("Auto-deleveraging"))  # fmt: skip
    assert ax.get_title(loc="left").endswith("(none in this run)")
    assert ax.get_ylim() == (0, 1)

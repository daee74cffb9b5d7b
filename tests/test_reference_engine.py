"""The whole model on the plain-Python twins (``kernels="reference"``) tells the same story as on
the Cython kernels: the same events in the same order (kinds, steps, accounts, agents) and the
same numbers to 1e-9 relative. The twins are the specification; where the two disagree, one
of them is wrong.

``pytest tests/test_reference_engine.py -s`` prints the agreement seen and each engine's time.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import time

import mesa
import numpy as np
import pandas as pd
import pytest

import kernels
from kernels import ENGINES, KernelSet, kernel_set
from kernels.params import BookConfig
from sim.model import FlywheelModel
from sim.scenario import scenario_from_dict

RTOL = 1e-9
EXACT_EVENT_COLUMNS = ("step", "time", "kind", "market", "account", "agent", "detail")
AMOUNT_COLUMNS = ("amount_tokens", "amount_usd")
# Columns that measure rounding itself (the ledger audit's relative error, ~1e-16): no relative
# agreement is expected, only that both engines conserve money to rounding.
ROUNDING_COLUMNS = {"conservation_error": 1e-12}


# ------------------------------------------------------------------ comparing two runs


def relative_differences(a: pd.Series, b: pd.Series) -> tuple[float, float]:
    """(largest |a - b| / max(|a|, |b|), the same ignoring rounding noise) over the rows; NaN
    matching NaN agrees.

    Rounding noise: a difference below 1e-12 of the column's largest magnitude, where a value
    is a small difference of large ones (a dust withdrawal, a PnL summing to nearly 0) and a
    relative error means nothing.
    """
    x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
    if np.any(np.isnan(x) != np.isnan(y)):
        return np.inf, np.inf
    both_nan = np.isnan(x)
    diff = np.where(both_nan, 0.0, np.abs(x - y))
    scale = np.where(both_nan, 0.0, np.maximum(np.abs(x), np.abs(y)))
    if not diff.size:
        return 0.0, 0.0
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=diff > 0)
    noise = diff <= 1e-12 * np.max(scale)
    return float(np.max(rel)), float(np.max(np.where(noise, 0.0, rel)))


def assert_same_run(a: FlywheelModel, b: FlywheelModel) -> float:
    """Events identical but for amounts (within RTOL), time series within RTOL; returns the
    largest relative difference seen, rounding noise included."""
    ea, eb = a.events_frame(), b.events_frame()
    assert len(ea) == len(eb), f"{len(ea)} events vs {len(eb)}"
    for col in EXACT_EVENT_COLUMNS:
        differ = np.flatnonzero(ea[col].to_numpy() != eb[col].to_numpy())
        assert differ.size == 0, f"events.{col} first differs at row {differ[0]}:\n" \
                                 f"{ea.iloc[differ[0]].to_dict()}\n{eb.iloc[differ[0]].to_dict()}"
    worst = 0.0
    for col in AMOUNT_COLUMNS:
        rel, beyond_noise = relative_differences(ea[col], eb[col])
        assert beyond_noise <= RTOL, f"events.{col}: relative difference {beyond_noise:.3g}"
        worst = max(worst, rel)
    ta, tb = a.timeseries(), b.timeseries()
    assert list(ta.columns) == list(tb.columns) and len(ta) == len(tb)
    for col in ta.columns:
        if col in ROUNDING_COLUMNS:
            assert max(ta[col].max(), tb[col].max()) <= ROUNDING_COLUMNS[col], col
        elif pd.api.types.is_float_dtype(ta[col]):
            rel, beyond_noise = relative_differences(ta[col], tb[col])
            assert beyond_noise <= RTOL, f"timeseries.{col}: relative difference {beyond_noise:.3g}"
            worst = max(worst, rel)
        else:
            assert ta[col].equals(tb[col]), f"timeseries.{col} differs"
    return worst


def run_both(scenario, rng: int, overrides: dict | None = None
             ) -> tuple[FlywheelModel, FlywheelModel, dict[str, float]]:
    """The same run on each engine; also the wall time of each (s)."""
    models, seconds = {}, {}
    for engine in ENGINES:
        t0 = time.perf_counter()
        m = FlywheelModel(scenario, rng=rng, overrides=overrides, kernels=engine)
        while m.running:
            m.step()
        models[engine], seconds[engine] = m, time.perf_counter() - t0
    return models["cython"], models["reference"], seconds


# ------------------------------------------------------------------ parity


def test_baseline_for_10_days_is_the_same_run_on_both_engines():
    cy, ref, seconds = run_both("scenarios/baseline.yaml", 0, {"clock.days": 10})
    assert cy.kernels.engine == "cython" and ref.kernels.engine == "reference"
    assert len(cy.events_frame()) > 1000            # a run with something to compare
    worst = assert_same_run(cy, ref)
    print(f"\nbaseline, 10 days, seed 0: max relative difference {worst:.2e}; "
          f"cython {seconds['cython']:.1f} s, reference {seconds['reference']:.1f} s "
          f"({seconds['reference'] / seconds['cython']:.0f}x)")


def test_a_crash_liquidates_the_same_accounts_on_both_engines():
    """Liquidations, the deficit waterfall and keepers: the paths the calm baseline misses."""
    sc = scenario_from_dict({
        "name": "crash", "clock": {"days": 3.0, "burn_in_days": 0.5},
        "agents": {"liquidity_providers": 10, "traders": 150, "market_makers": 2, "arbitrageurs": 2,
                   "trader": {"leverage_fraction_median": 0.97, "leverage_fraction_sd": 0.0, "perp_share": 1.0,
                              "styles": {"momentum": 1.0}}},
        "events": [{"kind": "crypto_jump", "asset": "BTC", "at": "day 1.5", "size": -0.4},
                   {"kind": "crypto_jump", "asset": "ETH", "at": "day 1.5", "size": -0.45}],
    })
    cy, ref, _ = run_both(sc, 4)
    assert (cy.events_frame().kind == "liquidation").sum() > 0
    worst = assert_same_run(cy, ref)
    print(f"\ncrash: max relative difference {worst:.2e}")


# ------------------------------------------------------------------ the kernel set


def test_kernel_set_names_the_cython_modules_or_their_twins():
    cy, ref = kernel_set("cython"), kernel_set("reference")
    assert isinstance(cy, KernelSet) and kernel_set() == cy
    for field in ("pricing", "amm", "pool", "liquidation", "trade_book"):
        assert getattr(cy, field).__name__ == f"kernels.{field}"
        assert getattr(ref, field).__name__ == f"kernels.reference.{field}"
    assert (cy.engine, ref.engine) == ("cython", "reference")


def test_an_unknown_engine_is_a_value_error_naming_the_option_and_the_choices():
    with pytest.raises(ValueError,
                       match="kernels: must be one of 'cython', 'reference', got 'numba'"):
        kernel_set("numba")
    with pytest.raises(ValueError, match="kernels"):
        FlywheelModel("scenarios/baseline.yaml", rng=0, kernels="numba")


def test_the_kernels_package_imports_no_simulation_code():
    code = ("import sys, kernels; kernels.kernel_set('cython'); kernels.kernel_set('reference'); "
            "bad = [m for m in ('sim', 'agents', 'mesa', 'pandas') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _public_functions(module) -> dict:
    return {name: obj for name, obj in vars(module).items()
            if callable(obj) and not name.startswith("_")
            and getattr(obj, "__module__", None) == module.__name__}


# Argument checkers the Cython pool module shares with the Cython liquidation module: part of
# the Python layer that validates, not kernels (the twins trust their inputs).
CHECKERS = {"as_index_array", "as_finite_array", "as_inout_array", "as_scalar", "as_count",
            "as_stress_grid"}


@pytest.mark.parametrize("field", ["pricing", "amm", "pool", "liquidation", "trade_book"])
def test_every_twin_has_each_kernel_function_with_its_parameters(field):
    cy, ref = getattr(kernel_set("cython"), field), getattr(kernel_set("reference"), field)
    for name, fn in _public_functions(cy).items():
        if name in CHECKERS:
            continue
        assert hasattr(ref, name), f"kernels.reference.{field} has no {name}"
        if inspect.isclass(fn):        # the trade book: every attribute and method of an instance
            kernel_obj, twin_obj = fn(BookConfig(), 3), getattr(ref, name)(BookConfig(), 3)
            for member in (m for m in dir(kernel_obj) if not m.startswith("_")):
                assert hasattr(twin_obj, member), f"reference {name} lacks {member}"
                if inspect.ismethod(getattr(twin_obj, member)):
                    _assert_same_parameters(f"{name}.{member}", getattr(kernel_obj, member),
                                            getattr(twin_obj, member))
            continue
        _assert_same_parameters(f"{field}.{name}", fn, getattr(ref, name))


def _assert_same_parameters(what: str, kernel_fn, twin_fn) -> None:
    want = list(inspect.signature(kernel_fn).parameters)
    got = list(inspect.signature(twin_fn).parameters)
    assert got == want, f"{what}: twin takes {got}, kernel takes {want}"


def test_the_model_hands_its_engine_to_every_object_that_calls_kernels():
    m = FlywheelModel("scenarios/baseline.yaml", rng=0, overrides={"clock.days": 8},
                      kernels="reference")
    ref = kernel_set("reference")
    for market in m.markets.values():
        assert isinstance(market.book, ref.trade_book.TradeBook)
        assert market.liq_kernel is ref.liquidation and market.pool_kernel is ref.pool
        assert market.series._pricing is ref.pricing
    for token in m.world.tokens.values():
        assert token.amm._kernel is ref.amm
    assert kernels.kernel_set("cython").trade_book.TradeBook is not ref.trade_book.TradeBook


def test_mesa_batch_run_passes_kernels_as_a_keyword():
    sc = scenario_from_dict({"name": "t", "clock": {"days": 1.0, "burn_in_days": 0.25},
                             "agents": {"traders": 20, "liquidity_providers": 4}})
    rows = mesa.batch_run(FlywheelModel,
                          parameters={"scenario": [sc], "kernels": ["cython", "reference"]},
                          rng=[1], max_steps=4, number_processes=1, display_progress=False)
    by = {r["kernels"]: r for r in rows}
    assert set(by) == {"cython", "reference"}
    assert by["reference"]["insurance_usd"] == pytest.approx(by["cython"]["insurance_usd"],
                                                             rel=RTOL)


# ------------------------------------------------------------------ sim.run and the CLI


def test_run_records_the_engine_and_gives_each_engine_its_own_run_key(tmp_path):
    from sim import run as run_mod
    from tests.tiny import tiny

    sc = tiny({"clock.days": 1.0, "clock.burn_in_days": 0.25})
    made = []

    def factory(scenario, rng=None, kernels="cython"):
        made.append(kernels)
        return FlywheelModel(scenario, rng, kernels=kernels)

    cy = run_mod.run(sc, seed=1, out=tmp_path, charts=False, model_factory=factory)
    ref = run_mod.run(sc, seed=1, out=tmp_path, charts=False, model_factory=factory,
                      kernels="reference")
    assert made == ["cython", "reference"]
    assert cy.info["versions"]["kernels"] == "cython"
    assert ref.info["versions"]["kernels"] == "reference"
    assert cy.info["run_key"] == run_mod.run_key(sc, 1) == run_mod.run_key(sc, 1, "cython")
    assert ref.info["run_key"] == run_mod.run_key(sc, 1, "reference") != cy.info["run_key"]
    assert cy.path != ref.path
    with pytest.raises(ValueError, match="kernels"):
        run_mod.run(sc, seed=1, model_factory=factory, kernels="numba")


def test_flywheel_run_takes_kernels(monkeypatch, tmp_path, capsys):
    import sim.run
    from sim.cli import main

    seen = {}

    def fake_run(scenario, **kwargs):
        seen.update(kwargs)
        summary = {"scenario": "t", "seed": 1}
        info = {"run_key": "k", "wall_time_s": 1.0, "versions": {}}
        return sim.run.RunResult(pd.DataFrame(), pd.DataFrame(), summary, info)

    monkeypatch.setattr(sim.run, "run", fake_run)
    monkeypatch.setattr(sim.run, "format_summary_table", lambda summary: "")
    path = tmp_path / "t.yaml"
    path.write_text("name: t\nclock: {days: 1, burn_in_days: 0.25}\n")
    assert main(["run", str(path), "--quiet", "--kernels", "reference"]) == 0
    assert seen["kernels"] == "reference" and "reference kernels" in capsys.readouterr().out
    assert main(["run", str(path), "--quiet"]) == 0 and seen["kernels"] == "cython"
    with pytest.raises(SystemExit) as exc:
        main(["run", str(path), "--kernels", "numba"])
    assert exc.value.code == 2


def test_the_benchs_engine_row_is_judged_against_its_own_floor():
    from sim.bench.main import verdict
    from sim.bench.model import MIN_VS_REFERENCE, EngineRow

    nan = float("nan")
    slow = 200.0 / (MIN_VS_REFERENCE / 2)            # reference steps/s at half the floor
    assert verdict(EngineRow("model: engines", 48, 200.0, 200.0 / 20, nan)) == "PASS"
    assert verdict(EngineRow("model: engines", 48, 200.0, slow, nan)) == "MISS"

"""Sweep files (design 13): points of grid, zip and sample; seeds; one-line errors, exit 2."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import qmc

from sim.cli import main
from sim.errors import UserInputError
from sim.sweep.plan import make_plan
from sim.sweep.spec import load_sweep, points, seeds
from tests.sweeps import write_sweep


def test_grid_is_the_cartesian_product_in_file_order(tmp_path):
    spec = load_sweep(write_sweep(tmp_path, grid={"insurance.initial": [0.0, 0.01],
                                                  "pool.initial_usd": [1e5, 2e5, 3e5]}))
    got = points(spec)
    assert len(got) == 6
    assert got[0] == {"insurance.initial": 0.0, "pool.initial_usd": 1e5}
    assert got[1] == {"insurance.initial": 0.0, "pool.initial_usd": 2e5}
    assert got[5] == {"insurance.initial": 0.01, "pool.initial_usd": 3e5}


def test_zip_varies_lists_together(tmp_path):
    spec = load_sweep(write_sweep(tmp_path, grid=None, zip={"insurance.initial": [0.0, 0.01],
                                                            "pool.initial_usd": [1e5, 2e5]}))
    assert points(spec) == [{"insurance.initial": 0.0, "pool.initial_usd": 1e5},
                            {"insurance.initial": 0.01, "pool.initial_usd": 2e5}]


def test_lhs_sample_is_a_latin_hypercube_inside_the_ranges(tmp_path):
    spec = load_sweep(write_sweep(tmp_path, grid=None, sample={
        "method": "lhs", "n": 16, "ranges": {"insurance.initial": [0.0, 0.1],
                                             "pool.initial_usd": [1e5, 3e5]}}))
    x = np.array([[p["insurance.initial"], p["pool.initial_usd"]] for p in points(spec)])
    assert x.shape == (16, 2)
    unit = qmc.scale(x, [0.0, 1e5], [0.1, 3e5], reverse=True)
    # one point in each of the 16 strata of every dimension
    for d in range(2):
        assert sorted(np.floor(unit[:, d] * 16).astype(int)) == list(range(16))
    assert points(spec) == points(load_sweep(write_sweep(tmp_path, grid=None,
                                                         sample=spec.sample.model_dump())))


def test_saltelli_sample_has_salib_row_count(tmp_path):
    spec = load_sweep(write_sweep(tmp_path, grid=None, sample={
        "method": "saltelli", "n": 8, "ranges": {"insurance.initial": [0.0, 0.1],
                                                 "pool.initial_usd": [1e5, 3e5]}}))
    assert len(points(spec)) == 8 * (2 + 2)


def test_seeds_are_spawned_from_the_root_and_stable_as_more_are_asked(tmp_path):
    few = seeds(load_sweep(write_sweep(tmp_path, seeds=3, root_seed=7)))
    more = seeds(load_sweep(write_sweep(tmp_path, seeds=5, root_seed=7)))
    expected = [int(c.generate_state(1)[0]) for c in np.random.SeedSequence(7).spawn(5)]
    assert more == expected and few == expected[:3]
    assert len(set(more)) == 5


@pytest.mark.parametrize(("fields", "needle"), [
    ({"zip": {"insurance.initial": [0.0, 0.01], "pool.initial_usd": [1e5]}, "grid": None},
     "zip: lists varied together need equal lengths (insurance.initial has 2, "
     "pool.initial_usd has 1)"),
    ({"sample": {"method": "lhs", "n": 4, "ranges": {"insurance.initial": [0, 0.1]}}},
     "give exactly one of grid:, zip:, sample: (this file has grid and sample)"),
    ({"grid": None}, "give exactly one of grid:, zip:, sample: (it has none)"),
    ({"sample": {"method": "sobol", "n": 6, "ranges": {"insurance.initial": [0, 0.1]}},
      "grid": None}, "n: sobol needs a power of 2"),
    ({"set": {"insurance.initial": 0.01}}, "set: insurance.initial is also varied"),
    ({"seeds": 0}, "seeds: Input should be greater than 0"),
    ({"grids": {}}, "grids: unknown key"),
])
def test_a_bad_sweep_file_is_one_line(tmp_path, fields, needle):
    path = write_sweep(tmp_path, **fields)
    with pytest.raises(UserInputError) as info:
        load_sweep(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert needle in message


def test_unknown_path_names_sweep_file_scenario_point_and_path(tmp_path):
    path = write_sweep(tmp_path, grid={"insurance.initial": [0.0], "insurance.intial": [0.1]})
    with pytest.raises(UserInputError) as info:
        make_plan(load_sweep(path), path)
    message = str(info.value)
    assert message.startswith(f"{path}: scenario tiny.yaml, point 0 (insurance.initial=0")
    assert "insurance.intial: unknown path" in message and "did you mean 'initial'" in message


def test_a_value_the_scenario_refuses_names_its_point(tmp_path):
    path = write_sweep(tmp_path, grid={"insurance.initial": [0.0, -0.5]})
    with pytest.raises(UserInputError) as info:
        make_plan(load_sweep(path), path)
    assert "point 1 (insurance.initial=-0.5): insurance.initial: " in str(info.value)


def test_set_on_the_command_line_may_not_touch_what_the_sweep_varies(tmp_path):
    path = write_sweep(tmp_path)
    with pytest.raises(UserInputError, match="--set: insurance.initial is what"):
        make_plan(load_sweep(path), path, {"insurance.initial": 0.1})


def test_each_scenario_may_carry_its_own_overrides(tmp_path):
    path = write_sweep(tmp_path, scenarios=[{"file": str(tmp_path / ".." / tmp_path.name /
                                                     "tiny.yaml"),
                                             "set": {"clock.days": 1.5}}])
    (tmp_path / "tiny.yaml").write_text("name: own\nclock: {days: 3, burn_in_days: 0.5}\n")
    plan = make_plan(load_sweep(path), path, {"pool.initial_usd": 3e5})
    task = next(plan.tasks())
    assert task.overrides == {"clock.days": 1.5, "agents.traders": 8,
                              "agents.liquidity_providers": 4, "pool.initial_usd": 3e5,
                              "insurance.initial": 0.0}
    assert task.scenario == "own" and plan.loaded[(0, 0)].clock.days == 1.5


@pytest.mark.parametrize("fields", [
    {"grid": {"insurance.nope": [0.0]}},
    {"zip": {"insurance.initial": [0.0, 0.01], "pool.initial_usd": [1e5]}, "grid": None},
    {"sample": {"method": "lhs", "n": 4, "ranges": {"insurance.initial": [0, 0.1]}}},
])
def test_cli_refuses_a_bad_sweep_with_exit_2_before_any_run(tmp_path, capsys, fields):
    path = write_sweep(tmp_path, **fields)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: ") and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_validate_checks_the_shipped_sweeps_as_sweeps(capsys):
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "scenarios" / "sweeps"
    files = sorted(str(p) for p in folder.glob("*.yaml"))
    assert len(files) == 2
    assert main(["validate", *files]) == 0
    assert capsys.readouterr().out.splitlines() == [f"OK {f}" for f in files]


def test_validate_names_a_bad_sweep_point(tmp_path, capsys):
    path = write_sweep(tmp_path, grid={"insurance.initial": [0.0, -1.0]})
    assert main(["validate", str(path)]) == 2
    assert "point 1 (insurance.initial=-1): insurance.initial" in capsys.readouterr().err

"""``base:`` in scenario files (design 13): the merging rules, one-line errors through
``flywheel validate``, ``--resolved``, and the shipped shock scenarios as the baseline plus
their events."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sim.cli import main
from sim.errors import UserInputError
from sim.scenario import Scenario, dump_scenario, load_scenario, scenario_from_dict
from sim.scenario.inherit import overlay
from sim.scenario.schema import scenario_json_schema
from sim.study.spec import is_study_file

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BASELINE = SCENARIOS / "baseline.yaml"
NAMED_SHOCKS = {"depeg", "premium", "pin", "weekend_gap", "crypto_crash", "black_thursday",
                "tsla_split"}
SHOCKS = sorted(p for p in SCENARIOS.glob("*.yaml")      # scenarios/study.yaml is a study
                if p.stem not in ("baseline", "usdc_control") and not is_study_file(p))
OWN_FIELDS = {"base", "name", "description", "events"}     # what a shock file states by itself


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def validate_error(capsys, *args: str) -> str:
    """The one stderr line of a ``flywheel validate`` that must exit 2."""
    assert main(["validate", *args]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0].removeprefix("error: ")


# ---------------------------------------------------------------- the merging rules


def test_overlay_merges_mappings_replaces_the_rest_and_null_deletes():
    under = {"a": {"x": 1, "y": [1, 2], "z": {"p": 1}}, "b": 2, "c": 3}
    over = {"a": {"y": [3], "z": {"q": 2}}, "b": None, "d": {"e": None, "f": 1}}
    assert overlay(under, over) == {"a": {"x": 1, "y": [3], "z": {"p": 1, "q": 2}}, "c": 3,
                                    "d": {"f": 1}}
    assert under == {"a": {"x": 1, "y": [1, 2], "z": {"p": 1}}, "b": 2, "c": 3}   # untouched


def test_a_file_is_laid_over_its_base(tmp_path):
    write(tmp_path / "base.yaml", """
name: base
description: the base's question
seed: 4
clock: {days: 30, step_minutes: 30}
insurance: {initial: 0.1}
markets:
  TSLA.M: {strikes: [-0.1, 0.0, 0.1], oracle: nav}
events:
  - {kind: crypto_jump, asset: BTC, at: day 10, size: -0.1}
  - {kind: crypto_jump, asset: ETH, at: day 11, size: -0.1}
""")
    child = write(tmp_path / "child.yaml", """
base: base.yaml
name: child
clock: {days: 20}                      # nested merge: step_minutes stays 30
insurance: {initial: null}             # null deletes: back to the model default
markets:
  TSLA.M: {strikes: [0.05]}            # a list replaces, the oracle stays
events:
  - {kind: crypto_jump, asset: BTC, at: day 12, size: -0.2}
""")
    s = load_scenario(child)
    default = Scenario(name="x")
    assert (s.name, s.description, s.seed) == ("child", "the base's question", 4)
    assert (s.clock.days, s.clock.step_minutes) == (20, 30)
    assert s.clock.burn_in_days == default.clock.burn_in_days
    assert s.insurance.initial == default.insurance.initial != 0.1
    assert s.markets["TSLA.M"].strikes == [0.05] and s.markets["TSLA.M"].oracle == "nav"
    assert [(e.asset, e.size) for e in s.events] == [("BTC", -0.2)]


def test_null_deletes_a_whole_section_of_the_base(tmp_path):
    write(tmp_path / "base.yaml", "name: base\nmarkets: {TSLA.M: {oracle: nav}}\n"
                                  "events: [{kind: crypto_jump, asset: BTC, at: day 10}]\n")
    s = load_scenario(write(tmp_path / "c.yaml", "base: base.yaml\nname: c\nmarkets: null\n"
                                                 "events: null\n"))
    default = Scenario(name="c")
    assert s.events == [] and s.markets == default.markets


def test_a_base_of_a_base_each_resolved_against_the_file_that_wrote_it(tmp_path):
    write(tmp_path / "lib" / "root" / "grand.yaml", "name: grand\nseed: 5\nclock: {days: 20}\n")
    write(tmp_path / "lib" / "mid.yaml",
          "base: root/grand.yaml\nname: mid\ninsurance: {initial: 0.1}\nclock: {days: 15}\n")
    child = write(tmp_path / "child.yaml", "base: lib/mid.yaml\nname: child\nseed: 6\n")
    s = load_scenario(child)
    assert (s.name, s.seed, s.clock.days, s.insurance.initial) == ("child", 6, 15, 0.1)
    assert load_scenario(tmp_path / "lib" / "mid.yaml").seed == 5


def test_price_files_resolve_against_the_folder_of_the_file_that_names_them(tmp_path, monkeypatch):
    write(tmp_path / "data" / "tsla.csv", "time,price\n")
    write(tmp_path / "data" / "wide.csv", "time,BTC\n")
    write(tmp_path / "scenarios" / "eth.csv", "time,price\n")
    write(tmp_path / "data" / "replay.yaml", "name: replay\nprice_files:\n"
          "  TSLA: {path: tsla.csv, time_unit: iso}\n")
    write(tmp_path / "scenarios" / "child.yaml",
          "base: ../data/replay.yaml\nname: child\n"
          "price_files:\n  TSLA: {time_column: ts}\n  ETH: {path: eth.csv}\n")
    monkeypatch.chdir(tmp_path / "scenarios")           # not the folder of either file's paths
    s = load_scenario("child.yaml")
    tsla, eth = s.price_files["TSLA"], s.price_files["ETH"]
    assert Path(tsla.path) == tmp_path / "data" / "tsla.csv"       # written by the base
    assert (tsla.time_unit, tsla.time_column) == ("iso", "ts")      # merged key by key
    assert Path(eth.path) == tmp_path / "scenarios" / "eth.csv"    # written by the child
    shorthand = write(tmp_path / "elsewhere" / "c.yaml", "base: ../data/wide_base.yaml\nname: c\n")
    write(tmp_path / "data" / "wide_base.yaml", "name: w\nprice_file: {path: wide.csv}\n")
    assert Path(load_scenario(shorthand).price_file.path) == tmp_path / "data" / "wide.csv"


def test_a_scenario_given_as_data_cannot_name_a_base():
    with pytest.raises(UserInputError, match=r"^d\.yaml: base: only a scenario file"):
        scenario_from_dict({"name": "x", "base": "baseline.yaml"}, source="d.yaml")


# ---------------------------------------------------------------- one-line errors, exit 2


def test_a_cycle_is_one_line_naming_the_chain(tmp_path, capsys):
    a = write(tmp_path / "a.yaml", "base: b.yaml\nname: a\n")
    b = write(tmp_path / "b.yaml", "base: a.yaml\nname: b\n")
    assert validate_error(capsys, str(a)) == f"{a}: base: cycle {a} -> {b} -> {a}"
    me = write(tmp_path / "me.yaml", "base: ./me.yaml\nname: me\n")
    assert validate_error(capsys, str(me)) == f"{me}: base: cycle {me} -> {me}"


def test_a_cycle_further_down_the_chain_is_found(tmp_path, capsys):
    top = write(tmp_path / "top.yaml", "base: sub/b.yaml\nname: top\n")
    b = write(tmp_path / "sub" / "b.yaml", "base: c.yaml\nname: b\n")
    c = write(tmp_path / "sub" / "c.yaml", "base: ../sub/b.yaml\nname: c\n")
    assert validate_error(capsys, str(top)) == f"{top}: base: cycle {top} -> {b} -> {c} -> {b}"


def test_a_missing_base_names_the_file_that_asked_for_it(tmp_path, capsys):
    write(tmp_path / "mid.yaml", "base: gone.yaml\nname: mid\n")
    child = write(tmp_path / "child.yaml", "base: mid.yaml\nname: child\n")
    line = validate_error(capsys, str(child))
    assert line == f"{tmp_path / 'mid.yaml'}: base: no such file {tmp_path / 'gone.yaml'}"


@pytest.mark.parametrize("value, shown", [("[a.yaml]", "list ['a.yaml']"), ("3", "int 3"),
                                          ("null", "null"), ('""', "an empty string")])
def test_a_base_that_is_not_a_path_is_one_line(tmp_path, capsys, value, shown):
    path = write(tmp_path / "s.yaml", f"base: {value}\nname: s\n")
    line = validate_error(capsys, str(path))
    assert line == f"{path}: base: must be the path of a scenario file, got {shown}"


def test_a_file_with_a_base_must_name_itself(tmp_path, capsys):
    write(tmp_path / "base.yaml", "name: base\n")
    path = write(tmp_path / "s.yaml", "base: base.yaml\nseed: 3\n")
    line = validate_error(capsys, str(path))
    assert line.startswith(f"{path}: name: required")
    assert "never inherited" in line


def test_a_bad_base_file_is_named_itself(tmp_path, capsys):
    write(tmp_path / "base.yaml", "name: base\nclock: {days: [\n")
    path = write(tmp_path / "s.yaml", "base: base.yaml\nname: s\n")
    assert validate_error(capsys, str(path)).startswith(f"{tmp_path / 'base.yaml'}: line ")
    write(tmp_path / "base.yaml", "name: base\nclock: {dayz: 3}\n")     # invalid once merged
    assert validate_error(capsys, str(path)).startswith(f"{path}: clock.dayz: unknown key")


# ---------------------------------------------------------------- --resolved


@pytest.mark.parametrize("path", [SCENARIOS / "pin.yaml", SCENARIOS / "tsla_split.yaml"],
                         ids=lambda p: p.stem)
def test_validate_resolved_prints_yaml_that_loads_back_to_the_same_scenario(path, capsys, tmp_path):
    assert main(["validate", "--resolved", str(path), "--set", "seed=9"]) == 0
    out = capsys.readouterr().out
    first, _, text = out.partition("\n")
    assert first == f"OK {path}"
    data = yaml.safe_load(text)
    assert "base" not in data and data["seed"] == 9
    assert data["agents"]["traders"] == load_scenario(BASELINE).agents.traders
    again = load_scenario(write(tmp_path / "resolved.yaml", text))
    assert again == load_scenario(path, ["seed=9"])


def test_validate_resolved_keeps_a_price_file_found_through_a_base(tmp_path, capsys, monkeypatch):
    write(tmp_path / "data" / "tsla.csv", "time,price\n")
    write(tmp_path / "data" / "replay.yaml", "name: r\nprice_files: {TSLA: {path: tsla.csv}}\n")
    child = write(tmp_path / "s" / "c.yaml", "base: ../data/replay.yaml\nname: c\n")
    scenario = load_scenario(child)
    monkeypatch.chdir(tmp_path)
    resolved = write(tmp_path / "elsewhere" / "resolved.yaml", dump_scenario(scenario))
    assert load_scenario(resolved) == scenario


# ---------------------------------------------------------------- the schema


def test_the_schema_documents_base_as_an_optional_string():
    schema = scenario_json_schema()
    base = schema["properties"]["base"]
    assert base["type"] == "string" and "base" not in schema.get("required", [])
    assert "null deletes" in base["description"]


# ---------------------------------------------------------------- the shipped shocks

Path_ = tuple[str, ...]


def commented_fields(text: str) -> tuple[list[Path_], list[Path_]]:
    """(every leaf field a file sets besides its own fields, those whose line has no comment).

    A leaf is a scalar, a list, or an empty mapping; its lines run from its key to its value's
    end, and one of them must carry a ``#`` comment (outside quotes) saying why it is set.
    """
    lines = text.splitlines()
    leaves: list[tuple[Path_, int, int]] = []

    def walk(node: yaml.Node, path: Path_) -> None:
        for key, value in node.value:
            here = (*path, key.value)
            if not path and key.value in OWN_FIELDS:
                continue
            if isinstance(value, yaml.MappingNode) and value.value:
                walk(value, here)
            else:
                end = value.end_mark.line - (1 if value.end_mark.column == 0 else 0)
                leaves.append((here, key.start_mark.line, max(end, key.start_mark.line)))

    walk(yaml.compose(text), ())
    bare = [p for p, first, last in leaves
            if not any(_has_comment(lines[i]) for i in range(first, last + 1))]
    return [p for p, _, _ in leaves], bare


def _has_comment(line: str) -> bool:
    unquoted = re.sub(r"\"[^\"]*\"|'[^']*'", "", line)
    return re.search(r"(^|\s)#", unquoted) is not None


def differences(a, b, path: Path_ = ()) -> list[Path_]:
    """Paths at which two dumped scenarios differ (mappings compared key by key)."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [] if a == b else [path]
    out: list[Path_] = []
    for k in dict.fromkeys([*a, *b]):
        out += [(*path, k)] if (k in a) != (k in b) else differences(a[k], b[k], (*path, k))
    return out


def unexplained(path: Path, baseline: Path = BASELINE) -> list[str]:
    """What keeps ``path`` from being the baseline plus its events: fields set without a comment
    beside them, and resolved values that differ from the baseline's where the file sets none."""
    text = path.read_text(encoding="utf-8")
    fields, bare = commented_fields(text)
    problems = [f"{'.'.join(p)} is set without a comment saying why" for p in bare]
    mine = yaml.safe_load(dump_scenario(load_scenario(path)))
    base = yaml.safe_load(dump_scenario(load_scenario(baseline)))
    for diff in differences(mine, base):
        explained = diff[0] in OWN_FIELDS or any(
            diff[:len(f)] == f or f[:len(diff)] == diff for f in fields)
        if not explained:
            problems.append(f"{'.'.join(map(str, diff))} differs from the baseline")
    return problems


def test_every_named_shock_is_shipped():
    assert NAMED_SHOCKS <= {p.stem for p in SHOCKS}


@pytest.mark.parametrize("path", SHOCKS, ids=lambda p: p.stem)
def test_a_shock_scenario_is_the_baseline_plus_its_events(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["base"] == "baseline.yaml" and data["name"] == path.stem and data["events"]
    assert unexplained(path) == []


def test_the_check_finds_a_difference_without_a_reason(tmp_path):
    events = ("events:\n  - {kind: weekend_gap, asset: TSLA, at: '2025-08-16T12:00:00Z', "
              "size: -0.128}\n")
    bare = write(tmp_path / "bare.yaml", "base: baseline.yaml\nname: bare\n"
                 "agents: {traders: 800}\n" + events)
    write(tmp_path / "baseline.yaml", BASELINE.read_text(encoding="utf-8"))
    assert unexplained(bare, BASELINE) == ["agents.traders is set without a comment saying why"]
    said = write(tmp_path / "said.yaml", "base: baseline.yaml\nname: said\n"
                 "agents: {traders: 800}   # the comparison needs the default population\n" + events)
    assert unexplained(said, BASELINE) == []
    # A shock written out on its own (no base:) loses the baseline's 892 traders unnoticed.
    alone = write(tmp_path / "alone.yaml", "name: alone  # on its own\n" + events)
    assert unexplained(alone, BASELINE) == ["agents.traders differs from the baseline"]
    assert _has_comment("seed: 3   # why") and _has_comment("  # a comment line")
    assert not _has_comment("at: '2025-08-16T12:00:00Z#'") and not _has_comment('a: "x # y"')

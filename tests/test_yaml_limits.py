"""Scenario YAML is read with limits: no file or ``--set`` value can exhaust memory or recursion,
and every problem is one line naming the file (issue 10)."""

from __future__ import annotations

import os
import sys

import pytest

from sim.cli import main
from sim.errors import UserInputError
from sim.scenario import load_scenario
from sim.scenario import yaml_limits as yl


def write(tmp_path, text: str, name: str = "s.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(path, match: str) -> str:
    with pytest.raises(UserInputError) as err:
        load_scenario(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    assert match in message, message
    return message


def test_a_yaml_nested_thousands_deep_is_refused_in_one_line(tmp_path):
    depth = 3 * sys.getrecursionlimit()
    block = 300                                 # indented: the file grows as depth squared
    for text in ("x: " + "[" * depth + "]" * depth,
                 "x: " + "{a: " * depth + "1" + "}" * depth,
                 "x:\n" + "".join(" " * i + "- \n" for i in range(1, block))):
        refused(write(tmp_path, "name: t\n" + text + "\n"), "invalid YAML")


def test_nesting_just_inside_the_limit_reaches_the_validator(tmp_path):
    inside = yl.MAX_DEPTH - 1                   # the top-level mapping is the first level
    refused(write(tmp_path, "name: t\nx: " + "[" * inside + "]" * inside + "\n"), "x: unknown key")
    beyond = yl.MAX_DEPTH
    refused(write(tmp_path, "name: t\nx: " + "[" * beyond + "]" * beyond + "\n"),
            f"nested more than {yl.MAX_DEPTH} levels deep")


def test_an_alias_bomb_is_refused_before_anything_walks_it(tmp_path):
    lines = ["name: t", "a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]   # 10^9
    refused(write(tmp_path, "\n".join(lines) + "\n"), "values once its aliases are expanded")


def test_an_alias_to_its_own_collection_is_refused(tmp_path):
    refused(write(tmp_path, "name: t\nx: &a [1, *a]\n"),
            "an alias refers to a collection that holds it")


def test_too_many_aliases_are_refused(tmp_path):
    text = "name: t\nv: &v 1\nx: [" + ", ".join(["*v"] * (yl.MAX_ALIASES + 1)) + "]\n"
    refused(write(tmp_path, text), f"more than {yl.MAX_ALIASES:,} aliases")


def test_an_integer_with_thousands_of_digits_is_refused(tmp_path):
    refused(write(tmp_path, "name: t\nseed: " + "9" * 5000 + "\n"), "a number of 5,000 characters")
    refused(write(tmp_path, "name: t\nagents: {traders: " + "1" * 5000 + "}\n"), "line 2")


def test_a_file_larger_than_the_limit_is_refused_without_parsing(tmp_path):
    text = "name: t\n" + ("# a comment of eighty characters, repeated until the file is too big\n"
                          * (yl.MAX_BYTES // 60))
    refused(write(tmp_path, text), f"at most {yl.MAX_BYTES:,}")


def test_a_device_is_refused_before_a_byte_is_read():
    with pytest.raises(UserInputError, match=r"^/dev/zero: not a regular file"):
        load_scenario("/dev/zero")


def test_a_pipe_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(UserInputError, match="not a regular file"):
        load_scenario(fifo)


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(UserInputError, match="is a folder"):
        load_scenario(tmp_path)


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_bytes(b"name: t\ndescription: caf\xe9\n")
    refused(path, "not UTF-8")


def test_a_yaml_merge_then_a_key_is_legal_and_the_key_wins(tmp_path):
    text = ("name: t\nclock:\n  <<: {days: 5, burn_in_days: 1}\n  days: 4\n")
    clock = load_scenario(write(tmp_path, text)).clock
    assert (clock.days, clock.burn_in_days) == (4, 1)


def test_a_key_written_twice_is_still_an_error(tmp_path):
    refused(write(tmp_path, "name: t\nclock:\n  <<: {days: 5}\n  days: 4\n  days: 3\n"),
            "line 5, column 3: invalid YAML: key 'days' is given twice")


def test_a_deep_override_value_is_refused_in_one_line(tmp_path, capsys):
    path = write(tmp_path, "name: t\n")
    assert main(["validate", str(path), "--set", "description=" + "[" * 10_000]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "description: cannot read the value" in err

"""Scenario files in and out: YAML (over its ``base:``) -> ``--set`` overrides -> a validated
``Scenario`` -> YAML.

Every mistake becomes one ``UserInputError`` line, ``<file>: <dotted.field>: <message>``,
several problems joined with "; ", so that the CLI never shows a traceback.
"""

from __future__ import annotations

import difflib
import os
import typing
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import ValidationError

from sim.errors import UserInputError
from sim.scenario._base import FieldIssues
from sim.scenario.events import EVENT_KINDS
from sim.scenario.inherit import BASE, read_with_bases
from sim.scenario.overrides import (
    OverridePathError,
    Overrides,
    complete_and_apply,
    is_model_type,
    unwrap_type,
)
from sim.scenario.scenario import Scenario
from sim.scenario.yaml_limits import read_yaml_file

# --- public API ------------------------------------------------------------------------------


def load_scenario(path: str | os.PathLike, overrides: Overrides = ()) -> Scenario:
    """Read, override and validate a scenario file.

    A file with ``base:`` is laid over its base's raw YAML first (``sim.scenario.inherit``).
    ``price_file.path``, each ``price_files.ASSET.path`` and ``base`` are taken relative to the
    folder of the file that wrote them; the price paths are made absolute.
    """
    source = str(path)
    data = read_with_bases(source, _read_file)
    return scenario_from_dict(data, source=source, overrides=overrides)


def _read_file(source: str) -> dict[str, Any]:
    """One file's raw mapping (read with the limits of ``yaml_limits``), its price file paths
    made absolute against its folder."""
    data = read_yaml_file(os.path.expanduser(source), source)
    file_dir = os.path.dirname(os.path.abspath(os.path.expanduser(source)))

    def resolved(spec: Any) -> Any:
        if isinstance(spec, dict) and isinstance(spec.get("path"), str):
            return {**spec, "path": os.path.normpath(
                os.path.join(file_dir, os.path.expanduser(spec["path"]))
            )}  # fmt: skip
        return spec

    if "price_file" in data:
        data = {**data, "price_file": resolved(data["price_file"])}
    if isinstance(data.get("price_files"), dict):
        data = {**data, "price_files": {k: resolved(v) for k, v in data["price_files"].items()}}
    return data


def scenario_from_dict(
    data: Mapping[str, Any], source: str = "<dict>", overrides: Overrides = ()
) -> Scenario:
    """Validate a scenario given as a mapping (as ``yaml.safe_load`` returns it)."""
    if not isinstance(data, Mapping):
        raise UserInputError(
            f"{source}: a scenario is a mapping of fields, got {type(data).__name__}"
        )
    data = dict(data)
    if BASE in data:
        raise UserInputError(f"{source}: {BASE}: only a scenario file may name a base "
                             "(load_scenario reads it)")
    if overrides:
        try:
            data = complete_and_apply(data, overrides)
        except OverridePathError as exc:
            raise UserInputError(f"{source}: {exc.path}: {exc.message}") from None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise UserInputError(f"{source}: {_format_errors(exc)}") from None
    if scenario.price_file is not None and not os.path.isfile(scenario.price_file.path):
        raise UserInputError(f"{source}: price_file.path: no such file {scenario.price_file.path}")
    for name, spec in scenario.price_files.items():
        if not os.path.isfile(spec.path):
            raise UserInputError(f"{source}: price_files.{name}.path: no such file {spec.path}")
    return scenario


def dump_scenario(scenario: Scenario) -> str:
    """YAML of every resolved value, defaults included; loading it gives an equal Scenario."""
    data = scenario.model_dump(mode="json")
    header = f"# Scenario {scenario.name}: every value resolved, defaults included.\n"
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


# --- pydantic errors as one line -------------------------------------------------------------

_PREFIXES = ("Value error, ", "Assertion failed, ")


def _format_errors(exc: ValidationError) -> str:
    parts: list[str] = []
    for err in exc.errors():
        loc = _clean_loc(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldIssues):
            parts += [_line(loc + tuple(p.split(".")) if p else loc, m) for p, m in cause.issues]
        else:
            parts.append(_line(loc, _message(err)))
    return "; ".join(dict.fromkeys(parts))  # keep order, drop repeats


def _line(loc: tuple[str, ...], message: str) -> str:
    return f"{'.'.join(loc) or '(top level)'}: {message}"


def _clean_loc(loc: tuple) -> tuple[str, ...]:
    out: list[str] = []
    for i, part in enumerate(loc):
        # A discriminated union adds the tag (events.0.depeg.backing); the user wrote events.0.
        if i == 2 and loc[0] == "events" and isinstance(loc[1], int) and part in EVENT_KINDS:
            continue
        out.append(str(part))
    return tuple(out)


def _message(err: dict) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        known = _field_names_at(err["loc"][:-1])
        hint = ""
        if known:
            close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
        return f"unknown key{hint}"
    if kind == "missing":
        return "required, but missing"
    message = err["msg"]
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    value = err.get("input")
    if kind not in ("value_error", "assertion_error") and not isinstance(value, dict | list):
        text = repr(value)
        message += f" (got {text if len(text) <= 60 else text[:57] + '...'})"
    return message


def _field_names_at(loc: tuple) -> list[str]:
    """Field names of the model at pydantic's ``loc`` (for 'did you mean'), or [] if none."""
    tp: Any = Scenario
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        tp = unwrap_type(tp)
        if is_model_type(tp):
            field = tp.model_fields.get(part)
            if field is None:
                return []
            tp = field.annotation
        elif typing.get_origin(tp) in (dict, list):
            tp = typing.get_args(tp)[-1]
        elif part in EVENT_KINDS:
            tp = EVENT_KINDS[part]
        else:
            return []
    tp = unwrap_type(tp)
    return list(tp.model_fields) if is_model_type(tp) else []

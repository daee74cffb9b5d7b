"""Scenario files in and out: YAML -> ``--set`` overrides -> a validated ``Scenario`` -> YAML.

Every mistake becomes one ``UserInputError`` line, ``<file>: <dotted.field>: <message>``,
several problems joined with "; ", so that the CLI never shows a traceback.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sim.errors import UserInputError
from sim.scenario._base import FieldIssues
from sim.scenario.events import EVENT_KINDS
from sim.scenario.model import Scenario

Overrides = Sequence[str] | Mapping[str, Any]


# --- public API ------------------------------------------------------------------------------


def load_scenario(path: str | os.PathLike, overrides: Overrides = ()) -> Scenario:
    """Read, override and validate a scenario file.

    ``price_file.path`` in the file is taken relative to the file's folder and made absolute.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"{source}: file not found") from None
    except IsADirectoryError:
        raise UserInputError(f"{source}: is a folder, not a scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{source}: cannot read the file ({exc})") from None
    data = _parse_yaml(text, source)
    price_file = data.get("price_file")
    if isinstance(price_file, dict) and isinstance(price_file.get("path"), str):
        file_dir = os.path.dirname(os.path.abspath(source))
        price_file = {**price_file, "path": os.path.normpath(
            os.path.join(file_dir, os.path.expanduser(price_file["path"]))
        )}  # fmt: skip
        data = {**data, "price_file": price_file}
    return scenario_from_dict(data, source=source, overrides=overrides)


def scenario_from_dict(
    data: Mapping[str, Any], source: str = "<dict>", overrides: Overrides = ()
) -> Scenario:
    """Validate a scenario given as a mapping (as ``yaml.safe_load`` returns it)."""
    if not isinstance(data, Mapping):
        raise UserInputError(
            f"{source}: a scenario is a mapping of fields, got {type(data).__name__}"
        )
    data = dict(data)
    if overrides:
        try:
            data = _apply(data, overrides)
        except _PathError as exc:
            raise UserInputError(f"{source}: {exc.path}: {exc.message}") from None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise UserInputError(f"{source}: {_format_errors(exc)}") from None
    if scenario.price_file is not None and not os.path.isfile(scenario.price_file.path):
        raise UserInputError(f"{source}: price_file.path: no such file {scenario.price_file.path}")
    return scenario


def dump_scenario(scenario: Scenario) -> str:
    """YAML of every resolved value, defaults included; loading it gives an equal Scenario."""
    data = scenario.model_dump(mode="json")
    header = f"# Scenario {scenario.name}: every value resolved, defaults included.\n"
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def apply_overrides(data: Mapping[str, Any], overrides: Overrides) -> dict[str, Any]:
    """Return a copy of scenario ``data`` with defaults filled in and ``overrides`` applied.

    ``overrides`` is ``["dotted.path=value", ...]`` (values read as YAML, so numbers, booleans
    and lists work) or a mapping of dotted paths to values. A path may go through mapping keys
    that contain dots (``tokens.TSLA.M.haircut``): the longest existing key wins. New keys may
    be added only to the name-keyed mappings (``assets``, ``tokens``, ``markets``,
    ``correlations``, ``agents.trader.styles``); any other unknown path is an error.
    """
    try:
        return _apply(dict(data), overrides)
    except _PathError as exc:
        raise UserInputError(f"{exc.path}: {exc.message}") from None


def cli_validate(args) -> int:
    """``flywheel validate FILE... [--set PATH=VALUE]``: print ``OK <file>`` for each good file.

    Every file is checked; the problems of the bad ones are raised together as one line.
    """
    problems = []
    for path in args.scenario:
        try:
            load_scenario(path, getattr(args, "overrides", None) or ())
        except UserInputError as exc:
            problems.append(str(exc))
        else:
            print(f"OK {path}")
    if problems:
        raise UserInputError("; ".join(problems))
    return 0


# --- YAML ------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping (a silent overwrite)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # unhashable key: let the constructor report it
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _parse_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise UserInputError(f"{source}: {where}invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise UserInputError(f"{source}: invalid YAML: {' '.join(str(exc).split())}") from None
    if data is None:
        raise UserInputError(f"{source}: the file is empty; a scenario needs at least a name")
    if not isinstance(data, dict):
        raise UserInputError(
            f"{source}: a scenario is a mapping of fields (name: ..., clock: ...), "
            f"got a {type(data).__name__}"
        )
    return data


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
        tp = _unwrap(tp)
        if _is_model(tp):
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
    tp = _unwrap(tp)
    return list(tp.model_fields) if _is_model(tp) else []


# --- defaults and overrides ------------------------------------------------------------------


class _PathError(Exception):
    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


def _apply(data: dict[str, Any], overrides: Overrides) -> dict[str, Any]:
    tree = _complete(Scenario, data)
    open_maps = _open_mappings(Scenario)
    for path, value in _parse_overrides(overrides):
        _set_path(tree, path, value, open_maps)
    return tree


def _parse_overrides(overrides: Overrides) -> list[tuple[str, Any]]:
    if isinstance(overrides, Mapping):
        return [(str(k).strip(), v) for k, v in overrides.items()]
    if isinstance(overrides, str):
        overrides = [overrides]
    pairs = []
    for item in overrides:
        path, sep, text = str(item).partition("=")
        path = path.strip()
        if not sep or not path:
            raise _PathError(str(item), "an override is PATH=VALUE, e.g. insurance.initial=0.05")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise _PathError(path, f"cannot read the value {text!r}: {problem}") from None
        pairs.append((path, value))
    return pairs


def _set_path(tree: dict, path: str, value: Any, open_maps: dict[tuple, bool]) -> None:
    segments = path.split(".")
    node: Any = tree
    walked: list[str] = []
    i = 0
    while True:
        rest = segments[i:]
        if isinstance(node, dict):
            # Greedy: the longest run of segments that is an existing key (keys may hold dots).
            for j in range(len(rest), 0, -1):
                key = ".".join(rest[:j])
                if key in node:
                    break
            else:
                key, j = None, 0
            if key is None:
                new_key = ".".join(rest)
                holds_models = open_maps.get(tuple(walked))
                if holds_models is not None and (not holds_models or isinstance(value, dict)):
                    node[new_key] = value
                    return
                where = ".".join(walked) or "the scenario"
                close = difflib.get_close_matches(rest[0], [str(k) for k in node], n=1)
                hint = f"did you mean {close[0]!r}?" if close else (
                    f"it has: {', '.join(map(str, node)) or 'nothing'}")  # fmt: skip
                raise _PathError(path, f"unknown path: {where} has no {rest[0]!r}; {hint}")
            if i + j == len(segments):
                node[key] = value
                return
            walked.append(key)
            node, i = node[key], i + j
        elif isinstance(node, list):
            try:
                index = int(rest[0])
                node[index]  # noqa: B018  (range check)
            except (ValueError, IndexError):
                raise _PathError(
                    path, f"{'.'.join(walked)} is a list of {len(node)}; "
                    f"{rest[0]!r} is not an index in it",
                ) from None  # fmt: skip
            if len(rest) == 1:
                node[index] = value
                return
            walked.append(rest[0])
            node, i = node[index], i + 1
        else:
            raise _PathError(
                path, f"{'.'.join(walked)} is a value ({node!r}), it has no {rest[0]!r}"
            )


def _open_mappings(model: type[BaseModel], prefix: tuple = ()) -> dict[tuple, bool]:
    """Field paths of the name-keyed mappings, each with whether its values are models."""
    found: dict[tuple, bool] = {}
    for name, field in model.model_fields.items():
        tp = _unwrap(field.annotation)
        if typing.get_origin(tp) is dict:
            found[prefix + (name,)] = _is_model(_unwrap(typing.get_args(tp)[1]))
        elif _is_model(tp):
            found |= _open_mappings(tp, prefix + (name,))
    return found


def _complete(tp: Any, value: Any, fallback: Any = None) -> Any:
    """``value`` with every model field it leaves out filled in, as plain data.

    A partial mapping is merged onto its field's default (``fallback``), which is what
    validation does, so every field of the resolved scenario can be named by ``--set``.
    """
    tp = _unwrap(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        kind = value.get("kind") if isinstance(value, dict) else None
        return _complete(EVENT_KINDS[kind], value) if kind in EVENT_KINDS else value
    if _is_model(tp):
        if not isinstance(value, dict):
            return value
        out = dict(value)
        for name, field in tp.model_fields.items():
            sub_fallback = fallback.get(name) if isinstance(fallback, dict) else None
            if name in value:
                if sub_fallback is None and not field.is_required():
                    sub_fallback = _plain(field.get_default(call_default_factory=True))
                out[name] = _complete(field.annotation, value[name], sub_fallback)
            elif sub_fallback is not None:
                out[name] = sub_fallback
            elif not field.is_required():
                out[name] = _plain(field.get_default(call_default_factory=True))
        return out
    origin = typing.get_origin(tp)
    if origin is dict and isinstance(value, dict):
        value_type = typing.get_args(tp)[1]
        return {k: _complete(value_type, v) for k, v in value.items()}
    if origin is list and isinstance(value, list):
        item_type = typing.get_args(tp)[0]
        return [_complete(item_type, v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to the type that holds the data."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)

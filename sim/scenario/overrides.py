"""``--set`` overrides: dotted paths into a scenario's data, defaults filled in first.

A path may pass through mapping keys that contain dots (``tokens.TSLA.M.haircut``); the
longest existing key wins. The data is completed with every default before the paths are
resolved, so a field the file does not name can still be overridden.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from sim.errors import UserInputError
from sim.scenario.events import EVENT_KINDS
from sim.scenario.scenario import Scenario
from sim.scenario.yaml_limits import parse_yaml

Overrides = Sequence[str] | Mapping[str, Any]


def apply_overrides(data: Mapping[str, Any], overrides: Overrides) -> dict[str, Any]:
    """Return a copy of scenario ``data`` with defaults filled in and ``overrides`` applied.

    ``overrides`` is ``["dotted.path=value", ...]`` (values read as YAML, so numbers, booleans
    and lists work) or a mapping of dotted paths to values. A path may go through mapping keys
    that contain dots (``tokens.TSLA.M.haircut``): the longest existing key wins. New keys may
    be added only to the name-keyed mappings (``assets``, ``tokens``, ``markets``,
    ``correlations``, ``agents.trader.styles``); any other unknown path is an error.
    """
    try:
        return complete_and_apply(dict(data), overrides)
    except OverridePathError as exc:
        raise UserInputError(f"{exc.path}: {exc.message}") from None



class OverridePathError(Exception):
    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


def complete_and_apply(data: dict[str, Any], overrides: Overrides) -> dict[str, Any]:
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
            raise OverridePathError(str(item), "an override is PATH=VALUE, e.g. insurance.initial=0.05")
        try:
            value = parse_yaml(text, "value")
        except UserInputError as exc:
            shown = text if len(text) <= 60 else text[:57] + "..."
            raise OverridePathError(path, f"cannot read the value {shown!r}: "
                                    f"{str(exc).removeprefix('value: ')}") from None
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
                raise OverridePathError(path, f"unknown path: {where} has no {rest[0]!r}; {hint}")
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
                raise OverridePathError(
                    path, f"{'.'.join(walked)} is a list of {len(node)}; "
                    f"{rest[0]!r} is not an index in it",
                ) from None  # fmt: skip
            if len(rest) == 1:
                node[index] = value
                return
            walked.append(rest[0])
            node, i = node[index], i + 1
        else:
            raise OverridePathError(
                path, f"{'.'.join(walked)} is a value ({node!r}), it has no {rest[0]!r}"
            )


def _open_mappings(model: type[BaseModel], prefix: tuple = ()) -> dict[tuple, bool]:
    """Field paths of the name-keyed mappings, each with whether its values are models."""
    found: dict[tuple, bool] = {}
    for name, field in model.model_fields.items():
        tp = unwrap_type(field.annotation)
        if typing.get_origin(tp) is dict:
            found[prefix + (name,)] = is_model_type(unwrap_type(typing.get_args(tp)[1]))
        elif is_model_type(tp):
            found |= _open_mappings(tp, prefix + (name,))
    return found


def _complete(tp: Any, value: Any, fallback: Any = None) -> Any:
    """``value`` with every model field it leaves out filled in, as plain data.

    A partial mapping is merged onto its field's default (``fallback``), which is what
    validation does, so every field of the resolved scenario can be named by ``--set``.
    """
    tp = unwrap_type(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        kind = value.get("kind") if isinstance(value, dict) else None
        return _complete(EVENT_KINDS[kind], value) if kind in EVENT_KINDS else value
    if is_model_type(tp):
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


def unwrap_type(tp: Any) -> Any:
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


def is_model_type(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)

"""``base:`` in scenario files: a scenario laid over another one's raw YAML (design 13).

``base: baseline.yaml`` reads that file first (and its own base, recursively) and lays this
file's raw YAML over it before any default is filled in: mappings merge key by key, lists and
scalars replace, ``null`` deletes a key. ``name`` is never inherited, so every file names
itself and results never collide. A relative ``base:`` resolves against the folder of the file
that wrote it (the reader resolves the other paths a file writes before the merge).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from sim.errors import UserInputError

BASE = "base"
BASE_DESCRIPTION = (
    "Scenario file this one starts from, relative to this file's folder: its raw YAML is read "
    "first (recursively) and this file's laid over it before defaults are filled in; mappings "
    "merge key by key, lists and scalars replace, null deletes a key. name is never inherited."
)

ReadFile = Callable[[str], dict[str, Any]]


def read_with_bases(source: str, read: ReadFile) -> dict[str, Any]:
    """The raw data of scenario file ``source`` with its ``base:`` chain laid under it.

    ``read(path)`` returns one file's raw mapping (``UserInputError`` on a bad file). The result
    holds no ``base`` key. A cycle, a missing base, a ``base:`` that is not a path, or a file
    with a base that does not name itself is one ``UserInputError`` line naming the file.
    """
    return _resolve(source, read, chain=[])


def overlay(under: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` laid over ``under``: mappings merge key by key, the rest replaces, None deletes."""
    out = dict(under)
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping):
            below = out.get(key)
            out[key] = overlay(below if isinstance(below, Mapping) else {}, value)
        else:
            out[key] = value
    return out


def _resolve(source: str, read: ReadFile, chain: list[tuple[str, str]]) -> dict[str, Any]:
    chain = [*chain, (source, os.path.realpath(os.path.expanduser(source)))]
    data = read(source)
    if BASE not in data:
        return data
    base = data[BASE]
    if not isinstance(base, str) or not base.strip():
        raise UserInputError(
            f"{source}: {BASE}: must be the path of a scenario file, got {_describe(base)}"
        )
    base_source = os.path.normpath(
        os.path.join(os.path.dirname(source), os.path.expanduser(base.strip()))
    )
    seen = [real for _, real in chain]
    if os.path.realpath(base_source) in seen:
        loop = " -> ".join([shown for shown, _ in chain] + [base_source])
        raise UserInputError(f"{chain[0][0]}: {BASE}: cycle {loop}")
    if not os.path.isfile(base_source):
        raise UserInputError(f"{source}: {BASE}: no such file {base_source}")
    own = {k: v for k, v in data.items() if k != BASE}
    if own.get("name") is None:
        raise UserInputError(
            f"{source}: name: required in a file with {BASE}: (a name is never inherited)"
        )
    return overlay(_resolve(base_source, read, chain), own)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return "an empty string"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"

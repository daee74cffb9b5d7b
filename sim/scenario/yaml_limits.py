"""YAML read with limits: no scenario, sweep or study file, nor a ``--set`` value, can exhaust
memory or recursion.

``read_yaml_file(path)`` reads one scenario file and returns its mapping; ``parse_yaml(text,
source)`` parses text (a ``--set`` value, say). Both are ``yaml.safe_load`` with these checks,
each a one-line ``UserInputError`` naming the file (and the line where there is one):

- only a regular file is read (a device such as /dev/zero, a pipe or a socket is refused
  before a byte is read, and a pipe is opened without blocking), at most ``MAX_BYTES``;
- collections nest at most ``MAX_DEPTH`` deep (checked on the parser's events before anything
  is built, so a file of ``[[[[...`` never reaches Python's recursion limit);
- at most ``MAX_ALIASES`` aliases, and the document expanded through them holds at most
  ``MAX_NODES`` nodes (a "billion laughs" file is refused before anything walks it);
- a number is at most ``MAX_NUMBER_CHARS`` characters (Python refuses to convert integers
  of more than 4,300 digits, with a traceback);
- a key given twice in one mapping is an error (a silent overwrite), while a YAML merge
  (``<<: *defaults`` then a key) keeps its meaning: the explicit key wins.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import yaml

from sim.errors import UserInputError

MAX_BYTES = 200_000
"""200 kB: the largest shipped scenario is 2.4 kB and 200 kB holds 3,000 one-line events. The
slowest 200 kB (100,000 one-character values) takes about 1.2 s to check and load with
libyaml here, 7 s with PyYAML's pure-Python parser (a 50 MB file of comments took 16 s)."""

MAX_DEPTH = 32
"""Nesting of mappings and lists: a scenario nests 5 deep (``markets.M.requirements.stress_crypto_
moves.0``); 32 leaves room for anchors and future sections and stays far below the ~1,000
frames of Python's recursion limit, which each level costs a few of."""

MAX_ALIASES = 1_000
"""Aliases (``*name``) in one document: a scenario that shares settings uses a handful."""

MAX_NODES = 100_000
"""Values of the document with every alias expanded: a scenario with every default written out
has 635; 200 kB of plain YAML (``[1,1,1,...``) holds at most 100,000, so aliases cannot make
the work larger than the size limit already allows."""

MAX_NUMBER_CHARS = 100
"""Characters of one number: float64 has at most 17 significant digits and an exponent of
three; 100 leaves room for underscores and padding."""


# libyaml's parser when PyYAML has it (about 25x faster), else PyYAML's own.
_SafeLoader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


class _Loader(_SafeLoader):
    """``yaml.safe_load``'s loader with keys checked for repeats and numbers for length."""


def _check_structure(text: str) -> None:
    """Walk the parser's events (no recursion, nothing built) and refuse a document that nests
    deeper than ``MAX_DEPTH``, has more than ``MAX_ALIASES`` aliases, expands to more than
    ``MAX_NODES`` values, or whose alias refers to a collection that holds it."""
    sizes: dict[str, int] = {}                  # anchor -> values under it, expanded
    open_: list[list] = [[None, 0]]             # [anchor, values so far] per open collection
    aliases = 0
    for event in yaml.parse(text, Loader=_SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _limit_error(event.start_mark, f"more than {MAX_ALIASES:,} aliases")
            if event.anchor not in sizes:
                inside = any(anchor == event.anchor for anchor, _ in open_)
                raise _limit_error(event.start_mark, "an alias refers to a collection that "
                                   "holds it" if inside else f"unknown alias *{event.anchor}")
            added = sizes[event.anchor]
        elif isinstance(event, yaml.ScalarEvent):
            added = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(open_) > MAX_DEPTH:
                raise _limit_error(event.start_mark, f"nested more than {MAX_DEPTH} levels deep")
            open_.append([event.anchor, 0])
            continue
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, inner = open_.pop()
            added = 1 + inner
            if anchor is not None:
                sizes[anchor] = added
        else:
            continue
        open_[-1][1] += added
        if open_[-1][1] > MAX_NODES:
            raise _limit_error(event.start_mark, f"more than {MAX_NODES:,} values once its "
                               "aliases are expanded")


def _limit_error(mark, problem: str) -> yaml.MarkedYAMLError:  # noqa: ANN001 (a yaml Mark)
    return yaml.composer.ComposerError(None, None, problem, mark)


def _construct_number(loader: _Loader, node: yaml.ScalarNode, parse) -> Any:  # noqa: ANN001
    if len(node.value) > MAX_NUMBER_CHARS:
        raise yaml.constructor.ConstructorError(
            None, None, f"a number of {len(node.value):,} characters (at most "
            f"{MAX_NUMBER_CHARS})", node.start_mark)
    return parse(loader, node)


def _construct_timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    # PyYAML builds an unquoted date with datetime, which raises a bare ValueError for a date
    # that does not exist (2025-13-01, 2025-02-30, an offset of +25:00).
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError) as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.value!r} is not a date and time that exists ({exc})",
            node.start_mark) from None


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False):
    # Keys written in this mapping must be unique; keys it merges in (``<<``) are defaults the
    # written keys override, as YAML's merge key means.
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
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
    loader.flatten_mapping(node)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(
    "tag:yaml.org,2002:int",
    lambda loader, node: _construct_number(loader, node, yaml.SafeLoader.construct_yaml_int),
)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
_Loader.add_constructor(
    "tag:yaml.org,2002:float",
    lambda loader, node: _construct_number(loader, node, yaml.SafeLoader.construct_yaml_float),
)


def parse_yaml(text: str, source: str) -> Any:
    """The value of one YAML document ``text`` (None when empty), parsed with the limits of
    this module; a problem is one ``UserInputError`` line starting with ``source``."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise UserInputError(f"{source}: more than {MAX_BYTES:,} bytes of YAML; at most "
                             f"{MAX_BYTES:,} are read")
    try:
        _check_structure(text)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise UserInputError(f"{source}: {where}invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise UserInputError(f"{source}: invalid YAML: {' '.join(str(exc).split())}") from None
    except (ValueError, OverflowError) as exc:    # a constructor's own complaint
        raise UserInputError(f"{source}: invalid YAML: {' '.join(str(exc).split())}") from None


def read_text_file(path: str | os.PathLike, source: str | None = None,
                   max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes`` bytes; a folder, a device, a
    pipe, a socket, a missing, unreadable or larger file is one ``UserInputError`` line."""
    source = str(path) if source is None else source
    try:
        # O_NONBLOCK: opening a pipe must not wait for a writer; it is refused just below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UserInputError(f"{source}: file not found") from None
    except IsADirectoryError:
        raise UserInputError(f"{source}: is a folder, not a file") from None
    except OSError as exc:
        raise UserInputError(f"{source}: cannot read the file ({exc.strerror})") from None
    info = os.fstat(fd)
    problem = (
        "is a folder, not a file" if stat.S_ISDIR(info.st_mode)
        else "not a regular file (a device, pipe or socket); YAML is read from files"
        if not stat.S_ISREG(info.st_mode)
        else f"{info.st_size:,} bytes; a YAML file may have at most {max_bytes:,}"
        if info.st_size > max_bytes else ""
    )
    if problem:
        os.close(fd)
        raise UserInputError(f"{source}: {problem}")
    with os.fdopen(fd, "rb") as fh:
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            if exc.errno == errno.EISDIR:
                raise UserInputError(f"{source}: is a folder, not a file") from None
            raise UserInputError(f"{source}: cannot read the file ({exc.strerror})") from None
    if len(data) > max_bytes:       # it grew while we read it
        raise UserInputError(f"{source}: more than {max_bytes:,} bytes; a YAML file may "
                             f"have at most {max_bytes:,}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{source}: not UTF-8 text (byte {exc.start + 1}: "
                             f"{exc.reason})") from None


def read_yaml_file(path: str | os.PathLike, source: str | None = None) -> dict[str, Any]:
    """The mapping a scenario file holds, read and parsed with the limits of this module."""
    source = str(path) if source is None else source
    data = parse_yaml(read_text_file(path, source), source)
    if data is None:
        raise UserInputError(f"{source}: the file is empty; a scenario needs at least a name")
    if not isinstance(data, dict):
        raise UserInputError(
            f"{source}: a scenario is a mapping of fields (name: ..., clock: ...), "
            f"got a {type(data).__name__}"
        )
    return data

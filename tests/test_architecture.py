"""The house's rules, checked on the source (design section 2, issue 7).

- No import cycle among the project's modules (imports inside functions count: a lazy import
  hides a cycle, it does not remove it; imports under ``if TYPE_CHECKING:`` do not, since they
  never run: an agent names its model's type for the reader, as every Mesa agent has a model).
- ``kernels/`` is numbers in, numbers out: it imports nothing of the simulation, Mesa,
  pandas or YAML.
- ``sim/`` never asks an agent or an owner what it can do (``hasattr``/``getattr``): owners
  are typed by ``sim.protocol.owners``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sim", "agents", "kernels")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*")):
            if path.suffix in (".py", ".pyx") and "__pycache__" not in path.parts:
                found[_module_name(path)] = path
    return found


_PYX_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+c?import\s+([\w, ]+)|c?import\s+([\w.]+))", re.M)


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (never executed)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if _is_type_checking(node):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Project modules that ``path`` imports (anywhere in the file)."""
    names: list[tuple[str, list[str]]] = []
    text = path.read_text()
    if path.suffix == ".pyx":
        for frm, what, plain in _PYX_IMPORT.findall(text):
            names.append((frm, [w.strip() for w in what.split(",")]) if frm else (plain, []))
    else:
        me = _module_name(path)
        package = me if path.name == "__init__.py" else me.rpartition(".")[0]
        for node in _runtime_nodes(ast.parse(text)):
            if isinstance(node, ast.Import):
                names += [(a.name, []) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                names.append((base, [a.name for a in node.names]))
    found = set()
    for base, what in names:
        hits = [f"{base}.{w}" for w in what if f"{base}.{w}" in modules]
        if hits:
            found.update(hits)
            if len(hits) < len(what) and base in modules:
                found.add(base)          # names defined in the package itself
        elif base in modules:
            found.add(base)
    return found


def import_graph() -> nx.DiGraph:
    sources = _sources()
    graph = nx.DiGraph()
    graph.add_nodes_from(sources)
    for name, path in sources.items():
        for target in _imports(path, set(sources)):
            if target != name:
                graph.add_edge(name, target)
    return graph


def test_the_walk_sees_known_imports():
    graph = import_graph()
    assert graph.has_edge("sim.model", "sim.ledger")
    assert graph.has_edge("sim.cli", "sim.run")              # a lazy import inside a handler
    assert not graph.has_edge("agents.base", "sim.model")    # for annotations only
    assert graph.number_of_nodes() > 40


def test_no_import_cycle_among_the_project_modules():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join([*c, c[0]]) for c in cycles[:5])


@pytest.mark.parametrize("forbidden", ["sim", "agents", "mesa", "pandas", "yaml"])
def test_kernels_import_nothing_of_the_simulation(forbidden):
    for path in sorted((ROOT / "kernels").rglob("*.py*")):
        if path.suffix in (".py", ".pyx", ".pxd"):
            pattern = rf"^\s*(from|import|cimport)\s+{forbidden}\b"
            assert not re.search(pattern, path.read_text(), re.M), f"{path.relative_to(ROOT)} imports {forbidden}"


def test_sim_never_asks_agents_or_owners_what_they_can_do():
    offenders = []
    for path in sorted((ROOT / "sim").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("hasattr", "getattr")
                    and not (isinstance(node.args[0], ast.Name) and node.args[0].id == "self")):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
    allowed = ALLOWED_ATTRIBUTE_LOOKUPS
    left = [o for o in offenders if not any(o.startswith(a) for a in allowed)]
    assert not left, "duck typing in sim/: " + "; ".join(left)


# An object reading its own fields by name (``getattr(self, name)``) is not counted. Lookups
# that are about neither agents nor owners, each with its reason:
ALLOWED_ATTRIBUTE_LOOKUPS: tuple[str, ...] = (
    "sim/results_io.py",            # hasattr(value, 'isoformat'): JSON of dates and times
    "sim/bench/main.py",            # getattr(exc, 'name', None): the module an ImportError names
)

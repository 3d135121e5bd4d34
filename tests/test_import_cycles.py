"""No import cycles among the suite's modules: the import graph of every package of the repo (gpoints_env, virl_env,
sftrl_core, sftrl_eval, sftrl_train), read from the source (never imported), must be acyclic.

The graph counts every import, at module level and inside functions alike: a function-level import is still a
dependency, and one held there only to break a cycle is the cycle this test is for. Relative imports are
resolved, and ``from package import name`` is an edge to the submodule when ``name`` is one. Importing ``a.b.c``
also runs ``a/__init__`` and ``a/b/__init__``, so it is an edge to those packages too, except to the importer's
own enclosing packages (they are already being imported). A package's ``__init__`` importing its own submodules
to re-export them is an ordinary edge: it closes a cycle only when something it imports needs the package back,
which is the case the rule "a child importing its parent package's names back counts" describes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gpoints_env", "virl_env", "sftrl_core", "sftrl_eval", "sftrl_train")

#: Cycles in packages other teams own, not removed yet, each by its modules (sorted); the test fails when one is
#: gone, so the list only shrinks. Imports under ``if TYPE_CHECKING:`` count: a cycle held apart for the type
#: checker is still a cycle of the design.
KNOWN_CYCLES: tuple[tuple[str, ...], ...] = ()


def module_files() -> dict[str, Path]:
    """Every module of the packages by dotted name (a package by its own name, for its ``__init__.py``)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "__pycache__" in parts:
                continue
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """``{module: modules it imports}``, restricted to the given modules."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        # The package a relative import starts from: the module's own package (a package is its own).
        here = name if is_package else name.rpartition(".")[0]
        explicit: set[str] = set()  # the modules named; importing them also runs their packages' __init__
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                explicit.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base_parts = here.split(".")
                    base_parts = base_parts[:len(base_parts) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                submodules = {f"{base}.{alias.name}" for alias in node.names} & set(modules)
                explicit.update(submodules)
                if len(submodules) < len(node.names):  # names of the module itself (its __init__ for a package)
                    explicit.add(base)
        own = set(_ancestors(name))
        edges = {target for target in explicit if target in modules and target != name}
        edges.update(package for target in explicit for package in _ancestors(target)
                     if package in modules and package not in own and package != name)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(tuple(sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def describe(cycle: tuple[str, ...], graph: dict[str, set[str]]) -> str:
    """One closed path through a cycle's modules, for the failure message."""
    members = set(cycle)
    path, node = [cycle[0]], cycle[0]
    while True:
        node = min(graph[node] & members, key=lambda m: (m in path, m))
        if node in path:
            return " -> ".join(path[path.index(node):] + [node])
        path.append(node)


def test_the_packages_have_no_import_cycle():
    graph = import_graph(module_files())
    found = find_cycles(graph)
    cycles = [cycle for cycle in found if cycle not in KNOWN_CYCLES]
    assert not cycles, "import cycles:\n" + "\n".join(describe(cycle, graph) for cycle in cycles)
    gone = [cycle for cycle in KNOWN_CYCLES if cycle not in found]
    assert not gone, f"known cycles that are gone (remove them from KNOWN_CYCLES): {gone}"


def test_every_package_is_read():
    modules = module_files()
    for package in PACKAGES:
        assert package in modules and any(name.startswith(package + ".") for name in modules)
    graph = import_graph(modules)
    # Edges the reader must see: a relative import, a package import, a submodule named in "from package import".
    assert "virl_env.protocols.paper" in graph["virl_env.protocols"]
    assert "virl_env.task.navigation" in graph["virl_env.env"]
    assert "sftrl_core.registry" in graph["virl_env.protocols"]
    assert "virl_env.protocols" in graph["virl_env.task.navigation"]


@pytest.mark.parametrize("sources, expected", [
    # a child importing its parent package's names back, while the parent re-exports the child
    ({"pkg/__init__.py": "from .child import X\n", "pkg/child.py": "from pkg import Y\n"}, [("pkg", "pkg.child")]),
    # a function-level import held to break a cycle is still the cycle
    ({"pkg/__init__.py": "", "pkg/a.py": "from pkg.b import B\n",
      "pkg/b.py": "def f():\n    from .a import A\n"}, [("pkg.a", "pkg.b")]),
    # importing pkg.sub runs pkg/sub/__init__, which imports the importer
    ({"pkg/__init__.py": "", "pkg/m.py": "from pkg.sub.x import X\n", "pkg/sub/__init__.py": "from pkg.m import M\n",
      "pkg/sub/x.py": ""}, [("pkg.m", "pkg.sub")]),
    # re-exports alone, and submodules importing one another in one direction, are no cycle
    ({"pkg/__init__.py": "from . import a\nfrom .b import B\n", "pkg/a.py": "from .b import B\nimport pkg.b\n",
      "pkg/b.py": "import json\n"}, []),
])
def test_the_reader_finds_the_cycles_it_is_for(tmp_path, sources, expected):
    for relative, text in sources.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    modules = {}
    for path in sorted(tmp_path.rglob("*.py")):
        parts = path.relative_to(tmp_path).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    assert find_cycles(import_graph(modules)) == expected

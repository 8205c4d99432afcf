"""The package's layers, checked from the source (part of ``make check``).

Each package sits on one layer; it may import its own layer and the ones below, never one above. Modules form no
import cycle, and no package imports another package's private (``_``-prefixed) names. Every import counts, also
those inside functions: deferring an import hides a dependency, it does not remove it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "rlaif"

#: bottom to top; a package may import packages of its own layer or lower ones
LAYERS: list[set[str]] = [
    {"errors", "atomic", "resources", "yamlfile", "stats", "seeds", "strict", "overrides", "lazy", "fields"},
    {"models", "training", "constitution"},
    {"backends"},
    {"prompting"},
    {"feedback"},
    {"reward", "scale"},
    {"policy"},
    {"evals", "rewards", "workbench"},
    {"report"},
    {"jobs"},  # one run(job) -> result per stage
    {"loop"},
    {"cli", "api", "testing"},  # testing: fixtures for tests, may use any package
    {"__init__", "__main__"},
]

#: (importing module, imported module) pairs known to break the layers, each owned by an open change
KNOWN_UPWARD: set[tuple[str, str]] = set()

#: module cycles known today (imports under ``if TYPE_CHECKING`` do not count); the test fails if a new one
#: appears or a listed one is gone (then delete it here)
KNOWN_CYCLES: set[frozenset[str]] = set()

#: private names imported across packages today, each to become public (or move) with its module's rework
KNOWN_PRIVATE: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                ids |= {id(n) for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return ids


def _imports() -> dict[str, list[tuple[str, list[str], int, bool]]]:
    """module -> [(imported module, imported names, line, type-only)] for every ``rlaif`` import in the file."""
    found: dict[str, list[tuple[str, list[str], int, bool]]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_name(path)
        is_package = path.name == "__init__.py"
        rows: list[tuple[str, list[str], int, bool]] = []
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_only = _type_only(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                rows += [
                    (a.name, [], node.lineno, id(node) in type_only)
                    for a in node.names
                    if a.name.split(".")[0] == "rlaif"
                ]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                if target.split(".")[0] == "rlaif":
                    rows.append((target, [a.name for a in node.names], node.lineno, id(node) in type_only))
        found[module] = rows
    return found


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(package: str) -> int:
    for i, layer in enumerate(LAYERS):
        if package in layer:
            return i
    raise AssertionError(f"package rlaif.{package} is on no layer: add it to LAYERS in {__file__}")


def test_every_package_has_a_layer() -> None:
    for module in _imports():
        _layer(_package(module))


def test_no_upward_imports() -> None:
    upward = []
    for module, rows in _imports().items():
        for target, _, line, _ in rows:
            if target == "rlaif":
                continue
            if _layer(_package(target)) > _layer(_package(module)) and (module, target) not in KNOWN_UPWARD:
                upward.append(f"{module}:{line} imports {target}")
    assert upward == []


def test_known_upward_imports_still_exist() -> None:
    pairs = {(m, t) for m, rows in _imports().items() for t, _, _, _ in rows}
    assert pairs >= KNOWN_UPWARD, "an exception is fixed: remove it from KNOWN_UPWARD"


def test_no_private_names_across_packages() -> None:
    leaks: list[str] = []
    found: set[tuple[str, str]] = set()
    modules = _imports()
    for module, rows in modules.items():
        for target, names, line, _ in rows:
            if _package(target) == _package(module):
                continue
            private = [f"{target}.{n}" for n in names if n.startswith("_") and not n.startswith("__")]
            if any(p.startswith("_") and not p.startswith("__") for p in target.split(".")):
                private.append(target)
            leaks += [f"{module}:{line} imports {p}" for p in private if (module, p) not in KNOWN_PRIVATE]
            found.update((module, p) for p in private)
    assert leaks == []
    assert found >= KNOWN_PRIVATE, "a private import is gone: remove it from KNOWN_PRIVATE"


def _cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.add(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_between_modules() -> None:
    modules = _imports()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, rows in modules.items():
        for target, names, _, type_only in rows:
            if type_only:
                continue
            # `from rlaif.pkg import mod` names a submodule: the edge goes to it, not to the package's __init__
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            for dst in subs or [target]:
                if dst in modules and dst != module and not module.startswith(dst + "."):
                    graph[module].add(dst)
    cycles = _cycles(graph)
    assert {", ".join(sorted(c)) for c in cycles - KNOWN_CYCLES} == set()
    assert cycles >= KNOWN_CYCLES, "a known cycle is gone: remove it from KNOWN_CYCLES"

"""Import contracts of the ``multicloud`` package, read from the source (nothing is imported).

1. The pure core (estate model, residency policy, the planners, the cost optimiser, DR scoring,
   reports, the per-DAG settings) reaches no ``airflow`` module: not at module level, not inside a function, not under
   ``TYPE_CHECKING``, and not through anything of ours that it imports.
2. No import cycle between modules, counting every import statement wherever it stands (a deferred
   import inside a function still ties the two modules together); ``from pkg import x`` inside
   ``pkg`` counts as importing ``pkg/__init__``.
3. No import cycle between the sub-packages of ``multicloud`` (``dr``, ``rollout``, ...).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "plugins"
PURE = (
    "multicloud.estate",
    "multicloud.residency",
    "multicloud.sync.planner",
    "multicloud.rollout.planner",
    "multicloud.cost.optimiser",
    "multicloud.cost.greedy",
    "multicloud.cost.model",
    "multicloud.dr.scoring",
    "multicloud.reports",
    # the per-DAG settings the domain code takes instead of the task context
    "multicloud.settings",
    "multicloud.cost.settings",
    "multicloud.dr.settings",
    "multicloud.governance.settings",
    "multicloud.rollout.settings",
    "multicloud.sync.settings",
    "multicloud.training.settings",
)
FORBIDDEN = "airflow"


@dataclass(frozen=True)
class Import:
    target: str  # a dotted module name as written (resolved to ours where it is ours)
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / "multicloud").rglob("*.py"))}


def _resolve_from(node: ast.ImportFrom, importer: str) -> str:
    if not node.level:
        return node.module or ""
    is_package = modules()[importer].name == "__init__.py"
    base = importer.split(".")[: len(importer.split(".")) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str) -> list[Import]:
    return imports_in(modules()[name].read_text(), name)


def imports_in(source: str, name: str) -> list[Import]:
    """Every import statement in the source, wherever it stands (functions and TYPE_CHECKING too)."""
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve_from(node, name)
            found.append(Import(source, node.lineno))
            found += [Import(f"{source}.{alias.name}", node.lineno) for alias in node.names
                      if f"{source}.{alias.name}" in modules()]
    return found


def _ours(target: str) -> str | None:
    """The module of ours that ``target`` names (its longest known prefix), if any."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules():
            return ".".join(parts[:end])
    return None


@cache
def graph() -> dict[str, frozenset[str]]:
    edges: dict[str, frozenset[str]] = {}
    for name in modules():
        edges[name] = frozenset(t for i in imports_of(name) if (t := _ours(i.target)) and t != name)
    return edges


def forbidden_chain(start: str) -> list[str] | None:
    """The import chain from ``start`` to a forbidden module, if there is one (breadth first: shortest)."""
    came_from: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        current = queue.pop(0)
        for imp in imports_of(current):
            if imp.target == FORBIDDEN or imp.target.startswith(FORBIDDEN + "."):
                chain = [f"{current}:{imp.line} imports {imp.target}"]
                while (current := came_from[current]) is not None:
                    chain.insert(0, current)
                return chain
        for nxt in sorted(graph()[current]):
            if nxt not in came_from:
                came_from[nxt] = current
                queue.append(nxt)
    return None


def cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def _package(name: str) -> str:
    return ".".join(name.split(".")[:2])


def test_the_pure_modules_exist() -> None:
    missing = [name for name in PURE if name not in modules()]
    assert not missing, f"contract names modules that are gone: {missing}"


@pytest.mark.parametrize("pure", PURE)
def test_pure_core_reaches_no_airflow(pure: str) -> None:
    chain = forbidden_chain(pure)
    assert chain is None, "pure module reaches Airflow: " + " -> ".join(chain or [])


def test_no_module_import_cycles() -> None:
    assert cycles(graph()) == []


def test_no_package_import_cycles() -> None:
    packages: dict[str, set[str]] = {}
    for name, targets in graph().items():
        packages.setdefault(_package(name), set()).update(_package(t) for t in targets if _package(t) != _package(name))
    assert cycles({k: frozenset(v) for k, v in packages.items()}) == []


def test_the_checker_sees_deferred_and_type_checking_imports() -> None:
    """The contract is only as good as its parser: a function-level import counts."""
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import airflow.sdk\n"
              "def f():\n    from airflow.models import DagRun\n")
    assert [i.target for i in imports_in(source, "multicloud.reports")] == ["typing", "airflow.sdk", "airflow.models"]
    assert cycles({"a": frozenset({"b"}), "b": frozenset({"a"}), "c": frozenset()}) == [["a", "b"]]

"""The provenance part's structure: thin web shell (no SQL), and no import cycles (issue 12).

Read from the source with :mod:`ast` (nothing is imported), so the checks are cheap and see function-local
imports too: a cycle hidden inside a function is still a cycle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ASSAY = Path(__file__).resolve().parents[2] / "assay"
SHELLS = [ASSAY / "web" / "routes" / "provenance.py", ASSAY / "web" / "routes" / "provenance_models.py"]
# What querying looks like: SQLAlchemy itself, a session or transaction, or a query method.
_SQL_MODULES = ("sqlalchemy",)
_SQL_NAMES = {"select", "func", "text", "insert", "update", "delete", "Session"}
_SQL_ATTRS = {"read", "write", "scalars", "scalar", "execute", "query", "get", "add", "flush", "commit"}
_SQL_RECEIVERS = {"db", "session", "s", "conn", "connection"}
# Known package edges that close a cycle and belong to another part: register's demo loader calls the
# provenance demo (issue 12; the register part moves it out). Remove the entry when that lands.
_KNOWN_EDGES = {("assay.register.demo", "assay.provenance.demo")}


def sql_in(source: str) -> list[str]:
    """Where ``source`` queries the database: each finding as 'line N: what'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            if any(n and n.split(".")[0] in _SQL_MODULES for n in names):
                found.append(f"line {node.lineno}: imports SQLAlchemy")
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith(".models"):
                found.append(f"line {node.lineno}: imports ORM models from {node.module}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _SQL_NAMES:
            found.append(f"line {node.lineno}: calls {node.func.id}()")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _SQL_ATTRS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in _SQL_RECEIVERS
        ):
            found.append(f"line {node.lineno}: calls {node.func.value.id}.{node.func.attr}()")
    return found


@pytest.mark.parametrize("path", SHELLS, ids=lambda p: p.name)
def test_the_provenance_routes_hold_no_sql(path: Path) -> None:
    assert sql_in(path.read_text()) == [], f"move the queries of {path.name} into assay/provenance (records.py)"


def test_the_sql_detector_sees_queries() -> None:
    # The check above must be able to fail: each way of querying is seen.
    source = """
from sqlalchemy import select
from assay.provenance.models import MarkRecord
def route(db):
    with db.read() as session:
        return session.scalars(select(MarkRecord)).all()
"""
    found = " ".join(sql_in(source))
    for what in ("imports SQLAlchemy", "ORM models", "calls select()", "db.read()", "session.scalars()"):
        assert what in found


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ASSAY.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST, package: str, modules: set[str]) -> list[str]:
    """The dotted names a module imports, anywhere in it except under ``if TYPE_CHECKING:``."""
    targets: list[str] = []
    todo = [tree]
    while todo:
        for child in ast.iter_child_nodes(todo.pop()):
            if _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                targets.extend(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(up + ([child.module] if child.module else []))
                targets.extend(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in child.names)
            todo.append(child)
    return targets


def import_graph() -> dict[str, set[str]]:
    """assay's modules and the assay modules each imports."""
    modules = {_module_name(p): p for p in ASSAY.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for target in _imports(ast.parse(path.read_text()), package, set(modules)):
            while target not in modules and "." in target:
                target = target.rpartition(".")[0]
            if target in modules and target != name:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    nodes = set(graph) | {t for ts in graph.values() for t in ts}
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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
    return found


def _ours(module: str) -> bool:
    return module.startswith(("assay.provenance", "assay.batch"))


def test_no_module_cycle_in_provenance_or_batch() -> None:
    bad = [c for c in cycles(import_graph()) if any(_ours(m) for m in c)]
    assert bad == [], f"module cycles through provenance/batch: {bad}"


def test_provenance_and_batch_are_in_no_package_cycle() -> None:
    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in import_graph().items():
        for target in targets:
            if package(module) != package(target) and (module, target) not in _KNOWN_EDGES:
                packages[package(module)].add(package(target))
    bad = [c for c in cycles(packages) if any(_ours(p) for p in c)]
    assert bad == [], f"package cycles through provenance/batch: {bad}"


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []

"""The shells stay thin: no SQL in the web routes or the CLI commands (issue 12). Queries belong to the parts'
services, which the shells call; a route or command that builds a query cannot be reused by the other shell,
a batch worker or a third party, and hides a second copy of a rule the service already keeps."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHELLS = [ROOT / "assay" / "web" / "routes", ROOT / "assay" / "cli"]

# SQLAlchemy query code: building a statement, or running one on a session or connection.
STATEMENTS = {"select", "insert", "update", "delete"}
RUNNERS = {"execute", "scalars", "scalar", "query"}

# Files that may still hold queries, each with the date and the branch that will move them into a service.
# Empty since 2026-12-05 (branch house2 moved the last ones into assay/register); an entry is a debt with a date.
ALLOWED: dict[str, str] = {}


def _modules() -> list[Path]:
    return sorted(p for folder in SHELLS for p in folder.rglob("*.py"))


def _queries(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            found.append(f"line {node.lineno}: imports from {node.module}")
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "sqlalchemy" for a in node.names):
            found.append(f"line {node.lineno}: imports sqlalchemy")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in STATEMENTS:
                found.append(f"line {node.lineno}: {func.id}(...)")
            elif isinstance(func, ast.Attribute) and func.attr in RUNNERS:
                found.append(f"line {node.lineno}: .{func.attr}(...)")
    return found


def test_the_walk_finds_the_shells() -> None:
    # A moved folder must not make the check below pass by checking nothing.
    names = {p.relative_to(ROOT).as_posix() for p in _modules()}
    assert "assay/cli/log.py" in names and "assay/web/routes/log.py" in names and len(names) > 10


def test_the_detector_sees_query_code(tmp_path: Path) -> None:
    sample = tmp_path / "route.py"
    sample.write_text("from sqlalchemy import select\n\ndef f(s):\n    return s.scalars(select(X))\n")
    assert len(_queries(sample)) == 3


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_sql_in_web_routes_or_cli(path: Path) -> None:
    name = path.relative_to(ROOT).as_posix()
    found = _queries(path)
    if name in ALLOWED:
        assert found, f"{name} holds no query any more: delete its entry from ALLOWED ({ALLOWED[name]})"
        return
    assert not found, f"{name} builds or runs SQL ({'; '.join(found)}): move it into the part's service"

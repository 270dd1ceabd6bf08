"""No module of assay imports itself round a loop, not even through an import inside a function (issue 12).

A cycle dodged with a function-local import still ties the two modules together: neither can be understood,
tested or moved without the other. The graph is grimp's (import-linter's own), which sees the imports inside
functions too; a cycle shows as its modules, so the fix is to move what both need to a module both may import.
"""

from __future__ import annotations

import grimp


def _cycles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if not w.startswith(package):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(m for m in graph.modules if m.startswith(package)):
        if module not in index:
            visit(module)
    return found


def test_no_module_cycle_in_assay() -> None:
    graph = grimp.build_graph("assay", cache_dir=None)
    assert len(graph.modules) > 100  # the whole package was read, not an empty stand-in
    assert _cycles(graph, "assay") == []


def test_the_cycle_finder_sees_a_loop_made_inside_a_function() -> None:
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")  # e.g. "from pkg.a import x" inside a function
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert _cycles(graph, "pkg") == [["pkg.a", "pkg.b"]]

"""The package's import structure: no import cycle anywhere in ``specsolve`` (function-level imports included),
and no module imports an underscore module or name of another package (the import-layer contract itself is checked by
``lint-imports`` in ``make lint``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "specsolve"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[tuple[str, tuple[str, ...]]]]:
    """``{module: {(imported module, imported names)}}`` over every import statement, at any depth."""
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[tuple[str, tuple[str, ...]]]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("specsolve"):
                        graph[name].add((alias.name, ()))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                if not base.startswith("specsolve"):
                    continue
                names = tuple(a.name for a in node.names)
                submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in modules]
                graph[name].add((base, tuple(n for n in names if f"{base}.{n}" not in modules)))
                graph[name].update((m, ()) for m in submodules)
    return graph


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
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
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle() -> None:
    graph = import_graph()
    # the root package re-exports the API lazily; an edge into ``specsolve`` itself is the version or an error class
    edges = {m: {t for t, _ in targets if t in graph and t != "specsolve"} for m, targets in graph.items()}
    assert strongly_connected(edges) == []


def test_detects_a_cycle() -> None:
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_import_across_packages() -> None:
    offenders = []
    for module, targets in import_graph().items():
        package = module.rsplit(".", 1)[0]
        for target, names in targets:
            target_package = target.rsplit(".", 1)[0]
            private_module = any(part.startswith("_") for part in target.split(".")[1:])
            private_names = [n for n in names if n.startswith("_") and n != "__version__"]
            if target_package != package and (private_module or private_names):
                offenders.append(f"{module} -> {target} {private_names}")
    assert offenders == []


@pytest.mark.parametrize("root", ["tests", "benchmarks", "reproductions", "plugins"])
def test_outside_code_uses_public_modules(root: str) -> None:
    """Tests, benchmarks, reproductions and plugins import no underscore module of specsolve."""
    offenders = []
    for path in (ROOT.parent / root).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("specsolve"):
                mod = node.module or ""
                if any(p.startswith("_") for p in mod.split(".")[1:]):
                    offenders.append(f"{path.name}: {mod}")
    assert offenders == []

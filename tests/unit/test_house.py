"""The house rules the reviews asked for, checked on every run: no module imports one that imports
it back (function-level and type-checking imports included), no source or test module over 450
lines, no function over 60 (the benchmark and the migrations aside)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("chats_api", "rest", "schema", "resolvers", "db")
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def _modules(*roots: str) -> Iterator[Path]:
    for root in roots:
        for path in sorted((REPO / root).rglob("*.py")):
            if "piccolo_migrations" not in path.parts and "node_modules" not in path.parts:
                yield path


def _name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """The project's modules `path` imports, wherever the import statement is."""
    found: set[str] = set()
    package = _name(path) if path.name == "__init__.py" else _name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {name for name in found if name in known}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_module_imports_one_that_imports_it_back() -> None:
    paths = list(_modules(*PACKAGES))
    known = {_name(path) for path in paths}
    graph = {_name(path): _imports(path, known) - {_name(path)} for path in paths}
    assert "schema.schema" in graph["schema.edge"]  # the walk sees imports
    assert _cycles(graph) == []


def test_no_module_over_450_lines() -> None:
    long = [
        f"{path.relative_to(REPO)}: {lines}"
        for path in _modules(*PACKAGES, "tests")
        if (lines := path.read_text().count("\n")) > MAX_MODULE_LINES
    ]
    assert long == []


def test_no_function_over_60_lines() -> None:
    long = [
        f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {length}"
        for path in _modules(*PACKAGES, "tests")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    ]
    assert long == []

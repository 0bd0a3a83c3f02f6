"""The package's floors (README, Architecture): every import, including those under
``TYPE_CHECKING`` and inside functions, goes down a floor or stays on its own floor, and
no set of modules imports itself in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tap_calltrack"

#: From the top down. A module may import modules of its own floor or lower floors.
FLOORS: list[tuple[str, set[str]]] = [
    ("programs", {"tap", "excel"}),
    ("vendors", {"calltouch", "comagic", "callkeeper"}),
    ("engine", {"base", "fanout", "recordings", "unified"}),
    ("primitives", {"runtime", "run_status", "http", "settings", "shards", "inputs",
                    "messages", "redaction", "windows", "normalize", "prefetch",
                    "lookahead", "shutdown", "schema_files", "call_mapping", "sdk_compat"}),
]
#: Packages on one floor that must not import each other.
SIBLINGS_APART = [{"calltouch", "comagic", "callkeeper"}, {"tap", "excel"}]


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every package module ``name`` imports anywhere, with the packages Python runs
    first to reach it (importing ``a.b.c`` runs ``a`` and ``a.b``)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        for target in targets:
            parts = target.split(".")
            for end in range(1, len(parts) + 1):
                prefix = ".".join(parts[:end])
                if prefix in known and prefix != name:
                    found.add(prefix)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or a module importing
    itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def floor_of(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the package itself (its __init__ imports nothing)
    for number, (_, members) in enumerate(FLOORS):
        if parts[1] in members:
            return number
    raise AssertionError(f"{module} is on no floor: add it to FLOORS (and to the README)")


def top_part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_circles() -> None:
    assert circles(graph()) == []


def test_imports_only_go_down() -> None:
    upward = []
    for module, targets in graph().items():
        mine = floor_of(module)
        for target in targets:
            theirs = floor_of(target)
            if mine is not None and theirs is not None and theirs < mine:
                upward.append(f"{module} -> {target}")
            for apart in SIBLINGS_APART:
                if top_part(module) in apart and top_part(target) in apart and \
                        top_part(module) != top_part(target):
                    upward.append(f"{module} -> {target} (siblings)")
    assert upward == []


def test_the_walker_sees_hidden_imports(tmp_path: Path) -> None:
    """TYPE_CHECKING and function-local imports count, and circles are found."""
    package = tmp_path / "tap_calltrack"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                    "    from tap_calltrack.high import X\n")
    (package / "high.py").write_text("def f():\n    from . import low\n")
    known = {module_name(p, package): p for p in package.rglob("*.py")}
    edges = {name: imported(name, path, known) for name, path in known.items()}
    assert edges["tap_calltrack.low"] == {"tap_calltrack", "tap_calltrack.high"}
    assert "tap_calltrack.low" in edges["tap_calltrack.high"]
    assert circles(edges) == [["tap_calltrack.high", "tap_calltrack.low"]]


@pytest.mark.parametrize("vendor", ["calltouch", "comagic", "callkeeper"])
def test_vendor_packages_import_nothing_on_entry(vendor: str) -> None:
    """A vendor's ``__init__`` is its docstring: its modules import each other, and a
    package that imported them back would close a circle."""
    tree = ast.parse((PACKAGE / vendor / "__init__.py").read_text(encoding="utf-8"))
    assert not [node for node in ast.walk(tree)
                if isinstance(node, ast.Import | ast.ImportFrom)
                and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")]

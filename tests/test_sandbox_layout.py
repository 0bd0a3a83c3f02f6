"""The emulator's layout: a package of its own that imports nothing of the tap, whose vendor
apps share only protocol.py and world.py with the server, with no import circle (imports
inside functions and under TYPE_CHECKING count)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sandbox" / "calltrack_sandbox"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, known: set[str]) -> set[str]:
    """Every module ``path`` imports anywhere in its body (packages count as modules)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names
                         if f"{base}.{alias.name}" in known)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    paths = sorted(root.rglob("*.py"))
    known = {module_name(path) for path in paths}
    return {module_name(path): imported(path, known) for path in paths}


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """A chain of imports leading back to its start, if the graph has one."""
    done: set[str] = set()

    def visit(node: str, chain: list[str]) -> list[str] | None:
        if node in chain:
            return [*chain[chain.index(node):], node]
        if node in done or node not in graph:
            return None
        for target in sorted(graph[node]):
            circle = visit(target, [*chain, node])
            if circle:
                return circle
        done.add(node)
        return None

    for start in sorted(graph):
        circle = visit(start, [])
        if circle:
            return circle
    return None


def test_the_emulator_has_no_import_circle():
    graph = import_graph(PACKAGE)
    assert {"calltrack_sandbox.server", "calltrack_sandbox.protocol",
            "calltrack_sandbox.comagic.app"} <= set(graph)
    assert find_circle(graph) is None


def test_find_circle_finds_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_circle(graph) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": set()}) is None


def test_the_emulator_imports_nothing_of_the_tap():
    for module, targets in import_graph(PACKAGE).items():
        assert not [t for t in targets if t.split(".")[0] == "tap_calltrack"], module


def test_vendor_apps_share_only_protocol_and_world_with_the_server():
    graph = import_graph(PACKAGE)
    assert {"calltrack_sandbox.calltouch", "calltrack_sandbox.callkeeper",
            "calltrack_sandbox.comagic.app"} <= graph["calltrack_sandbox.server"]
    assert {t for t in graph["calltrack_sandbox.protocol"]
            if t.startswith("calltrack_sandbox")} == {"calltrack_sandbox.world"}
    apps = [m for m in graph if m.startswith(tuple(
        f"calltrack_sandbox.{vendor}" for vendor in ("calltouch", "callkeeper", "comagic")))]
    assert len(apps) >= 3
    for app in apps:
        assert "calltrack_sandbox.server" not in graph[app], app

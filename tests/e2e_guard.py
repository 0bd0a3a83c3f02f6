"""Every end-to-end test carries the ``e2e`` marker (tests/conftest.py installs this).

A test without the marker fails when, while it is set up or runs, the interpreter starts
one of the project's real programs (the tap, the target, the sandbox, Meltano, a loader,
PostgreSQL: a console script, ``python -m``, ``python -c`` code importing them, or a
shell command naming them) or binds a socket (a server on 127.0.0.1: FakeVendor, an
in-process SandboxServer). Python's audit events report both, whatever helper made the
call; a throwaway ``python -c`` is no end-to-end run. What starts once for many tests is
remembered: a fixture shared by a module (a sandbox process, the PostgreSQL server) and a
test module that starts a server when imported; an unmarked test using either fails too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

#: The project's real programs: console scripts and the binaries tests start.
PROGRAMS = frozenset({
    "tap-calltrack", "target-calltrack-excel", "calltrack-sandbox", "meltano", "dagster",
    "target-jsonl", "target-postgres", "initdb", "pg_ctl", "postgres", "psql",
})
#: Packages whose ``python -m`` (or ``python -c`` code) runs one of those programs.
MODULES = frozenset({"tap_calltrack", "calltrack_sandbox", "meltano"})


class MissingE2eMarker(RuntimeError):
    pass


class E2eGuard:
    def __init__(self) -> None:
        self.unmarked: str | None = None  # the unmarked test being set up or run
        self.violation: str | None = None
        self.fixtures: list[tuple[str, str]] = []  # (baseid, name) being set up
        self.importing: str | None = None  # the test module being imported
        self.starters: set[tuple[str, str]] = set()  # (baseid, fixture) that started one
        self.starting_modules: set[str] = set()  # test modules that start one on import

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.bind":
            what = f"binds a socket (a server): {args[1]!r}"
        elif event == "subprocess.Popen" and is_program(args[1]):
            what = f"starts a real program: {' '.join(words(args[1])[:4])}"
        else:
            return
        if self.fixtures:
            self.starters.add(self.fixtures[-1])
        if self.importing is not None:
            self.starting_modules.add(self.importing)
        if self.unmarked is not None and self.violation is None:
            self.violation = what
            raise MissingE2eMarker(self.message())

    def message(self) -> str:
        return (f"{self.unmarked} {self.violation} but is not marked e2e "
                "(@pytest.mark.e2e or pytestmark = pytest.mark.e2e)")

    @contextmanager
    def watching(self, item: pytest.Item) -> Iterator[None]:
        """Watch an unmarked test; a marked one may start anything."""
        if is_marked(item):
            yield
            return
        self.unmarked, self.violation = item.nodeid, None
        try:
            yield
        finally:
            self.unmarked = None
        if self.violation is not None:  # raised inside, maybe caught by the test
            pytest.fail(self.message(), pytrace=False)

    def started_for(self, item: pytest.Item) -> list[str]:
        """What an unmarked test uses that started a real program or a server."""
        if is_marked(item):
            return []
        names = set(getattr(item, "fixturenames", ()))
        used = sorted(f"fixture {name}" for baseid, name in self.starters
                      if name in names and item.nodeid.startswith(baseid))
        module = item.nodeid.split("::")[0]
        return used + ([f"its module {module}"] if module in self.starting_modules else [])


def is_marked(item: pytest.Item) -> bool:
    return item.get_closest_marker("e2e") is not None


def words(argv: Any) -> list[str]:
    items = [argv] if isinstance(argv, str | bytes) else list(argv)
    return [word for item in items for word in str(item).split()]


def is_program(argv: Any) -> bool:
    """Whether a command line runs one of PROGRAMS."""
    found = words(argv)
    for i, word in enumerate(found):
        if word.rsplit("/", 1)[-1] in PROGRAMS:
            return True
        if word == "-m" and i + 1 < len(found) and found[i + 1].split(".")[0] in MODULES:
            return True
        if word == "-c" and any(module in " ".join(found[i + 1:]) for module in MODULES):
            return True
    return False


GUARD = E2eGuard()
sys.addaudithook(GUARD.audit)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    if not isinstance(collector, pytest.Module):
        return (yield)
    GUARD.importing = collector.nodeid
    try:
        return (yield)
    finally:
        GUARD.importing = None


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> Any:
    GUARD.fixtures.append((fixturedef.baseid, fixturedef.argname))
    try:
        return (yield)
    finally:
        GUARD.fixtures.pop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    with GUARD.watching(item):
        result = yield
    started = GUARD.started_for(item)
    if started:
        pytest.fail(f"{item.nodeid} uses {', '.join(started)}, which started a real "
                    "program or server, but is not marked e2e", pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    with GUARD.watching(item):
        return (yield)

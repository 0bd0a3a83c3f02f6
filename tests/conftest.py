"""Shared fixtures: sandboxes as real processes on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from e2e_guard import (  # noqa: F401 - hooks: an unmarked test may start no process or server
    pytest_fixture_setup,
    pytest_make_collect_report,
    pytest_runtest_call,
    pytest_runtest_setup,
)
from postgres import PostgresServer, server_bin
from support import SandboxProcess


def sandbox_starter() -> Iterator[Callable[..., SandboxProcess]]:
    """Start sandboxes with CLI arguments; all are stopped when the fixture ends."""
    started: list[SandboxProcess] = []

    def start(*args: str) -> SandboxProcess:
        sandbox = SandboxProcess(*args)
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def start_sandbox() -> Iterator[Callable[..., SandboxProcess]]:
    """Sandboxes of one test."""
    yield from sandbox_starter()


@pytest.fixture(scope="module")
def start_module_sandbox() -> Iterator[Callable[..., SandboxProcess]]:
    """Sandboxes shared by a test module (module fixtures); stopped after the module."""
    yield from sandbox_starter()


@pytest.fixture(scope="module")
def sandbox(start_module_sandbox: Callable[..., SandboxProcess]) -> SandboxProcess:
    """A default sandbox shared by a test module (2 accounts per vendor, 300 calls each)."""
    return start_module_sandbox()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server on 127.0.0.1 (tests/postgres.py), one per test session."""
    bin_dir = server_bin()
    if bin_dir is None:
        if os.environ.get("CALLTRACK_REQUIRE_POSTGRES"):
            raise RuntimeError("PostgreSQL server binaries are missing (make postgres)")
        pytest.skip("PostgreSQL server binaries not found (run `make test`)")
    server = PostgresServer(bin_dir)
    yield server
    server.stop()

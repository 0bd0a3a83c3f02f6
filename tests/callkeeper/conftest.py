"""CallKeeper fixtures: an in-process sandbox for direct API tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from callkeeper_helpers import DAYS, FIRST_DAY, Expect

from calltrack_sandbox.callkeeper import CallkeeperApp
from calltrack_sandbox.protocol import SandboxOptions
from calltrack_sandbox.server import SandboxServer

RECORDS = 2400  # about 600 calls per 7 days and owner: user-2 (own + role) gets 2 pages


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    options = SandboxOptions(records=RECORDS, first_day=FIRST_DAY, days=DAYS)
    with SandboxServer(options) as running:
        yield running


@pytest.fixture(scope="module")
def expect() -> Expect:
    return Expect(RECORDS)


@pytest.fixture
def app(server: SandboxServer) -> CallkeeperApp:
    return next(a for a in server.sandbox.apps if isinstance(a, CallkeeperApp))


@pytest.fixture
def api_url(server: SandboxServer) -> str:
    return server.tap_config()["callkeeper"]["api_url"]

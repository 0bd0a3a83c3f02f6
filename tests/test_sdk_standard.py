"""The Singer SDK's standard tap tests, run against an in-process sandbox.

Two of them (primary keys, final state) cannot fail by construction; our own versions
are in the end-to-end tests (support.assert_unique_keys and the final-state tests).
"""

from __future__ import annotations

import atexit
import tempfile

import pytest
from singer_sdk.testing import get_tap_test_class

from calltrack_sandbox.protocol import SandboxOptions
from calltrack_sandbox.server import SandboxServer
from tap_calltrack.tap import TapCalltrack

pytestmark = pytest.mark.e2e

SANDBOX = SandboxServer(SandboxOptions(port=0, records=200)).__enter__()
atexit.register(SANDBOX.stop)


def _config() -> dict:
    config = SANDBOX.tap_config()
    config.update(start_date="2024-01-01", end_date="2024-01-05", lookback_days=0,
                  recordings_dir=tempfile.mkdtemp(prefix="calltrack-recordings-"))
    for vendor in ("calltouch", "comagic", "callkeeper"):
        if vendor in config:
            config[vendor]["max_requests_per_second"] = 200
    return {key: value for key, value in config.items() if value is not None}


def _everything_selected(config: dict) -> dict:
    """The recordings streams are opt-in: select them too (recordings_dir is set above)."""
    catalog = TapCalltrack(config=config).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = True
    return catalog


CONFIG = _config()
TestTapCalltrack = get_tap_test_class(TapCalltrack, config=CONFIG,
                                      catalog=_everything_selected(CONFIG))

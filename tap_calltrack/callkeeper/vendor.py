"""What CallKeeper contributes to the tap: its settings section, accounts and streams."""

from __future__ import annotations

from tap_calltrack.callkeeper.settings import DEFAULT_LIMITS, SETTINGS, parse_accounts
from tap_calltrack.callkeeper.streams import STREAMS
from tap_calltrack.settings import Vendor

VENDOR = Vendor(
    name="callkeeper",
    settings=SETTINGS,
    default_limits=DEFAULT_LIMITS,
    parse_accounts=parse_accounts,
    stream_classes=tuple(STREAMS),
)

"""What Comagic / UIS contributes to the tap: its settings section, accounts and streams."""

from __future__ import annotations

from tap_calltrack.comagic.settings import DEFAULT_LIMITS, SETTINGS, parse_accounts
from tap_calltrack.comagic.streams import STREAMS
from tap_calltrack.settings import Vendor

VENDOR = Vendor(
    name="comagic",
    settings=SETTINGS,
    default_limits=DEFAULT_LIMITS,
    parse_accounts=parse_accounts,
    stream_classes=tuple(STREAMS),
)

"""Comagic / UIS Data API v2.0: account, agency clients, dimensions, reports and call records."""

from __future__ import annotations

from tap_calltrack.comagic.settings import DEFAULT_LIMITS, SETTINGS, parse_accounts
from tap_calltrack.settings import Vendor


def stream_classes() -> list[type]:
    from tap_calltrack.comagic.streams import STREAMS

    return list(STREAMS)


VENDOR = Vendor(
    name="comagic",
    title="Comagic / UIS",
    settings=SETTINGS,
    default_limits=DEFAULT_LIMITS,
    parse_accounts=parse_accounts,
    stream_classes=stream_classes,
)

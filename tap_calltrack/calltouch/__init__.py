"""Calltouch: calls journal, leads, deals, statistics and call recordings, per site."""

from __future__ import annotations

from tap_calltrack.calltouch.settings import DEFAULT_LIMITS, SETTINGS, parse_accounts
from tap_calltrack.settings import Vendor


def stream_classes() -> list[type]:
    from tap_calltrack.calltouch.streams import STREAMS

    return list(STREAMS)


VENDOR = Vendor(
    name="calltouch",
    title="Calltouch",
    settings=SETTINGS,
    default_limits=DEFAULT_LIMITS,
    parse_accounts=parse_accounts,
    stream_classes=stream_classes,
)

"""CallKeeper (ckct.ru call-tracking API): calls, per API key."""

from __future__ import annotations

from tap_calltrack.callkeeper.settings import DEFAULT_LIMITS, SETTINGS, parse_accounts
from tap_calltrack.settings import Vendor


def stream_classes() -> list[type]:
    from tap_calltrack.callkeeper.streams import STREAMS

    return list(STREAMS)


VENDOR = Vendor(
    name="callkeeper",
    title="CallKeeper",
    settings=SETTINGS,
    default_limits=DEFAULT_LIMITS,
    parse_accounts=parse_accounts,
    stream_classes=stream_classes,
)

"""Vendor local date-time texts, read back as Excel date-times.

Vendors send local times without a zone, in their own formats: Calltouch calls and deals
"01/02/2024 09:46:25" (dd/mm/yyyy), Calltouch leads "01/02/2024 09:46:25" (mm/dd/yyyy),
Comagic "2024-01-02 09:46:25" (docs/excel.md, "Local times"). Such a text is read only in a
column that has a UTC partner in the same stream (``date`` beside ``date_utc``): of the
readings the text allows, the one a whole number of quarter-hours within 14 hours of the
partner's UTC instant is taken — that settles dd/mm against mm/dd. A text no reading of
which agrees with its partner stays text.
"""

from __future__ import annotations

import datetime as dt
import re

# "2024-01-02", "02/01/2024 09:46", "02.01.2024 09:46:25", "2024-01-02T09:46:25"
_LOCAL_RE = re.compile(
    r"\s*(\d{1,4})([-./])(\d{1,2})\2(\d{1,4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*"
)
MAX_OFFSET = dt.timedelta(hours=14)
_QUARTER_HOUR_S = 900

# Local-time columns of tap-calltrack's streams whose UTC partner is not "<name>_utc".
PARTNER_ALIASES: dict[str, str] = {
    "dateStr": "date_utc",  # Calltouch leads: the text form of `date`
    "callTime": "call_time_utc",  # CallKeeper calls
    "orderDate": "date_utc",  # Calltouch deals: date_utc is read from orderDate
}


def utc_partner(name: str, names: set[str]) -> str | None:
    """The UTC column that holds the same instant as local column ``name``, if any."""
    for partner in (f"{name}_utc", PARTNER_ALIASES.get(name)):
        if partner is not None and partner != name and partner in names:
            return partner
    return None


def readings(text: str) -> list[dt.datetime | dt.date]:
    """Every date or date-time ``text`` can be read as (day/month order unknown)."""
    match = _LOCAL_RE.fullmatch(text)
    if match is None:
        return []
    first, sep, middle, last, hour, minute, second = match.groups()
    if len(first) == 4:
        orders = [(int(first), int(middle), int(last))]
    elif len(last) == 4 and len(first) <= 2:
        day_first = (int(last), int(middle), int(first))
        orders = [day_first] if sep == "." else [day_first, (int(last), int(first), int(middle))]
    else:
        return []
    found: list[dt.datetime | dt.date] = []
    for year, month, day in orders:
        try:
            if hour is None:
                found.append(dt.date(year, month, day))
            else:
                found.append(
                    dt.datetime(year, month, day, int(hour), int(minute), int(second or 0))
                )
        except ValueError:
            continue
    return found


def _agrees(reading: dt.datetime | dt.date, utc: dt.datetime) -> bool:
    if isinstance(reading, dt.datetime):
        seconds = (reading - utc).total_seconds()  # the UTC side may carry milliseconds
        quarters = round(seconds / _QUARTER_HOUR_S)
        return (
            abs(seconds) <= MAX_OFFSET.total_seconds()
            and abs(seconds - quarters * _QUARTER_HOUR_S) < 1
        )
    return abs((reading - utc.date()).days) <= 1


def read_local(text: str, utc: dt.datetime | None) -> dt.datetime | dt.date | None:
    """The local date(-time) ``text`` stands for, checked against its UTC partner.

    ``utc`` is the partner's instant as a naive UTC date-time (None when the record has
    none; then only a text with a single reading is read). None: keep the text.
    """
    found = readings(text)
    if utc is not None:
        found = [reading for reading in found if _agrees(reading, utc)]
    if not found or any(reading != found[0] for reading in found[1:]):
        return None
    return found[0]

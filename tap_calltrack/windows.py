"""Date windows, lookback and canonical UTC bookmarks.

Every vendor answers in account-local time with no zone, and the SDK compares string
bookmarks as strings: so every bookmark and every normalised timestamp this tap writes is
one canonical format, UTC with an explicit offset: ``2024-03-01T21:00:00+00:00``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc


def canonical_utc(moment: dt.datetime) -> str:
    """The one bookmark/timestamp format of this tap (UTC, seconds, +00:00)."""
    if moment.tzinfo is None:
        raise ValueError("a naive date-time has no place in a bookmark")
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_utc(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


DMY_HMS = "%d/%m/%Y %H:%M:%S"


def parse_local(text: str, fmt: str) -> dt.datetime:
    """``strptime``, with a fast path for Calltouch's dd/mm/yyyy hh:mm:ss (one per record:
    strptime alone was a tenth of a run)."""
    if fmt == DMY_HMS and len(text) == 19 and text[2] == text[5] == "/":
        return dt.datetime.fromisoformat(f"{text[6:10]}-{text[3:5]}-{text[0:2]}{text[10:]}")
    return dt.datetime.strptime(text, fmt)


def local_to_utc(text: str, fmt: str, tz: ZoneInfo) -> str | None:
    """A vendor's local, zone-less time string -> canonical UTC; None when unparseable."""
    try:
        naive = parse_local(text, fmt)
    except (TypeError, ValueError):
        return None
    return canonical_utc(naive.replace(tzinfo=tz))


def epoch_ms_to_utc(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return canonical_utc(dt.datetime.fromtimestamp(float(value) / 1000, tz=UTC))
    except (ValueError, OverflowError, OSError):
        return None


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz)


def as_local(value: dt.date | dt.datetime, tz: ZoneInfo, *, date_means_end: bool) -> dt.datetime:
    """A config date/date-time in the account's zone.

    A bare date is local midnight; as an end it is inclusive (the next local midnight).
    A date-time without an offset is account-local.
    """
    if not isinstance(value, dt.datetime):
        return local_midnight(value + dt.timedelta(days=1) if date_means_end else value, tz)
    return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)


@dataclass(frozen=True)
class Window:
    """A half-open span of account-local time, ``[start, end)``."""

    start: dt.datetime
    end: dt.datetime

    @property
    def first_day(self) -> dt.date:
        return self.start.date()

    @property
    def last_day(self) -> dt.date:
        """The last local day the window touches (``end`` is exclusive)."""
        return (self.end - dt.timedelta(microseconds=1)).date()

    @property
    def last_second(self) -> dt.datetime:
        return (self.end - dt.timedelta(seconds=1)).replace(microsecond=0)

    @property
    def end_bookmark(self) -> str:
        return canonical_utc(self.end)

    def halves(self) -> tuple[Window, Window]:
        """Two windows covering this one (for vendors that cap rows per request)."""
        middle = self.start + (self.end - self.start) / 2
        middle = middle.replace(microsecond=0)
        if middle <= self.start or middle >= self.end:
            raise ValueError(f"window {self} cannot be split further")
        return Window(self.start, middle), Window(middle, self.end)

    def __str__(self) -> str:
        if self.start.time() == dt.time(0) and self.end.time() == dt.time(0):
            return f"{self.first_day}..{self.last_day}"
        return f"{self.start.isoformat(sep=' ')}..{self.end.isoformat(sep=' ')}"


def day_windows(start: dt.datetime, end: dt.datetime, days: int) -> list[Window]:
    """Windows of ``days`` local calendar days from the local midnight before ``start``.

    The last window ends at ``end`` (often "now"). An empty range gives no windows.
    """
    if days < 1:
        raise ValueError("a window has at least one day")
    tz = start.tzinfo
    assert isinstance(tz, ZoneInfo)
    end = end.astimezone(tz)
    if start >= end:
        return []
    windows: list[Window] = []
    cursor = local_midnight(start.date(), tz)
    while cursor < end:
        step = min(days, (end.date() - cursor.date()).days + 1)  # a huge setting can't overflow
        following = min(local_midnight(cursor.date() + dt.timedelta(days=step), tz), end)
        windows.append(Window(cursor, following))
        cursor = following
    return windows


def extraction_start(
    configured_start: dt.datetime,
    bookmark: str | None,
    lookback_days: int,
) -> dt.datetime:
    """Where a run starts: the bookmark minus the lookback, never before ``start_date``."""
    if not bookmark:
        return configured_start
    resume = parse_utc(bookmark).astimezone(configured_start.tzinfo)
    return max(configured_start, resume - dt.timedelta(days=lookback_days))


def iter_days(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)

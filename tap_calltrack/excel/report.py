"""The client report: Summary (with a chart), Campaigns and About sheets.

The counts are kept as grouped counters while the calls stream by, so memory depends on
the number of (day, vendor, account) and (day, source, medium, campaign) groups, never on
the number of calls. A call's day is its ``started_at`` in the target's time zone.
"""

from __future__ import annotations

import datetime as dt
import importlib
import platform
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from itertools import zip_longest
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl.chart import LineChart, Reference
from openpyxl.chart.axis import DateAxis

from tap_calltrack.excel.cells import CellRules, to_json_text
from tap_calltrack.excel.workbook import (
    WorkbookWriter,
    header_cell,
    set_autofilter,
    start_table,
)

SUMMARY, CAMPAIGNS, ABOUT = "Summary", "Campaigns", "About"
REPORT_SHEETS = (SUMMARY, CAMPAIGNS, ABOUT)
CALLS_STREAM = "calls"
VENDOR_CALL_STREAMS = ("calltouch_calls", "comagic_calls", "callkeeper_calls")
COUNT_HEADERS = ("All calls", "Unique", "Target", "Unique target", "Answered")
_FLAGS = ("is_unique", "is_target", "is_unique_target", "answered")
_UTC = dt.timezone.utc

GroupKey = tuple[Any, ...]


def _group_value(value: Any) -> str | None:
    if value is None:
        return None
    # Interned: thousands of groups share a few vendor/source/medium strings.
    return sys.intern(value if type(value) is str else to_json_text(value))


def _sort_key(key: GroupKey) -> tuple[tuple[bool, Any], ...]:
    return tuple((part is None, "" if part is None else part) for part in key)


class CallCounts:
    """Grouped counters of calls: all, unique, target, unique-target and answered."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.calls = 0
        self.by_account: dict[GroupKey, list[int]] = {}
        self.by_campaign: dict[GroupKey, list[int]] = {}

    def day_of(self, started_at: Any) -> dt.date | None:
        """The local day of a ``started_at`` value (UTC ISO-8601), or None."""
        if type(started_at) is not str:
            return None
        try:
            moment = dt.datetime.fromisoformat(started_at)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=_UTC)
            return moment.astimezone(self.tz).date()
        except (ValueError, OverflowError):
            return None

    def add(self, row: Mapping[str, Any]) -> None:
        """Count one unified call row."""
        self.calls += 1
        get = row.get
        day = self.day_of(get("started_at"))
        flags = [get(flag) is True for flag in _FLAGS]
        account = (day, _group_value(get("vendor")), _group_value(get("account")))
        campaign = (day, *map(_group_value, (get("source"), get("medium"), get("utm_campaign"))))
        for groups, key in ((self.by_account, account), (self.by_campaign, campaign)):
            counts = groups.get(key)
            if counts is None:
                groups[key] = [1, *map(int, flags)]
            else:
                counts[0] += 1
                counts[1] += flags[0]
                counts[2] += flags[1]
                counts[3] += flags[2]
                counts[4] += flags[3]

    @staticmethod
    def rows(groups: dict[GroupKey, list[int]]) -> Iterator[list[Any]]:
        """Groups as sorted rows, built one at a time: the key parts, then the counts.

        Sorting day by day keeps the sort keys of one day in memory, not of all groups.
        """
        by_day: dict[Any, list[GroupKey]] = {}
        for key in groups:
            by_day.setdefault(key[0], []).append(key)
        for day in sorted(by_day, key=lambda d: (d is None, d or dt.date.min)):
            for key in sorted(by_day.pop(day), key=_sort_key):
                yield [*key, *groups[key]]

    def daily_totals(self) -> list[list[Any]]:
        """Per known day: the five counts summed over vendors and accounts."""
        totals: dict[dt.date, list[int]] = {}
        for (day, *_), counts in self.by_account.items():
            if day is not None:
                current = totals.setdefault(day, [0, 0, 0, 0, 0])
                for i, n in enumerate(counts):
                    current[i] += n
        return [[day, *totals[day]] for day in sorted(totals)]

    def day_range(self) -> tuple[dt.date | None, dt.date | None]:
        """The first and last call day."""
        days = [key[0] for key in self.by_account if key[0] is not None]
        return (min(days), max(days)) if days else (None, None)


def _unified_module() -> ModuleType | None:
    try:
        return importlib.import_module("tap_calltrack.unified")
    except ImportError:
        return None


@dataclass
class CallReport:
    """Collects call counts: from the ``calls`` stream, else from vendor call streams."""

    tz: ZoneInfo
    direct: CallCounts = field(init=False)
    fallback: CallCounts = field(init=False)
    fallback_streams: set[str] = field(default_factory=set)
    saw_calls_stream: bool = False
    unmapped: Counter[str] = field(default_factory=Counter)
    missing_unifier: set[str] = field(default_factory=set)
    _unified: ModuleType | bool | None = False

    def __post_init__(self) -> None:
        self.direct = CallCounts(self.tz)
        self.fallback = CallCounts(self.tz)

    def observer(self, stream: str) -> Callable[[Mapping[str, Any]], None] | None:
        """What to call with each record of ``stream``, if it carries calls."""
        if stream == CALLS_STREAM:
            self.saw_calls_stream = True
            return self.direct.add
        if stream not in VENDOR_CALL_STREAMS:
            return None
        if self._unifier() is None:
            self.missing_unifier.add(stream)
            return None
        return lambda record: self._add_vendor(stream, record)

    def _unifier(self) -> ModuleType | None:
        if self._unified is False:
            self._unified = _unified_module()
        return self._unified  # type: ignore[return-value]

    def _add_vendor(self, stream: str, record: Mapping[str, Any]) -> None:
        if self.saw_calls_stream:
            return
        try:
            row = self._unifier().to_unified_row(stream, record)  # type: ignore[union-attr]
        except Exception as exc:  # a broken mapping must not cost the data sheets
            self.unmapped[type(exc).__name__] += 1
            return
        if row is not None:
            self.fallback_streams.add(stream)
            self.fallback.add(row)

    @property
    def counts(self) -> CallCounts | None:
        """The counts the report shows, or None when no call data arrived."""
        if self.saw_calls_stream:
            return self.direct
        return self.fallback if self.fallback.calls else None

    @property
    def source(self) -> str:
        """Where the counted calls came from, for the About sheet."""
        if self.saw_calls_stream:
            return "the calls stream"
        if self.fallback.calls:
            names = ", ".join(sorted(self.fallback_streams))
            return f"vendor call streams ({names}) via tap_calltrack.unified"
        return "none"

    def problems(self) -> list[str]:
        """Why some vendor calls are missing from the report (no record values)."""
        found = []
        if self.missing_unifier and not self.saw_calls_stream:
            names = ", ".join(sorted(self.missing_unifier))
            found.append(f"{names}: not counted, tap_calltrack.unified is not available")
        for error, n in sorted(self.unmapped.items()):
            found.append(f"{n} vendor call records not counted: to_unified_row raised {error}")
        return found


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def versions() -> list[tuple[str, str]]:
    """The versions the About sheet lists."""
    return [
        ("tap-calltrack", _version("tap-calltrack")),
        ("openpyxl", _version("openpyxl")),
        ("singer-sdk", _version("singer-sdk")),
        ("Python", platform.python_version()),
    ]


def _safe_row(rules: CellRules, values: Iterable[Any]) -> list[Any]:
    return [rules.text(v) if type(v) is str else v for v in values]


def write_summary(book: WorkbookWriter, counts: CallCounts, tz: ZoneInfo) -> None:
    """Calls per day per vendor/account, per-day totals beside them, and a chart."""
    ws = book.new_plain_sheet(SUMMARY)
    rules = CellRules(tz, ws)
    daily = counts.daily_totals()
    headers = ["Day", "Vendor", "Account", *COUNT_HEADERS, "", "Day", *COUNT_HEADERS]
    widths = [12, 14, 22, *([13] * 5), 3, 12, *([13] * 5)]
    start_table(ws, headers, widths)
    for left, right in zip_longest(counts.rows(counts.by_account), daily):
        ws.append([*_safe_row(rules, left or [None] * 8), None, *(right or [])])
    set_autofilter(ws, 8, len(counts.by_account))
    if daily:
        ws.add_chart(_daily_chart(ws, len(daily)), "Q2")


def _daily_chart(ws: Any, n_days: int) -> LineChart:
    chart = LineChart()
    chart.title = "Calls per day"
    chart.height, chart.width = 9, 18
    chart.y_axis.title = "Calls"
    chart.x_axis = DateAxis(crossAx=100)
    chart.x_axis.number_format = "yyyy-mm-dd"
    chart.x_axis.majorTimeUnit = "days"
    chart.x_axis.title = "Day"
    for axis in (chart.x_axis, chart.y_axis):
        axis.delete = False
    for column in (11, 13):  # All calls, Target
        data = Reference(ws, min_col=column, min_row=1, max_row=n_days + 1)
        chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=10, min_row=2, max_row=n_days + 1))
    return chart


def write_campaigns(book: WorkbookWriter, counts: CallCounts, tz: ZoneInfo) -> None:
    """Per day, source, medium and campaign: the same five counts."""
    ws = book.new_plain_sheet(CAMPAIGNS)
    rules = CellRules(tz, ws)
    start_table(
        ws, ["Day", "Source", "Medium", "Campaign", *COUNT_HEADERS], [12, 18, 14, 30, *([13] * 5)]
    )
    for row in counts.rows(counts.by_campaign):
        ws.append(_safe_row(rules, row))
    set_autofilter(ws, 9, len(counts.by_campaign))


@dataclass
class RunFacts:
    """What the About sheet tells about the run."""

    generated_at: dt.datetime
    timezone: str
    call_source: str
    day_range: tuple[dt.date | None, dt.date | None]
    calls: int
    streams: Sequence[tuple[str, Sequence[str], int]]


def write_about(book: WorkbookWriter, facts: RunFacts, tz: ZoneInfo) -> None:
    """When and from what the workbook was made, and with which versions."""
    ws = book.new_plain_sheet(ABOUT)
    rules = CellRules(tz, ws)
    start_table(ws, ["Item", "Value"], [24, 48, 12])
    first, last = facts.day_range
    rows: list[list[Any]] = [
        ["Generated at", facts.generated_at.replace(tzinfo=None, microsecond=0)],
        ["Time zone", facts.timezone],
        ["Call data from", facts.call_source],
        ["Calls counted", facts.calls],
        ["First call day", first],
        ["Last call day", last],
        [],
        [header_cell(ws, "Stream"), header_cell(ws, "Sheets"), header_cell(ws, "Rows")],
        *([name, ", ".join(sheets), n] for name, sheets, n in facts.streams),
        [],
        [header_cell(ws, "Software"), header_cell(ws, "Version")],
        *([name, version] for name, version in versions()),
    ]
    for row in rows:
        ws.append(_safe_row(rules, row))


def write_report(book: WorkbookWriter, report: CallReport, facts: RunFacts, tz: ZoneInfo) -> None:
    """All report sheets: Summary and Campaigns when calls were seen, About always."""
    counts = report.counts
    if counts is not None:
        write_summary(book, counts, tz)
        write_campaigns(book, counts, tz)
    write_about(book, facts, tz)
    book.order_sheets(first=[SUMMARY, CAMPAIGNS], last=[ABOUT])

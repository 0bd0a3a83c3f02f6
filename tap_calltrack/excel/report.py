"""The client report: Summary (with a chart), Campaigns and About sheets.

The counts are kept as grouped counters while the calls stream by, so memory depends on
the number of (day, vendor, account) and (day, source, medium, campaign) groups, never on
the number of calls. A call's day is its ``started_at`` in the target's time zone.
"""

from __future__ import annotations

import datetime as dt
import platform
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from itertools import chain, islice
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import LineChart, Reference
from openpyxl.chart.axis import DateAxis
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties

from tap_calltrack.call_mapping import to_unified_row
from tap_calltrack.excel.cells import CellRules, clean_text, text_width, to_json_text
from tap_calltrack.excel.funnel import (
    CALLS_STREAM,
    FUNNEL_STREAMS,
    MEASURES,
    VENDOR_CALL_STREAMS,
    FunnelCounts,
    local_day,
)
from tap_calltrack.excel.workbook import (
    WorkbookWriter,
    header_cell,
)

SUMMARY, CAMPAIGNS, FUNNEL, ABOUT = "Summary", "Campaigns", "Funnel", "About"
REPORT_SHEETS = (SUMMARY, CAMPAIGNS, FUNNEL, ABOUT)
COUNT_HEADERS = ("All calls", "Unique", "Target", "Unique target", "Answered")
_FLAGS = ("is_unique", "is_target", "is_unique_target", "answered")

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
        return local_day(started_at, self.tz)

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


@dataclass
class CallReport:
    """Collects call counts (from ``calls``, else vendor call streams) and the Funnel."""

    tz: ZoneInfo
    direct: CallCounts = field(init=False)
    fallback: CallCounts = field(init=False)
    funnel: FunnelCounts = field(init=False)
    fallback_streams: set[str] = field(default_factory=set)
    saw_calls_stream: bool = False
    unmapped: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.direct = CallCounts(self.tz)
        self.fallback = CallCounts(self.tz)
        self.funnel = FunnelCounts(self.tz)

    def observer(self, stream: str) -> Callable[[Mapping[str, Any]], None] | None:
        """What to call with each record of ``stream``, if it carries calls or the funnel."""
        if stream not in FUNNEL_STREAMS:
            return None
        if stream == CALLS_STREAM:  # from its SCHEMA on, as Summary and Campaigns count
            self.saw_calls_stream = self.funnel.calls_stream_present = True
        return lambda record: self._add(stream, record)

    def _add(self, stream: str, record: Mapping[str, Any]) -> None:
        try:  # a broken mapping must not cost the data sheets
            self.funnel.add(stream, record)
            if stream == CALLS_STREAM:
                self.direct.add(record)
            elif stream in VENDOR_CALL_STREAMS and not self.saw_calls_stream:
                row = to_unified_row(stream, dict(record))
                if row is not None:
                    self.fallback_streams.add(stream)
                    self.fallback.add(row)
        except Exception as exc:
            self.unmapped[type(exc).__name__] += 1

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
            return f"vendor call streams ({names}) via tap_calltrack.call_mapping"
        return "none"

    def problems(self) -> list[str]:
        """Why some records are missing from the report (no record values)."""
        return [
            f"{n} records not counted in the report: the vendor mapping raised {error}"
            for error, n in sorted(self.unmapped.items())
        ]


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


NOT_SET = "(не указано)"
_TITLE_FONT = Font(bold=True, size=14)
_BOLD = Font(bold=True)
_MONTH_FORMAT = "yyyy-mm"
_MONEY_FORMAT = "#,##0.00"
_MAX_ACCOUNTS_TEXT = 140
WIDTH_SAMPLE_ROWS = 500  # table rows the column widths are fitted to
_CHART_ROWS = 16  # the chart covers rows 5-20: on the first printed page
# Count headers sit over their right-aligned numbers; days and months under their header
# (right-aligned, a date runs into the left-aligned label beside it).
_MEASURE_HEADER = Alignment(horizontal="right", vertical="top")
_LEFT = Alignment(horizontal="left")


@dataclass
class ReportContext:
    """What every report sheet's title block says, and the cell rules for its texts."""

    tz: ZoneInfo
    accounts: str
    period: str


def _accounts_text(counts: CallCounts | None) -> str:
    if counts is None:
        return "none"
    by_vendor: dict[str, set[str]] = {}
    for _, vendor, account in counts.by_account:
        by_vendor.setdefault(vendor or "?", set()).add(account or "?")
    text = "; ".join(
        f"{vendor}: {', '.join(sorted(accounts))}" for vendor, accounts in sorted(by_vendor.items())
    )
    if len(text) > _MAX_ACCOUNTS_TEXT:  # a long line would shrink the printed page
        total = sum(len(accounts) for accounts in by_vendor.values())
        text = text[:_MAX_ACCOUNTS_TEXT].rsplit(", ", 1)[0] + f" … ({total} accounts)"
    return text


def _period_text(first: dt.date | None, last: dt.date | None, zone: str) -> str:
    if first is None or last is None:
        return f"no calls (days in {zone})"
    return f"{first.isoformat()} – {last.isoformat()} (days in {zone})"


def _styled(ws: Any, value: Any, font: Font | None = None, number_format: str = "") -> Any:
    cell = WriteOnlyCell(ws, value=clean_text(value) if type(value) is str else value)
    if type(value) is str:
        cell.data_type = "s"  # report texts come from the data: never a formula
    if font is not None:
        cell.font = font
    if number_format:
        cell.number_format = number_format
    return cell


def _title_block(ws: Any, context: ReportContext, title: str) -> None:
    """Rows 1-3: what the sheet shows, for which accounts, over which period; row 4 empty."""
    ws.append([_styled(ws, title, _TITLE_FONT)])
    ws.append([_styled(ws, "Accounts:", _BOLD), _styled(ws, context.accounts)])
    ws.append([_styled(ws, "Period:", _BOLD), _styled(ws, context.period)])
    ws.append([])


def _print_setup(ws: Any, title_rows: str) -> None:
    """Landscape, one page wide, the title (and table header) rows on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = "9"  # A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_title_rows = title_rows
    ws.print_options.gridLines = False


def _label(value: Any) -> str:
    return NOT_SET if value is None else value


def _widths(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], minimum: float = 10
) -> list[float]:
    widths = [max(minimum, text_width(h) + 2) for h in headers]
    for row in rows:
        for i, value in enumerate(row[: len(widths)]):
            if type(value) is str:
                widths[i] = max(widths[i], min(text_width(value) + 2, 60))
    return widths


def _table(
    ws: Any,
    rules: CellRules,
    title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    label_columns: int,
    formats: Mapping[int, str] | None = None,
) -> int:
    """A titled table with a bold header and a Total row; returns the rows written."""
    formats = formats or {}
    ws.append([_styled(ws, title, _BOLD)])
    header_cells = [header_cell(ws, h) for h in headers]
    for cell in header_cells[label_columns:]:
        cell.alignment = _MEASURE_HEADER
    ws.append(header_cells)
    totals: list[Any] = [0] * (len(headers) - label_columns)
    n = 0
    for row in rows:
        n += 1
        cells: list[Any] = []
        for i, value in enumerate(row):
            if i < label_columns and i > 0:
                value = _label(value)
            if i == 0 and isinstance(value, dt.date):
                cells.append(_styled(ws, value, None, formats.get(i, "")))
                cells[-1].alignment = _LEFT
            elif i in formats and value is not None:
                cells.append(_styled(ws, value, None, formats[i]))
            else:
                cells.append(rules.text(value) if type(value) is str else value)
            if i >= label_columns:
                totals[i - label_columns] += value or 0
        ws.append(cells)
    total_cells = [
        _styled(ws, value, _BOLD, formats.get(i + label_columns, ""))
        for i, value in enumerate(totals)
    ]
    ws.append([_styled(ws, "Total", _BOLD), *([None] * (label_columns - 1)), *total_cells])
    return n


def write_summary(book: WorkbookWriter, counts: CallCounts, context: ReportContext) -> None:
    """The chart of calls per day on top, then calls per day, then per vendor and account."""
    ws = book.new_plain_sheet(SUMMARY)
    rules = CellRules(context.tz, ws)
    daily = counts.daily_totals()
    by_account = list(counts.rows(counts.by_account))
    headers = ["Day", "Vendor", "Account", *COUNT_HEADERS]
    for i, width in enumerate(_widths(headers, by_account, 15), 1):  # both tables' headers fit
        ws.column_dimensions[get_column_letter(i)].width = width
    _print_setup(ws, "1:3")  # before the first row: openpyxl writes sheet properties first
    _title_block(ws, context, "Calls per day")
    for _ in range(_CHART_ROWS + 1):
        ws.append([])
    daily_title_row = 4 + _CHART_ROWS + 2  # the row of "Calls per day, all accounts"
    _table(ws, rules, "Calls per day, all accounts", ["Day", *COUNT_HEADERS], daily, 1)
    ws.append([])
    _table(ws, rules, "Calls per day, vendor and account", headers, by_account, 3)
    if daily:
        ws.add_chart(_daily_chart(ws, daily_title_row + 1, len(daily)), "A5")


def _daily_chart(ws: Any, header_row: int, n_days: int) -> LineChart:
    chart = LineChart()
    chart.title = "Calls per day"
    chart.height, chart.width = 7.5, 24  # cm: rows 5-20, columns A-H at the fitted widths
    chart.y_axis.title = "Calls"
    chart.x_axis = DateAxis(crossAx=100)
    chart.x_axis.number_format = "yyyy-mm-dd"
    chart.x_axis.majorTimeUnit = "days"
    chart.x_axis.title = "Day"
    for axis in (chart.x_axis, chart.y_axis):
        axis.delete = False
    last = header_row + n_days
    for column in (2, 4):  # All calls, Target
        chart.add_data(
            Reference(ws, min_col=column, min_row=header_row, max_row=last), titles_from_data=True
        )
    chart.set_categories(Reference(ws, min_col=1, min_row=header_row + 1, max_row=last))
    return chart


def _start_report_table_sheet(
    book: WorkbookWriter,
    name: str,
    context: ReportContext,
    headers: Sequence[str],
    rows: list[list[Any]],
    label_columns: int,
    title: str,
    min_widths: Mapping[int, float] | None = None,
) -> Any:
    ws = book.new_plain_sheet(name)
    labelled = [
        [_label(v) if 0 < i < label_columns else v for i, v in enumerate(r)] for r in rows
    ]
    for i, width in enumerate(_widths(headers, labelled, 12), 1):
        width = max(width, (min_widths or {}).get(i, 0))
        ws.column_dimensions[get_column_letter(i)].width = width  # before the first row
    ws.freeze_panes = "A7"  # the title block and the table header stay in view
    _print_setup(ws, "1:6")
    _title_block(ws, context, title)
    return ws


def write_campaigns(book: WorkbookWriter, counts: CallCounts, context: ReportContext) -> None:
    """Per day, source, medium and campaign: the same five counts."""
    headers = ["Day", "Source", "Medium", "Campaign", *COUNT_HEADERS]
    rows = counts.rows(counts.by_campaign)  # built one at a time: there may be many
    head = list(islice(rows, WIDTH_SAMPLE_ROWS))
    sheet_title = "Calls by campaign"
    ws = _start_report_table_sheet(book, CAMPAIGNS, context, headers, head, 4, sheet_title)
    title = "Calls per day and campaign"
    n = _table(ws, CellRules(context.tz, ws), title, headers, chain(head, rows), 4)
    ws.auto_filter.ref = f"A6:{get_column_letter(len(headers))}{6 + n}"


FUNNEL_NOTES = (
    "Calls and unique-target calls: every vendor (the calls stream; without it, the vendor "
    "call streams).",
    "Leads: Calltouch (calltouch_requests; source, medium, campaign of the lead's session).",
    "Deals and revenue: Calltouch deals (calltouch_orders: completedAmount, deleted deals "
    "left out) and Comagic calls with a sale (comagic_calls: sale_cost).",
    "CallKeeper gives calls only. A month is the month of the call, lead or deal in the "
    "report's time zone.",
)


def write_funnel(book: WorkbookWriter, funnel: FunnelCounts, context: ReportContext) -> None:
    """Per month, source, medium and campaign: calls, unique-target calls, leads, deals, revenue."""
    headers = ["Month", "Source", "Medium", "Campaign", *MEASURES]
    rows = funnel.rows()
    head = list(islice(rows, WIDTH_SAMPLE_ROWS))
    sheet_title = "Funnel: from calls to revenue"
    ws = _start_report_table_sheet(  # Revenue (column 9): room for a bold total in millions
        book, FUNNEL, context, headers, head, 4, sheet_title, {9: 16}
    )
    title = "Funnel: calls, leads, deals and revenue per month and campaign"
    formats = {0: _MONTH_FORMAT, 8: _MONEY_FORMAT}
    n = _table(ws, CellRules(context.tz, ws), title, headers, chain(head, rows), 4, formats)
    ws.auto_filter.ref = f"A6:{get_column_letter(len(headers))}{6 + n}"
    ws.append([])
    present = ", ".join(sorted(funnel.streams)) or "none"
    ws.append([_styled(ws, f"Streams in this run: {present}", _BOLD)])
    for note in FUNNEL_NOTES:
        ws.append([_styled(ws, note)])


@dataclass
class RunFacts:
    """What the About sheet tells about the run."""

    generated_at: dt.datetime
    timezone: str
    call_source: str
    day_range: tuple[dt.date | None, dt.date | None]
    calls: int
    streams: Sequence[tuple[str, Sequence[str], int]]


def write_about(book: WorkbookWriter, facts: RunFacts, context: ReportContext) -> None:
    """When and from what the workbook was made, and with which versions."""
    ws = book.new_plain_sheet(ABOUT)
    rules = CellRules(context.tz, ws)
    for letter, width in zip("ABC", (24, 60, 12), strict=True):
        ws.column_dimensions[letter].width = width
    _print_setup(ws, "1:3")
    _title_block(ws, context, "About this workbook")
    first, last = facts.day_range
    rows: list[list[Any]] = [
        [header_cell(ws, "Item"), header_cell(ws, "Value")],
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
        ws.append([rules.text(v) if type(v) is str else v for v in row])


def write_report(book: WorkbookWriter, report: CallReport, facts: RunFacts, tz: ZoneInfo) -> None:
    """The report sheets: Summary and Campaigns with calls, Funnel with funnel data, About."""
    counts = report.counts
    context = ReportContext(tz, _accounts_text(counts), _period_text(*facts.day_range, tz.key))
    if counts is not None:
        write_summary(book, counts, context)
        write_campaigns(book, counts, context)
    if report.funnel.groups():
        write_funnel(book, report.funnel, context)
    write_about(book, facts, context)
    book.order_sheets(first=[SUMMARY, CAMPAIGNS, FUNNEL], last=[ABOUT])

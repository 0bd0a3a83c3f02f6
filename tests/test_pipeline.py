"""The whole pipeline: tap-calltrack | target-calltrack-excel against the sandbox, read back."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import subprocess
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from python_calamine import CalamineWorkbook
from support import console_script, discover, select, write_json

from tap_calltrack.excel.cells import text_width
from tap_calltrack.windows import parse_utc

pytestmark = pytest.mark.e2e

MSK = ZoneInfo("Europe/Moscow")
STREAMS = {"calltouch_calls", "comagic_calls", "callkeeper_calls", "calls", "calltouch_orders",
           "calltouch_requests"}
STARTED_AT = "started_at (Europe/Moscow)"  # a local date-time column names its zone


class PipelineRun(tuple):
    """(records per stream, the workbook read by calamine, (tap STATEs, target STATEs))."""

    config: dict
    workbook: Path


@pytest.fixture(scope="module")
def pipeline(sandbox, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    config = sandbox.config(start_date="2024-01-02", end_date="2024-01-09", lookback_days=0)
    catalog = select(discover(config, tmp), STREAMS)
    tap = subprocess.run(
        [console_script("tap-calltrack"), "--config", str(write_json(tmp / "c.json", config)),
         "--catalog", str(write_json(tmp / "cat.json", catalog))],
        capture_output=True, text=True, check=True)
    workbook = tmp / "report.xlsx"
    target = subprocess.run(
        [console_script("target-calltrack-excel"), "--config",
         str(write_json(tmp / "t.json", {"output_path": str(workbook)}))],
        input=tap.stdout, capture_output=True, text=True)
    assert target.returncode == 0, target.stderr[-2000:]
    records: dict[str, list[dict]] = {}
    tap_states = []
    for line in tap.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            records.setdefault(message["stream"], []).append(message["record"])
        elif message["type"] == "STATE":
            tap_states.append(message["value"])
    target_states = [json.loads(line) for line in target.stdout.splitlines()]
    run = PipelineRun((records, CalamineWorkbook.from_path(str(workbook)),
                       (tap_states, target_states)))
    run.config, run.workbook = config, workbook
    return run


def sheet_rows(book: CalamineWorkbook, name: str) -> list[dict]:
    rows = book.get_sheet_by_name(name).to_python()
    header = [str(cell) for cell in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def local_naive(utc: str) -> dt.datetime:
    return parse_utc(utc).astimezone(MSK).replace(tzinfo=None)


def test_every_record_is_a_row_with_its_values(pipeline):
    records, book, _ = pipeline
    for stream in STREAMS:
        assert len(sheet_rows(book, stream)) == len(records[stream]) > 0, stream
    rows = {(r["vendor"], r["account"], r["call_id"]): r for r in sheet_rows(book, "calls")}
    for record in records["calls"]:
        row = rows[(record["vendor"], record["account"], record["call_id"])]
        assert row[STARTED_AT] == local_naive(record["started_at"])
        assert row["duration_s"] == record["duration_s"]
        if record["answered"] is None:  # CallKeeper v1 rows tell no status
            assert row["answered"] == ""
        else:
            assert row["answered"] is record["answered"]
        assert row["caller_number"] == record["caller_number"]  # text, not a number
        assert row["tags"] == json.dumps(record["tags"], ensure_ascii=False,
                                         separators=(",", ":"))
        for column in ("utm_campaign", "city", "record_url"):
            assert row[column] == (record[column] if record[column] is not None else "")


def test_nested_vendor_fields_are_flattened_and_placeholders_kept(pipeline):
    records, book, _ = pipeline
    rows = {row["callId"]: row for row in sheet_rows(book, "calltouch_calls")}
    header = list(next(iter(rows.values())))
    assert header[:2] == ["site_id", "callId"]  # key properties first
    for record in records["calltouch_calls"]:
        row = rows[record["callId"]]
        assert row["utmSource"] == record["utmSource"]  # "<не указано>" stays raw here
        direct = record.get("yandexDirect")
        assert row["yandexDirect.campaignId"] == (direct["campaignId"] if direct else "")
        assert row["callerNumber"] == record["callerNumber"]
    deals = {row["orderNumber"]: row for row in sheet_rows(book, "calltouch_orders")}
    for record in records["calltouch_orders"]:
        assert deals[record["orderNumber"]]["client.phones"] == record["client"]["phones"]


def report_table(rows: list[list], title: str) -> tuple[list, list[list], list]:
    """A titled table of a report sheet (below its title block): header, rows, Total row."""
    start = next(i for i, row in enumerate(rows) if i > 3 and row and row[0] == title)
    header = [cell for cell in rows[start + 1] if cell not in (None, "")]
    end = next(i for i in range(start + 2, len(rows)) if rows[i] and rows[i][0] == "Total")
    return header, [row[: len(header)] for row in rows[start + 2:end]], rows[end][: len(header)]


def test_report_sheets_count_the_calls(pipeline):
    records, book, states = pipeline
    assert {"Summary", "Campaigns", "Funnel", "About"} <= set(book.sheet_names)
    summary = book.get_sheet_by_name("Summary").to_python()
    header, rows, total = report_table(summary, "Calls per day, vendor and account")
    assert header == ["Day", "Vendor", "Account", "All calls", "Unique", "Target",
                      "Unique target", "Answered"]
    counted: Counter[tuple] = Counter()
    answered: Counter[tuple] = Counter()
    for day, vendor, account, calls, _, _, _, answers in rows:
        counted[(day, vendor, account)] += int(calls)
        answered[(day, vendor, account)] += int(answers)
    expected: Counter[tuple] = Counter()
    expected_answered: Counter[tuple] = Counter()
    for record in records["calls"]:
        key = (local_naive(record["started_at"]).date(), record["vendor"], record["account"])
        expected[key] += 1
        expected_answered[key] += bool(record["answered"])
    assert counted == expected and answered == expected_answered
    assert total[3] == len(records["calls"])
    tap_states, target_states = states
    assert target_states[-1] == tap_states[-1]  # the target passes on the final state


UTC_COLUMNS = {"calltouch_calls": "date_utc", "comagic_calls": "start_time_utc",
               "callkeeper_calls": "call_time_utc", "calltouch_orders": "date_utc",
               "calltouch_requests": "date_utc"}
LOCAL_COLUMNS = {("calltouch_calls", "date"), ("comagic_calls", "start_time"),
                 ("calltouch_requests", "dateStr"), ("callkeeper_calls", "callTime"),
                 ("calltouch_orders", "orderDate")}
LOCAL_FORMATS = ("%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S")


def openpyxl_rows(ws) -> list[dict]:
    values = list(ws.values)
    width = len(values[0])  # read-only rows may stop at their last value
    return [dict(zip(values[0], (*row, *[None] * width)[:width], strict=True))
            for row in values[1:]]


def test_time_columns_are_honest(pipeline):
    records = pipeline[0]
    book = openpyxl.load_workbook(pipeline.workbook, read_only=True)
    site_zones = {site["site_id"]: ZoneInfo(site.get("timezone", "Europe/Moscow"))
                  for site in pipeline.config["calltouch"]["sites"]}
    checked: set[tuple[str, str]] = set()
    for stream, utc_column in UTC_COLUMNS.items():
        rows = openpyxl_rows(book[stream])
        assert len(rows) == len(records[stream]) > 0
        for row, record in zip(rows, records[stream], strict=True):
            utc = parse_utc(record[utc_column]).replace(tzinfo=None)
            assert row[utc_column] == utc, stream  # a *_utc column shows UTC
            for local_stream, column in LOCAL_COLUMNS:
                if local_stream != stream or record.get(column) is None:
                    continue
                checked.add((stream, column))
                local = row[f"{column} (account's local time)"]
                readings = set()
                for fmt in LOCAL_FORMATS:
                    with contextlib.suppress(ValueError):
                        readings.add(dt.datetime.strptime(record[column], fmt))
                assert local in readings, (stream, column)  # the vendor's text, as a date-time
                offset = (local - utc).total_seconds()
                assert abs(offset) <= 14 * 3600 and offset % 900 == 0
                if stream == "calltouch_calls":
                    zone = site_zones[record["site_id"]]
                    assert local == parse_utc(record[utc_column]).astimezone(zone).replace(
                        tzinfo=None)
    assert checked == LOCAL_COLUMNS  # every vendor's local time was seen and checked


def test_report_sheets_are_ready_to_send(pipeline):
    records = pipeline[0]
    book = openpyxl.load_workbook(pipeline.workbook)
    summary = book["Summary"]
    assert summary["A1"].value == "Calls per day"
    assert summary["A2"].value == "Accounts:" and "calltouch" in summary["B2"].value
    assert summary["A3"].value == "Period:" and "2024-01-0" in summary["B3"].value
    (chart,) = summary._charts
    anchor = chart.anchor._from
    assert anchor.row <= 5 and anchor.col <= 2  # in view when the file opens
    for name in ("Summary", "Campaigns", "Funnel", "About"):
        ws = book[name]
        assert ws.page_setup.orientation == "landscape", name
        assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0, name
        assert ws.sheet_properties.pageSetUpPr.fitToPage, name
        assert ws.print_title_rows, name
    campaigns = list(book["Campaigns"].values)
    body = [row for row in campaigns[6:] if row[0] not in (None, "Total")]
    assert body and all(None not in row[1:4] for row in body)
    assert any("(не указано)" in row[1:4] for row in body)
    sources = {row[1] for row in body}
    widest = max(text_width(source) for source in sources)
    assert book["Campaigns"].column_dimensions["B"].width >= widest
    calltouch = book["calltouch_calls"]
    assert calltouch.freeze_panes == "C2"  # site_id and callId stay in view
    header = [cell.value for cell in calltouch[1]]
    assert header[:3] == ["site_id", "callId", "date_utc"]
    assert len(records["calltouch_calls"]) > 0


def test_funnel_totals_agree_with_the_stream_sheets(pipeline):
    records, book, _ = pipeline
    funnel = book.get_sheet_by_name("Funnel").to_python()
    title = "Funnel: calls, leads, deals and revenue per month and campaign"
    header, rows, total = report_table(funnel, title)
    assert header == ["Month", "Source", "Medium", "Campaign", "Calls", "Unique-target calls",
                      "Leads", "Deals", "Revenue"]
    sheet = {name: sheet_rows(book, name) for name in STREAMS}
    deals = [row for row in sheet["calltouch_orders"] if row["isDeleted"] is not True]
    sales = [row for row in sheet["comagic_calls"] if row["sale_cost"] != "" or
             row["sale_date"] not in ("", None)]
    assert total[4] == len(sheet["calls"]) == len(records["calls"])
    assert total[5] == sum(row["is_unique_target"] is True for row in sheet["calls"])
    assert total[6] == len(sheet["calltouch_requests"]) > 0
    assert total[7] == len(deals) + len(sales) > 0
    revenue = sum(row["completedAmount"] or 0 for row in deals) + sum(
        row["sale_cost"] or 0 for row in sales)
    assert total[8] == pytest.approx(revenue) and revenue > 0
    assert [sum(row[i] for row in rows) for i in range(4, 9)] == pytest.approx(total[4:9])

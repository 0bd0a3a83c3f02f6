"""Sheets, rollover, second SCHEMA, report sheets and the atomic save, run in-process."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
from pathlib import Path

import openpyxl
import pytest
from excel_helpers import (
    CALLS_KEYS,
    CALLS_PROPERTIES,
    call,
    read_calamine,
    read_openpyxl,
    record_msg,
    report_table,
    run_target,
    schema_msg,
    singer_lines,
    state_msg,
)

from tap_calltrack.excel import funnel, report
from tap_calltrack.excel import loader as loader_module
from tap_calltrack.excel.cells import cut_marker
from tap_calltrack.excel.errors import InputError
from tap_calltrack.excel.report import NOT_SET, CallCounts
from tap_calltrack.excel.target import TargetCalltrackExcel

HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "+79161234567",
    "-1+2",
    "@SUM(1)",
    "\t=1",
    "\r=1",
    "#N/A",
    "#DIV/0!",
    "#REF!",
]
SIMPLE = {"id": {"type": "integer"}, "text": {"type": ["string", "null"]}}


def simple_records(stream: str, n: int, start: int = 0) -> list[dict]:
    return [record_msg(stream, {"id": i, "text": f"row {i}"}) for i in range(start, start + n)]


def test_hostile_strings_stay_strings_in_data_and_report_sheets(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    controls = "a\x00b\x01c\x0bd\x1fe"
    long_text = "x" * 40_000
    props = {"id": {"type": "integer"}, "v": {"type": "string"}}
    rows = [{"id": i, "v": v} for i, v in enumerate([*HOSTILE, controls, long_text])]
    calls = [
        call(
            str(i), "2024-05-01T10:00:00Z", vendor=v, account=v, source=v, medium=v, utm_campaign=v
        )
        for i, v in enumerate(HOSTILE)
    ]
    messages = [
        schema_msg("=evil", props, ["id"]),
        *(record_msg("=evil", r) for r in rows),
        schema_msg("calls", CALLS_PROPERTIES, CALLS_KEYS),
        *(record_msg("calls", c) for c in calls),
    ]
    run_target({"output_path": str(path)}, singer_lines(messages))

    sheets = read_openpyxl(path)  # asserts: no formula, no error cell anywhere
    data = [row[1] for row in sheets["=evil"][1:]]
    assert data[: len(HOSTILE)] == HOSTILE
    assert data[len(HOSTILE)] == "abcde"
    assert len(data[-1]) == 32_767
    assert data[-1].endswith(cut_marker(40_000))
    _, campaign_rows, _ = report_table(sheets["Campaigns"], "Calls per day and campaign")
    campaigns = {row[3] for row in campaign_rows}
    assert campaigns == set(HOSTILE)
    _, account_rows, _ = report_table(sheets["Summary"], "Calls per day, vendor and account")
    summary_vendors = {row[1] for row in account_rows if row[1]}
    assert summary_vendors == set(HOSTILE)
    assert read_calamine(path)["=evil"][1][1] == HOSTILE[0]


def test_header_is_styled_frozen_filtered_and_widths_fit(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    props = {"id": {"type": "integer"}, "long_text": {"type": "string"}, "n": {"type": "number"}}
    records = [record_msg("s", {"id": i, "long_text": "w" * 30, "n": 1.5}) for i in range(5)]
    run_target(
        {"output_path": str(path), "report_sheets": False},
        singer_lines([schema_msg("s", props, ["id"]), *records]),
    )
    ws = openpyxl.load_workbook(path)["s"]
    assert ws.freeze_panes == "B2"  # the header row and the key column stay in view
    assert ws.auto_filter.ref == "A1:C6"
    assert all(cell.font.bold for cell in ws[1])
    assert ws.column_dimensions["B"].width >= 30
    assert ws.column_dimensions["A"].width < ws.column_dimensions["B"].width


def test_rollover_continues_on_numbered_sheets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "out.xlsx"
    messages = [schema_msg("s", SIMPLE, ["id"]), *simple_records("s", 7)]
    with caplog.at_level(logging.INFO):
        run_target(
            {"output_path": str(path), "max_rows_per_sheet": 3, "report_sheets": False},
            singer_lines(messages),
        )
    sheets = read_openpyxl(path)
    assert list(sheets) == ["s", "s (2)", "s (3)"]
    ids = [row[0] for name in sheets for row in sheets[name][1:]]
    assert ids == list(range(7))
    assert all(sheets[name][0] == ["id", "text"] for name in sheets)
    assert [len(sheets[name]) - 1 for name in sheets] == [3, 3, 1]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("2 continuation sheets" in m for m in warnings)


def test_second_schema_with_new_columns_continues_on_a_new_sheet(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    wider = {**SIMPLE, "extra": {"type": "boolean"}}
    messages = [
        schema_msg("s", SIMPLE, ["id"]),
        *simple_records("s", 2),
        schema_msg("s", SIMPLE, ["id"]),
        *simple_records("s", 1, start=2),  # same: same sheet
        schema_msg("s", wider, ["id"]),
        record_msg("s", {"id": 3, "text": "t", "extra": True}),
    ]
    run_target({"output_path": str(path), "report_sheets": False}, singer_lines(messages))
    sheets = read_openpyxl(path)
    assert sheets["s"] == [["id", "text"], [0, "row 0"], [1, "row 1"], [2, "row 2"]]
    assert sheets["s (2)"] == [["id", "text", "extra"], [3, "t", True]]


def test_sheet_names_are_safe_unique_and_keep_cyrillic(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    streams = ["звонки/по:дням", "звонки_по_дням", "Summary", "a" * 40, "history"]
    messages = [m for s in streams for m in (schema_msg(s, SIMPLE), *simple_records(s, 1))]
    run_target({"output_path": str(path)}, singer_lines(messages))
    names = openpyxl.load_workbook(path, read_only=True).sheetnames
    assert names == [
        "звонки_по_дням",
        "звонки_по_дням (2)",
        "Summary (2)",
        "a" * 31,
        "History_",
        "About",
    ]


def test_a_stream_without_records_still_gets_its_header(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    run_target(
        {"output_path": str(path), "report_sheets": False},
        singer_lines([schema_msg("empty", SIMPLE, ["id"])]),
    )
    assert read_openpyxl(path) == {"empty": [["id", "text"]]}


def test_report_sheets_count_calls_per_day_vendor_and_campaign(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    calls = [
        call(
            "1",
            "2024-05-01T20:59:00Z",
            is_unique=True,
            source="yandex",
            medium="cpc",
            utm_campaign="spring",
        ),
        call(
            "2",
            "2024-05-01T21:00:00Z",
            is_unique=True,
            is_target=True,
            is_unique_target=True,
            source="yandex",
            medium="cpc",
            utm_campaign="spring",
        ),  # 00:00 MSK: next day
        call(
            "3",
            "2024-05-02T08:00:00Z",
            answered=False,
            source="yandex",
            medium="cpc",
            utm_campaign="spring",
        ),
        call("4", "2024-05-02T09:00:00Z", vendor="comagic", account="77", is_target=True),
        call("5", None, vendor="comagic", account="77"),
    ]
    messages = [
        schema_msg("calls", CALLS_PROPERTIES, CALLS_KEYS),
        *(record_msg("calls", c) for c in calls),
    ]
    run_target({"output_path": str(path)}, singer_lines(messages))
    sheets = read_openpyxl(path)
    day1, day2 = dt.datetime(2024, 5, 1), dt.datetime(2024, 5, 2)
    summary = sheets["Summary"]
    assert summary[0] == ["Calls per day"]
    assert summary[1] == ["Accounts:", "calltouch: site-1; comagic: 77"]
    assert summary[2] == ["Period:", "2024-05-01 – 2024-05-02 (days in Europe/Moscow)"]
    header, rows, total = report_table(summary, "Calls per day, vendor and account")
    assert header == [
        "Day",
        "Vendor",
        "Account",
        "All calls",
        "Unique",
        "Target",
        "Unique target",
        "Answered",
    ]
    assert rows == [
        [day1, "calltouch", "site-1", 1, 1, 0, 0, 1],
        [day2, "calltouch", "site-1", 2, 1, 1, 1, 1],
        [day2, "comagic", "77", 1, 0, 1, 0, 1],
        [None, "comagic", "77", 1, 0, 0, 0, 1],
    ]
    assert total == ["Total", None, None, 5, 2, 2, 1, 4]
    _, daily, daily_total = report_table(summary, "Calls per day, all accounts")
    assert daily == [[day1, 1, 1, 0, 0, 1], [day2, 3, 1, 2, 1, 2]]
    assert daily_total == ["Total", 4, 2, 2, 1, 3]  # the call without a day is not on a day
    _, campaigns, _ = report_table(sheets["Campaigns"], "Calls per day and campaign")
    assert campaigns == [
        [day1, "yandex", "cpc", "spring", 1, 1, 0, 0, 1],
        [day2, "yandex", "cpc", "spring", 2, 1, 1, 1, 1],
        [day2, NOT_SET, NOT_SET, NOT_SET, 1, 0, 1, 0, 1],  # unknown values sort last
        [None, NOT_SET, NOT_SET, NOT_SET, 1, 0, 0, 0, 1],
    ]
    wb = openpyxl.load_workbook(path)
    assert len(wb["Summary"]._charts) == 1
    about = {row[0]: row[1] for row in sheets["About"] if len(row) > 1 and row[0]}
    assert about["Time zone"] == "Europe/Moscow"
    assert about["Call data from"] == "the calls stream"
    assert about["First call day"] == day1
    assert about["Last call day"] == day2
    assert about["calls"] == "calls"
    assert about["tap-calltrack"] and about["openpyxl"] == openpyxl.__version__
    assert {"singer-sdk", "Python"} <= set(about)
    stream_row = next(row for row in sheets["About"] if row and row[0] == "calls")
    assert stream_row[2] == 5


def test_report_sheets_can_be_turned_off(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    messages = [
        schema_msg("calls", CALLS_PROPERTIES, CALLS_KEYS),
        record_msg("calls", call("1", "2024-05-01T10:00:00Z")),
    ]
    run_target({"output_path": str(path), "report_sheets": False}, singer_lines(messages))
    assert list(read_openpyxl(path)) == ["calls"]


def test_without_call_data_only_about_is_added(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    run_target(
        {"output_path": str(path)}, singer_lines([schema_msg("s", SIMPLE), *simple_records("s", 2)])
    )
    assert list(read_openpyxl(path)) == ["s", "About"]


def fake_to_unified_row(stream: str, record: dict) -> dict | None:
    if stream != "calltouch_calls":
        return None
    return call(
        str(record["callId"]),
        record["date_utc"],
        utm_campaign=record["utm"],
        source="google",
        medium="cpc",
    )


def test_vendor_call_streams_feed_the_report_through_unified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "to_unified_row", fake_to_unified_row)
    monkeypatch.setattr(funnel, "to_unified_row", fake_to_unified_row)
    check_vendor_fallback(tmp_path)


def check_vendor_fallback(tmp_path: Path) -> None:
    props = {
        "callId": {"type": "integer"},
        "date_utc": {"type": "string", "format": "date-time"},
        "utm": {"type": "string"},
    }
    records = [{"callId": i, "date_utc": "2024-05-01T10:00:00Z", "utm": "=x"} for i in range(3)]
    messages = [
        schema_msg("calltouch_calls", props, ["callId"]),
        *(record_msg("calltouch_calls", r) for r in records),
        schema_msg("comagic_calls", props),
        record_msg("comagic_calls", records[0]),
    ]
    path = tmp_path / "out.xlsx"
    run_target({"output_path": str(path)}, singer_lines(messages))
    sheets = read_openpyxl(path)
    _, campaigns, _ = report_table(sheets["Campaigns"], "Calls per day and campaign")
    assert campaigns == [[dt.datetime(2024, 5, 1), "google", "cpc", "=x", 3, 0, 0, 0, 3]]
    about = {row[0]: row[1] for row in sheets["About"] if len(row) > 1 and row[0]}
    assert (
        about["Call data from"]
        == "vendor call streams (calltouch_calls) via tap_calltrack.call_mapping"
    )


def test_call_counts_keep_only_grouped_counters() -> None:
    from zoneinfo import ZoneInfo

    counts = CallCounts(ZoneInfo("Europe/Moscow"))
    for i in range(5000):
        counts.add(call(str(i), f"2024-05-0{1 + i % 3}T10:00:00Z", utm_campaign=f"c{i % 4}"))
    assert counts.calls == 5000
    assert len(counts.by_account) == 3
    assert len(counts.by_campaign) == 12


def test_batch_messages_are_read_from_local_jsonl_files(tmp_path: Path) -> None:
    batch = tmp_path / "batch.jsonl.gz"
    with gzip.open(batch, "wt", encoding="utf-8") as out:
        for i in range(3):
            out.write(json.dumps({"id": i, "text": f"b{i}"}) + "\n")
    message = {
        "type": "BATCH",
        "stream": "s",
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "manifest": [batch.as_uri()],
    }
    path = tmp_path / "out.xlsx"
    run_target(
        {"output_path": str(path), "report_sheets": False},
        singer_lines(
            [
                schema_msg("s", SIMPLE),
                message,
                {"type": "ACTIVATE_VERSION", "stream": "s", "version": 1},
            ]
        ),
    )
    assert read_openpyxl(path)["s"][1:] == [[0, "b0"], [1, "b1"], [2, "b2"]]


def test_a_failed_save_keeps_the_previous_workbook_and_emits_no_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.xlsx"
    path.write_bytes(b"previous workbook")

    def broken_save(self: object, filename: str) -> None:
        Path(filename).write_bytes(b"half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(openpyxl.Workbook, "save", broken_save)
    text = singer_lines([schema_msg("s", SIMPLE), *simple_records("s", 2), state_msg({"x": 1})])
    with pytest.raises(OSError, match="disk full"):
        run_target({"output_path": str(path)}, text)
    assert path.read_bytes() == b"previous workbook"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.xlsx"]


def test_state_is_the_latest_and_written_once_after_the_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.xlsx"
    seen: list[bool] = []
    original = loader_module.WorkbookWriter.save

    def spy_save(self: object, target: Path) -> None:
        seen.append(target.exists())
        original(self, target)  # type: ignore[arg-type]

    monkeypatch.setattr(loader_module.WorkbookWriter, "save", spy_save)
    text = singer_lines(
        [schema_msg("s", SIMPLE), state_msg({"n": 1}), *simple_records("s", 2), state_msg({"n": 2})]
    )
    stdout = run_target({"output_path": str(path)}, text)
    assert seen == [False]
    assert stdout.splitlines() == ['{"n": 2}']


def test_progress_lines_report_rows_per_stream_and_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(TargetCalltrackExcel, "progress_interval_s", 0.0)
    monkeypatch.setattr(loader_module.ExcelLoader, "PROGRESS_CHECK_EVERY", 2)
    text = singer_lines(
        [
            schema_msg("a", SIMPLE),
            schema_msg("b", SIMPLE),
            *simple_records("a", 2),
            *simple_records("b", 2),
        ]
    )
    with caplog.at_level(logging.INFO):
        run_target({"output_path": str(tmp_path / "o.xlsx")}, text)
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Progress")]
    assert progress[-1].startswith("Progress: 4 rows written (a 2, b 2);")
    assert progress[-1].endswith("rows/s")


def test_record_values_never_reach_the_log_at_info_or_above(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "SECRET-7f3a"
    props = {"id": {"type": "integer"}, "n": {"type": "integer"}, "s": {"type": "string"}}
    records = [
        {"id": 1, "n": secret, "s": "=" + secret},
        {"id": 2, "s": secret * 5000, "unknown": secret},
        {"id": 3, "s": secret + "\x00"},
    ]
    text = singer_lines([schema_msg("s", props), *(record_msg("s", r) for r in records)])
    with caplog.at_level(logging.INFO):
        run_target({"output_path": str(tmp_path / "o.xlsx")}, text)
        bad_line = '{"type": "RECORD", "record": "' + secret
        with pytest.raises(InputError, match="line 1") as error:
            run_target({"output_path": str(tmp_path / "o.xlsx")}, bad_line)
    assert secret not in str(error.value)
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert logged
    assert not any(secret in m for m in logged)


def test_a_failing_vendor_mapping_is_counted_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(stream: str, record: dict) -> dict | None:
        raise ValueError(f"bad value {record['callId']}")

    monkeypatch.setattr(report, "to_unified_row", broken)
    monkeypatch.setattr(funnel, "to_unified_row", broken)
    props = {"callId": {"type": "string"}}
    messages = [
        schema_msg("comagic_calls", props),
        record_msg("comagic_calls", {"callId": "SECRET-1"}),
    ]
    path = tmp_path / "out.xlsx"
    with caplog.at_level(logging.INFO):
        run_target({"output_path": str(path)}, singer_lines(messages))
    assert list(read_openpyxl(path)) == ["comagic_calls", "About"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "Report: 1 records not counted in the report: the vendor mapping raised ValueError" in (
        warnings
    )
    assert not any("SECRET" in r.getMessage() for r in caplog.records)


def test_real_unified_mapping_of_calltouch_calls(tmp_path: Path) -> None:
    props = {
        "site_id": {"type": "integer"},
        "callId": {"type": ["integer", "string"]},
        "date_utc": {"type": ["string", "null"], "format": "date-time"},
        "successful": {"type": ["boolean", "null"]},
        "uniqueCall": {"type": ["boolean", "null"]},
        "targetCall": {"type": ["boolean", "null"]},
        "source": {"type": ["string", "null"]},
        "medium": {"type": ["string", "null"]},
        "utmCampaign": {"type": ["string", "null"]},
    }
    records = [
        {
            "site_id": 7,
            "callId": i,
            "date_utc": "2024-05-01T10:00:00Z",
            "successful": True,
            "uniqueCall": i == 0,
            "targetCall": False,
            "source": "yandex",
            "medium": "cpc",
            "utmCampaign": "spring",
        }
        for i in range(2)
    ]
    messages = [
        schema_msg("calltouch_calls", props, ["site_id", "callId"]),
        *(record_msg("calltouch_calls", r) for r in records),
    ]
    path = tmp_path / "out.xlsx"
    run_target({"output_path": str(path)}, singer_lines(messages))
    sheets = read_openpyxl(path)
    day = dt.datetime(2024, 5, 1)
    _, accounts, _ = report_table(sheets["Summary"], "Calls per day, vendor and account")
    assert accounts == [[day, "calltouch", "7", 2, 1, 0, 0, 2]]
    _, campaigns, _ = report_table(sheets["Campaigns"], "Calls per day and campaign")
    assert campaigns == [[day, "yandex", "cpc", "spring", 2, 1, 0, 0, 2]]

"""The whole pipeline: tap-calltrack | target-calltrack-excel against the sandbox, read back."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from python_calamine import CalamineWorkbook
from support import console_script, discover, select, write_json

from tap_calltrack.windows import parse_utc

MSK = ZoneInfo("Europe/Moscow")
STREAMS = {"calltouch_calls", "comagic_calls", "callkeeper_calls", "calls", "calltouch_orders"}


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
    return records, CalamineWorkbook.from_path(str(workbook)), (tap_states, target_states)


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
        assert row["started_at"] == local_naive(record["started_at"])
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


def test_report_sheets_count_the_calls(pipeline):
    records, book, states = pipeline
    assert {"Summary", "Campaigns", "About"} <= set(book.sheet_names)
    summary = book.get_sheet_by_name("Summary").to_python()
    assert summary[0][:8] == ["Day", "Vendor", "Account", "All calls", "Unique", "Target",
                              "Unique target", "Answered"]
    counted: Counter[tuple] = Counter()
    answered: Counter[tuple] = Counter()
    for day, vendor, account, calls, _, _, _, answers, *_ in summary[1:]:
        if vendor:
            counted[(day, vendor, account)] += int(calls)
            answered[(day, vendor, account)] += int(answers)
    expected: Counter[tuple] = Counter()
    expected_answered: Counter[tuple] = Counter()
    for record in records["calls"]:
        key = (local_naive(record["started_at"]).date(), record["vendor"], record["account"])
        expected[key] += 1
        expected_answered[key] += bool(record["answered"])
    assert counted == expected and answered == expected_answered
    tap_states, target_states = states
    assert target_states[-1] == tap_states[-1]  # the target passes on the final state

"""The Funnel rule (a pure function), the Funnel sheet, sheet buffers and the quiet log."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from excel_helpers import (
    CALLS_KEYS,
    CALLS_PROPERTIES,
    call,
    read_openpyxl,
    record_msg,
    report_table,
    run_cli,
    schema_msg,
    singer_lines,
)

from tap_calltrack.excel.funnel import FunnelFact, funnel_fact
from tap_calltrack.excel.report import NOT_SET
from tap_calltrack.excel.sheetfile import BufferPool, DeferredFile

MSK = ZoneInfo("Europe/Moscow")
JAN, FEB = dt.date(2024, 1, 1), dt.date(2024, 2, 1)
LEAD = {
    "requestId": 1,
    "date_utc": "2024-01-31T21:30:00+00:00",  # 1 February in Moscow
    "session": {"source": "yandex", "medium": "cpc", "utmCampaign": "<не указано>"},
}
DEAL = {
    "orderNumber": "A1",
    "date_utc": "2024-01-10T10:00:00+00:00",
    "completedAmount": 1500,
    "isDeleted": False,
    "visit": {"source": "google", "medium": "organic"},
}
SALE = {
    "id": 5,
    "start_time_utc": "2024-01-05T10:00:00+00:00",
    "sale_cost": 990.5,
    "sale_date": "2024-01-06 10:00:00",
    "utm_source": "vk",
    "utm_medium": "cpc",
    "utm_campaign": "winter",
    "attributes": ["primary", "target"],
    "is_lost": False,
}


def fact(stream: str, record: dict, present: bool = True) -> FunnelFact | None:
    return funnel_fact(stream, record, MSK, calls_stream_present=present)


def test_each_stream_adds_what_the_rule_says() -> None:
    unified = call("1", "2024-01-31T22:00:00Z", source="yandex", medium="cpc",
                   utm_campaign="spring", is_unique_target=True)  # fmt: skip
    assert fact("calls", unified) == FunnelFact(FEB, "yandex", "cpc", "spring", 1, 1)
    assert fact("calltouch_requests", LEAD) == FunnelFact(FEB, "yandex", "cpc", None, leads=1)
    assert fact("calltouch_orders", DEAL) == FunnelFact(
        JAN, "google", "organic", None, deals=1, revenue=1500.0
    )
    assert fact("calltouch_orders", {**DEAL, "isDeleted": "true"}) is None
    assert fact("calltouch_orders", {**DEAL, "completedAmount": None}).revenue == 0.0
    # A Comagic sale is a deal; its call counts only without a calls stream.
    assert fact("comagic_calls", SALE) == FunnelFact(
        JAN, "vk", "cpc", "winter", deals=1, revenue=990.5
    )
    assert fact("comagic_calls", SALE, present=False) == FunnelFact(
        JAN, "vk", "cpc", "winter", 1, 1, deals=1, revenue=990.5
    )
    no_sale = {**SALE, "sale_cost": None, "sale_date": None}
    assert fact("comagic_calls", no_sale) is None
    assert fact("comagic_calls", no_sale, present=False) == FunnelFact(
        JAN, "vk", "cpc", "winter", 1, 1
    )
    assert fact("calltouch_daily_stats", {"date": "2024-01-01"}) is None


@pytest.mark.e2e
def test_funnel_sheet_sums_per_month_and_campaign(tmp_path: Path) -> None:
    messages = [
        schema_msg("calls", CALLS_PROPERTIES, CALLS_KEYS),
        record_msg("calls", call("1", "2024-01-31T22:00:00Z", source="yandex", medium="cpc",
                                 is_unique_target=True)),
        record_msg("calls", call("2", "2024-02-03T10:00:00Z", source="yandex", medium="cpc")),
        record_msg("calls", call("3", "2024-01-03T10:00:00Z")),
        schema_msg("calltouch_requests", {"requestId": {"type": "integer"},
                                          "date_utc": {"type": "string"},
                                          "session": {"type": "object"}}, ["requestId"]),
        record_msg("calltouch_requests", LEAD),
        schema_msg("calltouch_orders", {"orderNumber": {"type": "string"}}, ["orderNumber"]),
        record_msg("calltouch_orders", DEAL),
    ]  # fmt: skip
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"output_path": str(tmp_path / "out.xlsx")}))
    result = run_cli(config, singer_lines(messages))
    assert result.returncode == 0, result.stderr
    sheets = read_openpyxl(tmp_path / "out.xlsx")
    title = "Funnel: calls, leads, deals and revenue per month and campaign"
    header, rows, total = report_table(sheets["Funnel"], title)
    assert header[4:] == ["Calls", "Unique-target calls", "Leads", "Deals", "Revenue"]
    jan, feb = dt.datetime(2024, 1, 1), dt.datetime(2024, 2, 1)
    # By month, then source; unknown values sort last within their month.
    assert [row[:2] for row in rows] == [[jan, "google"], [jan, NOT_SET], [feb, "yandex"]]
    by_key = {tuple(row[:4]): row[4:] for row in rows}
    assert by_key[(jan, "google", "organic", NOT_SET)] == [0, 0, 0, 1, 1500]
    assert by_key[(jan, NOT_SET, NOT_SET, NOT_SET)] == [1, 0, 0, 0, 0]
    assert by_key[(feb, "yandex", "cpc", NOT_SET)] == [2, 1, 1, 0, 0]
    assert total == ["Total", None, None, None, 3, 1, 1, 1, 1500]
    # INFO tells rows per stream; zero counters stay out of it.
    info = [line for line in result.stderr.splitlines() if "| INFO" in line]
    assert any("Stream 'calls': 3 rows on 'calls'" in line for line in info)
    assert not any(": 0 " in line for line in info)


def test_sheet_buffers_stay_within_the_pool(tmp_path: Path) -> None:
    pool = BufferPool(limit=1000)
    files = [DeferredFile(str(tmp_path / f"f{i}"), pool, limit=400) for i in range(10)]
    for round_ in range(20):
        for i, sink in enumerate(files):
            sink.write(f"{i}:{round_};".encode())
            assert pool.total <= 1000
    for sink in files:
        sink.close()
    assert pool.total == 0
    for i in range(10):
        assert (tmp_path / f"f{i}").read_text() == "".join(f"{i}:{r};" for r in range(20))
    assert not [name for name in os.listdir(tmp_path) if not name.startswith("f")]

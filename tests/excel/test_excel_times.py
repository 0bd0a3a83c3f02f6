"""Honest time columns: *_utc shows UTC, local date-times name their zone, vendor texts read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from excel_helpers import DT, S, record_msg, run_target, schema_msg, singer_lines

from tap_calltrack.excel.localtime import read_local, readings

UTC = dt.datetime


@pytest.mark.parametrize(
    ("text", "utc", "want"),
    [
        # Calltouch calls and deals: dd/mm/yyyy; 01/02 is the 1st of February (UTC+3).
        ("01/02/2024 09:46:25", UTC(2024, 2, 1, 6, 46, 25), UTC(2024, 2, 1, 9, 46, 25)),
        # Calltouch leads: mm/dd/yyyy; 01/02 is the 2nd of January (UTC+5).
        ("01/02/2024 09:46:25", UTC(2024, 1, 2, 4, 46, 25), UTC(2024, 1, 2, 9, 46, 25)),
        ("2024-01-01 09:46:25", UTC(2024, 1, 1, 6, 46, 25, 123000), UTC(2024, 1, 1, 9, 46, 25)),
        ("13/01/2024 00:10:00", None, UTC(2024, 1, 13, 0, 10)),  # one reading only
        ("01/02/2024", UTC(2024, 1, 31, 21), dt.date(2024, 2, 1)),  # a day, UTC+3
        ("01/02/2024 09:46:25", None, None),  # two readings, nothing to choose by
        ("01/02/2024 09:46:25", UTC(2024, 3, 1, 6, 46, 25), None),  # agrees with neither
        ("01/02/2024 09:46:25", UTC(2024, 2, 1, 6, 40, 0), None),  # not a whole offset
        ("вчера", UTC(2024, 2, 1), None),
        ("31/02/2024 10:00:00", None, None),
    ],
)
def test_read_local_picks_the_reading_that_agrees_with_utc(
    text: str, utc: dt.datetime | None, want: object
) -> None:
    assert read_local(text, utc) == want


def test_readings_of_a_dotted_date_are_day_first() -> None:
    assert readings("01.02.2024 10:00") == [UTC(2024, 2, 1, 10, 0)]


def test_utc_columns_show_utc_and_local_columns_name_their_zone(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    props = {
        "callId": {"type": "integer"},
        "comment": S,
        "date": S,
        "date_utc": DT,
        "started_at": DT,
    }
    records = [
        {"callId": 1, "date": "01/02/2024 09:46:25", "date_utc": "2024-02-01T06:46:25+00:00",
         "started_at": "2024-02-01T06:46:25Z", "comment": "01/02/2024 09:46:25"},
        {"callId": 2, "date": "garbled", "date_utc": "2024-02-01T06:46:25+00:00"},
        {"callId": 3, "date": "01/02/2024 09:46:25", "date_utc": None},
    ]  # fmt: skip
    run_target(
        {"output_path": str(path), "timezone": "Asia/Yekaterinburg", "report_sheets": False},
        singer_lines(
            [schema_msg("calls", props, ["callId"]), *(record_msg("calls", r) for r in records)]
        ),
    )
    rows = list(openpyxl.load_workbook(path)["calls"].values)
    assert rows[0] == (
        "callId", "date_utc", "started_at (Asia/Yekaterinburg)",
        "date (account's local time)", "comment",
    )  # fmt: skip
    assert rows[1] == (
        1, UTC(2024, 2, 1, 6, 46, 25), UTC(2024, 2, 1, 11, 46, 25), UTC(2024, 2, 1, 9, 46, 25),
        "01/02/2024 09:46:25",  # not a time column: stays the vendor's text
    )  # fmt: skip
    assert rows[2][3] == "garbled"
    assert rows[3][3] == "01/02/2024 09:46:25"  # ambiguous without its UTC instant


def test_an_epoch_number_beside_its_utc_column_is_not_called_a_local_time(
    tmp_path: Path,
) -> None:
    # Calltouch leads: `date` is epoch milliseconds (integer or string), `date_utc` its instant.
    path = tmp_path / "out.xlsx"
    props = {"requestId": {"type": "integer"}, "date": {"type": ["integer", "string", "null"]},
             "date_utc": DT}
    record = {"requestId": 1, "date": 1704093998000, "date_utc": "2024-01-01T07:26:38+00:00"}
    run_target(
        {"output_path": str(path), "report_sheets": False},
        singer_lines([schema_msg("leads", props, ["requestId"]), record_msg("leads", record)]),
    )
    rows = list(openpyxl.load_workbook(path)["leads"].values)
    assert rows == [("requestId", "date_utc", "date"),
                    (1, UTC(2024, 1, 1, 7, 26, 38), 1704093998000)]

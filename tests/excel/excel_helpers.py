"""Helpers shared by the Excel target tests: Singer lines, runs, and reading workbooks back."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import openpyxl
import python_calamine

from tap_calltrack.excel.target import TargetCalltrackExcel

REPO = Path(__file__).resolve().parents[2]

S = {"type": ["string", "null"]}
I = {"type": ["integer", "null"]}  # noqa: E741
B = {"type": ["boolean", "null"]}
DT = {"type": ["string", "null"], "format": "date-time"}

CALLS_PROPERTIES: dict[str, Any] = {
    "vendor": {"type": "string"},
    "account": {"type": "string"},
    "call_id": {"type": "string"},
    "started_at": DT,
    "duration_s": I,
    "talk_duration_s": I,
    "wait_duration_s": I,
    "caller_number": S,
    "tracking_number": S,
    "direction": S,
    "answered": B,
    "is_unique": B,
    "is_target": B,
    "is_unique_target": B,
    "is_callback": B,
    **{
        name: S
        for name in [
            "source",
            "medium",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_content",
            "utm_term",
            "keyword",
            "referrer",
            "landing_url",
            "city",
            "region",
            "country",
            "device",
        ]
    },
    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
    "record_url": S,
}
CALLS_KEYS = ["vendor", "account", "call_id"]


def schema_msg(stream: str, properties: Mapping[str, Any], keys: Iterable[str] = ()) -> dict:
    """A SCHEMA message."""
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": dict(properties)},
        "key_properties": list(keys),
    }


def record_msg(stream: str, record: Mapping[str, Any]) -> dict:
    """A RECORD message."""
    return {"type": "RECORD", "stream": stream, "record": dict(record)}


def state_msg(value: Any) -> dict:
    """A STATE message."""
    return {"type": "STATE", "value": value}


def singer_lines(messages: Iterable[Mapping[str, Any]]) -> str:
    """Messages as Singer lines."""
    return "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages)


def call(call_id: str, started_at: str, **fields: Any) -> dict:
    """A unified call row with sensible defaults."""
    row: dict[str, Any] = {
        "vendor": "calltouch",
        "account": "site-1",
        "call_id": call_id,
        "started_at": started_at,
        "answered": True,
        "is_unique": False,
        "is_target": False,
        "is_unique_target": False,
    }
    row.update(fields)
    return row


@contextlib.contextmanager
def _kept_signal_handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def run_target(config: Mapping[str, Any], text: str) -> str:
    """Run the target in-process on ``text``; returns what it wrote to stdout."""
    out = io.StringIO()
    with _kept_signal_handlers(), contextlib.redirect_stdout(out):
        target = TargetCalltrackExcel(config=dict(config))
        target.listen(io.StringIO(text))
    return out.getvalue()


def child_env() -> dict[str, str]:
    """Environment for target subprocesses (the package importable from the repo)."""
    return {**os.environ, "PYTHONPATH": str(REPO), "LOGLEVEL": "INFO"}


def target_command(config_path: Path, *extra: str) -> list[str]:
    """The command line of the target as a subprocess."""
    return [
        sys.executable,
        "-m",
        "tap_calltrack.excel.target",
        "--config",
        str(config_path),
        *extra,
    ]


def run_cli(config_path: Path, text: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the target as a subprocess on ``text``."""
    return subprocess.run(
        target_command(config_path, *extra),
        input=text,
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=120,
        check=False,
    )


def read_openpyxl(path: Path) -> dict[str, list[list[Any]]]:
    """Every sheet's values, read with openpyxl; asserts no cell is a formula or an error."""
    wb = openpyxl.load_workbook(path, read_only=True)
    sheets: dict[str, list[list[Any]]] = {}
    for ws in wb.worksheets:
        rows = []
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type not in ("f", "e"), (ws.title, cell.coordinate, cell.value)
            rows.append([cell.value for cell in row])
        sheets[ws.title] = rows
    wb.close()
    return sheets


def read_calamine(path: Path) -> dict[str, list[list[Any]]]:
    """Every sheet's values, read with python-calamine."""
    wb = python_calamine.CalamineWorkbook.from_path(str(path))
    return {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names}


def norm(value: Any) -> Any:
    """A read-back value in one comparable form for both readers.

    Empty cells and empty strings are None; numbers are floats; a date-time at midnight
    and a date are the date (calamine reads a midnight date-time as a date, openpyxl
    reads a date as a midnight date-time).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time(0) else value
    return value


def norm_rows(rows: list[list[Any]], width: int) -> list[list[Any]]:
    """Rows padded to ``width`` and normalised, trailing empty rows dropped."""
    result = [[norm(v) for v in row] + [None] * (width - len(row)) for row in rows]
    result = [row[:width] for row in result]
    while result and all(v is None for v in result[-1]):
        result.pop()
    return result


def report_table(rows: list[list[Any]], title: str) -> tuple[list[Any], list[list[Any]], list[Any]]:
    """A titled table of a report sheet: its header, its data rows and its Total row."""
    start = next(i for i, row in enumerate(rows) if i > 3 and row and row[0] == title)
    header = [cell for cell in rows[start + 1] if cell is not None]
    end = next(i for i in range(start + 2, len(rows)) if rows[i] and rows[i][0] == "Total")
    width = len(header)
    body = [(row + [None] * width)[:width] for row in rows[start + 2 : end]]
    return header, body, (rows[end] + [None] * width)[:width]

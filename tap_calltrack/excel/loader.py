"""The engine of the target: Singer messages in, one workbook out.

Independent of the Singer SDK so that it can be driven and tested directly; the SDK
``Target`` in target.py feeds it and emits the held-back STATE after ``finish``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from tap_calltrack.excel.cells import ISSUE_KINDS, CellRules
from tap_calltrack.excel.columns import plan_columns
from tap_calltrack.excel.errors import InputError, SettingsError
from tap_calltrack.excel.report import REPORT_SHEETS, CallReport, RunFacts, write_report
from tap_calltrack.excel.workbook import EXCEL_MAX_DATA_ROWS, StreamOutput, WorkbookWriter

DEFAULTS: dict[str, Any] = {
    "output_path": "calltrack-report.xlsx",
    "timezone": "Europe/Moscow",
    "flatten_max_depth": 2,
    "max_rows_per_sheet": EXCEL_MAX_DATA_ROWS,
    "report_sheets": True,
}
_decode = msgspec.json.Decoder().decode
MAX_FROZEN_COLUMNS = 4  # more key columns than this would fill the screen
# Both JSON parsers give up at about 1,000 levels of nesting; nothing deeper can be read.
_TOO_DEEP = "a value is nested too deeply to be read (about 1,000 levels or more)"


@dataclass(frozen=True)
class Settings:
    """The target's settings, checked."""

    output_path: Path
    tz: ZoneInfo
    flatten_max_depth: int
    max_rows_per_sheet: int
    report_sheets: bool

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """Settings from a config mapping; raises SettingsError naming the setting."""
        merged = {**DEFAULTS, **{k: v for k, v in config.items() if v is not None}}
        return cls(
            output_path=_output_path(merged["output_path"]),
            tz=_zone(merged["timezone"]),
            flatten_max_depth=_bounded_int(merged, "flatten_max_depth", 0, 32),
            max_rows_per_sheet=_bounded_int(merged, "max_rows_per_sheet", 1, EXCEL_MAX_DATA_ROWS),
            report_sheets=bool(merged["report_sheets"]),
        )


def _zone(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        msg = f"setting 'timezone': unknown IANA time zone {name!r} (e.g. Europe/Moscow)"
        raise SettingsError(msg) from exc


def _output_path(value: Any) -> Path:
    path = Path(str(value)).expanduser().absolute()
    if path.is_dir():
        raise SettingsError(f"setting 'output_path': {str(path)!r} is a directory")
    if not path.parent.is_dir():
        raise SettingsError(f"setting 'output_path': directory {str(path.parent)!r} does not exist")
    return path


def _bounded_int(config: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = config[name]
    if type(value) is not int or not low <= value <= high:
        raise SettingsError(
            f"setting {name!r}: expected an integer from {low} to {high}, got {value!r}"
        )
    return value


def decode_line(line: bytes | str) -> dict[str, Any] | None:
    """One Singer message, or None for a blank line; raises InputError for bad JSON."""
    try:
        message = _decode(line)
    except (msgspec.DecodeError, UnicodeEncodeError) as exc:
        if not line.strip():
            return None
        # The stdlib also reads what some taps write: lone surrogates, NaN, 1e400.
        try:
            message = json.loads(line)
        except ValueError:
            raise InputError(f"invalid JSON ({exc})") from None
        except RecursionError:
            raise InputError(_TOO_DEEP) from None
    except RecursionError:
        raise InputError(_TOO_DEEP) from None
    if type(message) is not dict:
        raise InputError("a Singer message must be a JSON object")
    return message


def checked_key_properties(keys: Any, schema: Mapping[str, Any]) -> list[str]:
    """``key_properties`` as a list of property names; raises InputError when invalid."""
    if keys is None:
        return []
    if type(keys) is not list or not all(type(key) is str for key in keys):
        raise InputError("SCHEMA message whose 'key_properties' is not a list of strings")
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        missing = [key for key in keys if key not in properties]
        if missing:
            names = ", ".join(repr(key[:60]) for key in missing[:3])
            raise InputError(f"'key_properties' names {names}, not in the SCHEMA's properties")
    return keys


def state_json(value: Any) -> str:
    """A STATE value as one line of strict JSON; raises InputError if it has none."""
    try:
        return json.dumps(value, allow_nan=False)
    except (ValueError, TypeError):
        raise InputError("STATE value holds NaN or Infinity, which JSON cannot carry") from None
    except RecursionError:
        raise InputError("STATE value is nested too deeply to be written back") from None


def _stream_name(message: Mapping[str, Any]) -> str:
    stream = message.get("stream")
    if type(stream) is not str or not stream:
        raise InputError(f"{message.get('type')} message without a 'stream' name")
    return stream


class Progress:
    """A log line every few seconds with rows written per stream and rows per second."""

    def __init__(self, logger: logging.Logger, interval_s: float) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.started = self._last = time.monotonic()
        self._last_rows = 0

    def maybe_log(self, rows: int, per_stream: Mapping[str, StreamOutput]) -> None:
        """Log if the interval has passed since the last line."""
        now = time.monotonic()
        if now - self._last < self.interval_s:
            return
        rate = (rows - self._last_rows) / max(now - self._last, 1e-9)
        streams = ", ".join(f"{name} {out.rows:,}" for name, out in per_stream.items())
        self.logger.info(
            "Progress: %s rows written (%s); %s rows/s", f"{rows:,}", streams, f"{rate:,.0f}"
        )
        self._last, self._last_rows = now, rows


class ExcelLoader:
    """Receives Singer messages and writes the workbook; holds the latest STATE back."""

    PROGRESS_CHECK_EVERY = 1024

    def __init__(
        self, settings: Settings, logger: logging.Logger, progress_interval_s: float = 5.0
    ) -> None:
        self.settings = settings
        self.logger = logger
        reserved = REPORT_SHEETS if settings.report_sheets else ()
        self.book = WorkbookWriter(settings.max_rows_per_sheet, reserved)
        self.streams: dict[str, StreamOutput] = {}
        self.observers: dict[str, Callable[[Mapping[str, Any]], None] | None] = {}
        self.report = CallReport(settings.tz)
        self.state: str | None = None
        self.rows = 0
        self.progress = Progress(logger, progress_interval_s)

    def schema(self, message: Mapping[str, Any]) -> None:
        """A SCHEMA message: (re)define a stream's columns."""
        stream = _stream_name(message)
        schema = message.get("schema")
        if not isinstance(schema, Mapping):
            raise InputError("SCHEMA message without a 'schema' object")
        keys = checked_key_properties(message.get("key_properties"), schema)
        try:
            columns = plan_columns(
                schema, keys, self.settings.flatten_max_depth, self.settings.tz.key
            )
        except RecursionError:
            raise InputError("SCHEMA is nested too deeply to be read") from None
        out = self.streams.get(stream)
        if out is None:
            out = self.streams[stream] = StreamOutput(
                stream, self.book, CellRules(self.settings.tz, None)
            )
            self.observers[stream] = (
                self.report.observer(stream) if self.settings.report_sheets else None
            )
        keyed = sum(1 for column in columns if column.path[0] in keys)
        out.set_columns(columns, frozen_columns=keyed if keyed <= MAX_FROZEN_COLUMNS else 0)

    def record(self, message: Mapping[str, Any]) -> None:
        """A RECORD message: one row."""
        stream = message.get("stream")
        out = self.streams.get(stream) if type(stream) is str else None
        if out is None:
            _stream_name(message)
            raise InputError("RECORD arrived before the stream's SCHEMA")
        record = message.get("record")
        if type(record) is not dict:
            raise InputError("RECORD message without a 'record' object")
        self._write(out, record)

    def _write(self, out: StreamOutput, record: dict[str, Any]) -> None:
        out.write(record)
        observer = self.observers[out.stream]
        if observer is not None:
            observer(record)
        self.rows += 1
        if self.rows % self.PROGRESS_CHECK_EVERY == 0:
            self.progress.maybe_log(self.rows, self.streams)

    def state_message(self, message: Mapping[str, Any]) -> None:
        """A STATE message: kept until the workbook is in place."""
        if "value" not in message:
            raise InputError("STATE message without a 'value'")
        self.state = state_json(message["value"])

    def activate_version(self, message: Mapping[str, Any]) -> None:
        """ACTIVATE_VERSION: every run writes a whole new workbook, so nothing to do."""
        self.logger.debug("ACTIVATE_VERSION for %s ignored", _stream_name(message))

    def batch(self, message: Mapping[str, Any]) -> None:
        """A BATCH message: records from local JSONL files (optionally gzip)."""
        stream = _stream_name(message)
        out = self.streams.get(stream)
        if out is None:
            raise InputError("BATCH arrived before the stream's SCHEMA")
        encoding = message.get("encoding") or {}
        if encoding.get("format") != "jsonl":
            raise InputError(
                f"BATCH encoding {encoding.get('format')!r} is not supported (jsonl only)"
            )
        for url in message.get("manifest") or []:
            self._batch_file(out, str(url), encoding.get("compression"))

    def _batch_file(self, out: StreamOutput, url: str, compression: Any) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("", "file"):
            raise InputError(f"BATCH file {url!r}: only local files are supported")
        path = Path(unquote(parsed.path))
        opener = gzip.open if compression == "gzip" else open
        try:
            with opener(path, "rb") as lines:
                for number, line in enumerate(lines, 1):
                    try:
                        record = decode_line(line)
                    except InputError as exc:
                        raise InputError(f"BATCH file {path}, line {number}: {exc}") from None
                    if record is not None:
                        self._write(out, record)
        except OSError as exc:
            raise InputError(f"BATCH file {path}: {exc.strerror or exc}") from None

    def finish(self) -> str | None:
        """Close the sheets, add the report, save atomically; returns the held STATE line."""
        for out in self.streams.values():
            out.close()
        if self.settings.report_sheets:
            write_report(self.book, self.report, self._facts(), self.settings.tz)
        else:
            self.book.order_sheets(first=[], last=[])
        self.book.save(self.settings.output_path)
        self._log_summary()
        return self.state

    def abort(self) -> None:
        """Give up the unfinished workbook; the previous file at output_path is untouched."""
        self.book.discard()

    def _facts(self) -> RunFacts:
        counts = self.report.counts
        return RunFacts(
            generated_at=dt.datetime.now(self.settings.tz),
            timezone=self.settings.tz.key,
            call_source=self.report.source,
            day_range=counts.day_range() if counts else (None, None),
            calls=counts.calls if counts else 0,
            streams=[(name, out.sheet_names, out.rows) for name, out in self.streams.items()],
        )

    def _log_summary(self) -> None:
        for problem in self.report.problems():
            self.logger.warning("Report: %s", problem)
        for name, out in self.streams.items():
            sheets = ", ".join(repr(sheet) for sheet in out.sheet_names)
            self.logger.info("Stream %r: %s rows on %s", name, f"{out.rows:,}", sheets)
            for kind, description in ISSUE_KINDS.items():
                count = out.issues[kind]
                level = logging.WARNING if count else logging.DEBUG
                self.logger.log(level, "Stream %r: %d %s", name, count, description)
        self.logger.info(
            "Wrote %s: %s rows from %d streams",
            self.settings.output_path,
            f"{self.rows:,}",
            len(self.streams),
        )

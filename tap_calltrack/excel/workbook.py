"""Sheets of the workbook: safe names, styled headers, rollover, and the atomic save.

The workbook is an openpyxl write-only workbook: every sheet streams its rows into its own
temporary file as they arrive (any interleaving of sheets is fine) and the .xlsx is built
once, at the end, in a temporary file beside ``output_path`` that replaces it only when
complete.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from tap_calltrack.excel.cells import XML_ILLEGAL_RE, CellRules, clean_text, display_width
from tap_calltrack.excel.columns import Column, RowBuilder
from tap_calltrack.excel.sheetfile import BufferPool, create_sheet

MAX_SHEET_NAME = 31
EXCEL_MAX_DATA_ROWS = 1_048_575
SAMPLE_ROWS = 200
MIN_WIDTH, MAX_WIDTH = 6.0, 60.0
TEMP_SUFFIX = ".partial"
_INVALID_SHEET_CHARS_RE = re.compile(r"[\[\]:*?/\\]")
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_HEADER_BORDER = Border(bottom=Side(style="thin"))
_HEADER_ALIGNMENT = Alignment(vertical="top")


def truncate_utf16(text: str, units: int) -> str:
    """``text`` cut to ``units`` UTF-16 code units (how Excel measures sheet names)."""
    return text.encode("utf-16-le")[: 2 * units].decode("utf-16-le", errors="ignore")


def clean_sheet_name(name: str) -> str:
    """A name Excel accepts: <= 31 characters, none of []:*?/\\, no edge apostrophes."""
    name = _INVALID_SHEET_CHARS_RE.sub("_", XML_ILLEGAL_RE.sub("", name))
    name = truncate_utf16(name, MAX_SHEET_NAME).strip("'").strip()
    if not name:
        return "stream"
    if name.casefold() == "history":  # reserved by Excel
        return "History_"
    return name


class SheetNames:
    """Hands out sheet names that are safe and unique (Excel compares them without case)."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self._taken = {name.casefold() for name in reserved}

    def claim(self, wanted: str) -> str:
        """A free name as close to ``wanted`` as possible: ``name``, ``name (2)``, ..."""
        base = clean_sheet_name(wanted)
        name, n = base, 1
        while name.casefold() in self._taken:
            n += 1
            suffix = f" ({n})"
            name = truncate_utf16(base, MAX_SHEET_NAME - len(suffix)).rstrip() + suffix
        self._taken.add(name.casefold())
        return name


def header_cell(owner: WriteOnlyWorksheet, text: Any) -> WriteOnlyCell:
    """A styled header cell, always of string type."""
    cell = WriteOnlyCell(owner, value=clean_text(str(text)))
    cell.data_type = "s"
    cell.font = _HEADER_FONT
    cell.fill = _HEADER_FILL
    cell.border = _HEADER_BORDER
    cell.alignment = _HEADER_ALIGNMENT
    return cell


def fit_widths(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[float]:
    """Column widths fitted to the header and a sample of rows."""
    widths = [display_width(h) + 2.0 for h in headers]
    for row in rows:
        for i, value in enumerate(row[: len(widths)]):
            if value is not None:
                widths[i] = max(widths[i], display_width(value) + 1.0)
    return [min(max(w, MIN_WIDTH), MAX_WIDTH) for w in widths]


def start_table(
    ws: WriteOnlyWorksheet,
    headers: Sequence[str],
    widths: Sequence[float],
    frozen_columns: int = 0,
) -> None:
    """Column widths, the frozen header row (and key columns), the header (before any row)."""
    for i, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = f"{get_column_letter(frozen_columns + 1)}2"
    ws.append([header_cell(ws, h) if h != "" else None for h in headers])


def set_autofilter(ws: WriteOnlyWorksheet, n_columns: int, n_rows: int) -> None:
    """An autofilter over the header and ``n_rows`` data rows."""
    if n_columns:
        ws.auto_filter.ref = f"A1:{get_column_letter(n_columns)}{n_rows + 1}"


class SheetWriter:
    """One data sheet: a header and up to ``max_rows`` rows.

    The first rows are held back until SAMPLE_ROWS have arrived (or the sheet closes) so
    that the column widths, which write-only sheets need before the first row, fit them.
    """

    def __init__(
        self,
        ws: WriteOnlyWorksheet,
        headers: Sequence[str],
        widths: list[float] | None,
        frozen_columns: int = 0,
    ) -> None:
        self.ws = ws
        self.headers = list(headers)
        self.rows = 0
        self.widths = widths
        self.frozen_columns = frozen_columns
        self._sample: list[list[Any]] | None = None
        if widths is None:
            self._sample = []
        else:
            start_table(ws, self.headers, widths, frozen_columns)

    def append(self, row: list[Any]) -> None:
        """Add one data row."""
        self.rows += 1
        if self._sample is None:
            self.ws.append(row)
            return
        self._sample.append(row)
        if len(self._sample) >= SAMPLE_ROWS:
            self._flush_sample()

    def _flush_sample(self) -> None:
        sample, self._sample = self._sample or [], None
        self.widths = fit_widths(self.headers, sample)
        start_table(self.ws, self.headers, self.widths, self.frozen_columns)
        for row in sample:
            self.ws.append(row)

    def close(self) -> None:
        """Write any held-back rows and set the autofilter."""
        if self._sample is not None:
            self._flush_sample()
        set_autofilter(self.ws, len(self.headers), self.rows)


class StreamOutput:
    """Everything written for one stream: its sheets, row count and issue counters.

    A SCHEMA whose columns differ from the current ones starts a new sheet named
    ``<name> (2)``, ``<name> (3)``, ...; so does a sheet that reached ``max_rows``.
    """

    def __init__(self, stream: str, book: WorkbookWriter, rules: CellRules) -> None:
        self.stream = stream
        self.book = book
        self.rules = rules
        self.rows = 0
        self.sheets: list[SheetWriter] = []
        self.sheet: SheetWriter | None = None
        self.columns: tuple[Column, ...] = ()
        self.frozen_columns = 0
        self.builder: RowBuilder | None = None

    @property
    def issues(self) -> Counter[str]:
        """The stream's issue counters."""
        return self.rules.issues

    @property
    def sheet_names(self) -> list[str]:
        """The titles of the stream's sheets, in order."""
        return [sheet.ws.title for sheet in self.sheets]

    def set_columns(self, columns: Sequence[Column], frozen_columns: int = 0) -> None:
        """Columns from a (new) SCHEMA; a change of columns starts a new sheet.

        ``frozen_columns`` (the key columns) stay in view when the sheet scrolls sideways.
        """
        columns = tuple(columns)
        if self.builder is not None and columns == self.columns:
            return
        self.columns = columns
        self.frozen_columns = frozen_columns
        self.builder = RowBuilder(columns, self.rules)
        self.sheet = None

    def write(self, record: Mapping[str, Any]) -> None:
        """Convert and append one record."""
        sheet = self.sheet
        if sheet is None or sheet.rows >= self.book.max_rows:
            sheet = self._open_sheet()
        sheet.append(self.builder.build(record))  # type: ignore[union-attr]
        self.rows += 1

    def _open_sheet(self) -> SheetWriter:
        widths = None
        if self.sheet is not None:
            self.rules.issues["rollover_sheet"] += 1
            widths = self.sheet.widths
        name = (
            self.stream
            if not self.sheets
            else f"{self.sheets[0].ws.title} ({len(self.sheets) + 1})"
        )
        headers = [c.header for c in self.columns]
        self.sheet = self.book.new_sheet(name, headers, widths, self.frozen_columns)
        self.rules.owner = self.sheet.ws
        self.sheets.append(self.sheet)
        return self.sheet

    def close(self) -> None:
        """Close the stream's sheets; a stream without rows still gets its header."""
        if not self.sheets and self.builder is not None:
            self._open_sheet()
        for sheet in self.sheets:
            sheet.close()


class WorkbookWriter:
    """The write-only workbook and its sheet names."""

    def __init__(self, max_rows: int, reserved_names: Iterable[str] = ()) -> None:
        self.wb = Workbook(write_only=True)
        self.pool = BufferPool()
        self.max_rows = max_rows
        self.names = SheetNames(reserved_names)

    def new_sheet(
        self,
        wanted: str,
        headers: Sequence[str],
        widths: list[float] | None,
        frozen_columns: int = 0,
    ) -> SheetWriter:
        """A new data sheet named after ``wanted``."""
        ws = create_sheet(self.wb, self.names.claim(wanted), self.pool)
        return SheetWriter(ws, headers, widths, frozen_columns)

    def new_plain_sheet(self, title: str) -> WriteOnlyWorksheet:
        """A sheet whose name was reserved up front (the report sheets)."""
        return create_sheet(self.wb, title, self.pool)

    def order_sheets(self, first: Sequence[str], last: Sequence[str]) -> None:
        """Move the named sheets to the front and the back, keeping the others' order."""
        sheets = self.wb._sheets
        front = [s for name in first for s in sheets if s.title == name]
        back = [s for name in last for s in sheets if s.title == name]
        middle = [s for s in sheets if s not in front and s not in back]
        sheets[:] = [*front, *middle, *back]
        if not sheets:
            create_sheet(self.wb, "Empty", self.pool)

    def save(self, path: Path) -> None:
        """Build the .xlsx beside ``path`` and move it into place only when complete."""
        save_atomically(self.wb, path)

    def discard(self) -> None:
        """Close every sheet's stream and remove its temporary file, ignoring errors.

        Without this an abandoned write-only sheet complains when garbage-collected.
        """
        for ws in self.wb.worksheets:
            writer, rows = getattr(ws, "_writer", None), getattr(ws, "_rows", None)
            steps = [rows.close] if rows is not None else []
            if writer is not None:
                steps += [writer.close, writer.cleanup]
            for step in steps:
                with contextlib.suppress(Exception):
                    step()


def temp_name_prefix(path: Path) -> str:
    """Temporary files of an unfinished save are ``.<output name>.<random>.partial``."""
    return f".{path.name}."


def _file_mode(path: Path) -> int:
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_path(path: str | Path, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_atomically(wb: Workbook, path: Path) -> None:
    """Save ``wb`` to a temporary file beside ``path``, then rename it onto ``path``.

    On any failure the temporary file is removed and ``path`` is untouched; a killed
    process can leave only a ``.partial`` file, never a partial ``path``.
    """
    directory = path.parent
    fd, temp = tempfile.mkstemp(prefix=temp_name_prefix(path), suffix=TEMP_SUFFIX, dir=directory)
    os.close(fd)
    try:
        wb.save(temp)
        os.chmod(temp, _file_mode(path))
        _fsync_path(temp)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):  # not every platform can fsync a directory
        _fsync_path(directory)

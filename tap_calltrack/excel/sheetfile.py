"""Write-only sheets that hold no open file between writes.

openpyxl's write-only sheet streams its XML into a temporary file that stays open until the
sheet closes, so a workbook of more than about 1,000 sheets runs out of file descriptors
("Too many open files"). Here each sheet's XML goes into a ``DeferredFile``: bytes wait in
memory and are appended to the sheet's temporary file (opened, written, closed) when the
sheet's buffer or the shared ``BufferPool`` is full, and when the sheet ends. The number of
sheets is then limited by disk space only, and memory by the pool's bound.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Generator
from typing import Any

from openpyxl import Workbook
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.xml.constants import SHEET_MAIN_NS
from openpyxl.xml.functions import xmlfile

SHEET_BUFFER_BYTES = 32 << 10  # about 13 rows of 40 columns: one open() per 13 rows
POOL_BUFFER_BYTES = 8 << 20


class BufferPool:
    """Bounds the bytes waiting in all sheets' buffers; flushes the oldest when full."""

    def __init__(self, limit: int = POOL_BUFFER_BYTES) -> None:
        self.limit = limit
        self.total = 0
        self._waiting: OrderedDict[int, DeferredFile] = OrderedDict()

    def added(self, sink: DeferredFile, size: int) -> None:
        """``sink`` buffered ``size`` more bytes."""
        self.total += size
        self._waiting[id(sink)] = sink
        self._waiting.move_to_end(id(sink))
        while self.total > self.limit and self._waiting:
            _, oldest = self._waiting.popitem(last=False)
            oldest.flush()

    def flushed(self, sink: DeferredFile, size: int) -> None:
        """``sink`` wrote ``size`` buffered bytes to disk."""
        self.total -= size
        self._waiting.pop(id(sink), None)


class DeferredFile:
    """A file-like sink that appends to ``path`` in large chunks, never staying open."""

    def __init__(self, path: str, pool: BufferPool, limit: int = SHEET_BUFFER_BYTES) -> None:
        self.path = path
        self.pool = pool
        self.limit = limit
        self._buffer = bytearray()

    def write(self, data: bytes | str) -> int:
        """Buffer ``data``; write the buffer out when it is full."""
        chunk = data.encode("utf-8") if isinstance(data, str) else data
        self._buffer += chunk
        self.pool.added(self, len(chunk))  # may flush this very file
        if len(self._buffer) >= self.limit:
            self.flush()
        return len(chunk)

    def flush(self, _open: Callable[..., Any] = open) -> None:
        """Append the buffered bytes to the file.

        ``open`` is bound early: a sheet abandoned at interpreter exit still flushes here.
        """
        if not self._buffer:
            return
        with _open(self.path, "ab") as out:
            out.write(self._buffer)
        self.pool.flushed(self, len(self._buffer))
        self._buffer = bytearray()

    def close(self) -> None:
        """Write what is left."""
        self.flush()


class DeferredWorksheetWriter(WorksheetWriter):  # type: ignore[misc]  # openpyxl is untyped
    """openpyxl's sheet writer with its XML going through a ``DeferredFile``."""

    def __init__(self, ws: WriteOnlyWorksheet, pool: BufferPool) -> None:
        self.pool = pool  # before openpyxl's __init__, which starts the stream
        super().__init__(ws)

    def get_stream(self) -> Generator[Any, Any, None]:
        """openpyxl's ``get_stream``, writing into a DeferredFile instead of an open file."""
        sink = DeferredFile(self.out, self.pool)
        try:
            with xmlfile(sink) as xf, xf.element("worksheet", xmlns=SHEET_MAIN_NS):
                try:
                    while True:
                        element = yield
                        if element is True:
                            yield xf
                        elif element is not None:
                            xf.write(element)
                except GeneratorExit:
                    pass
        finally:
            sink.close()


class DeferredWriteOnlyWorksheet(WriteOnlyWorksheet):  # type: ignore[misc]  # openpyxl is untyped
    """A write-only sheet whose temporary file is open only while a chunk is written."""

    _writer: DeferredWorksheetWriter | None  # openpyxl's class attribute, None until written

    def __init__(self, parent: Workbook, title: str, pool: BufferPool) -> None:
        super().__init__(parent=parent, title=title)
        self.pool = pool

    def _get_writer(self) -> None:
        if self._writer is None:
            self._writer = DeferredWorksheetWriter(self, self.pool)
            self._writer.write_top()


def create_sheet(wb: Workbook, title: str, pool: BufferPool) -> DeferredWriteOnlyWorksheet:
    """A new deferred write-only sheet at the end of ``wb`` (write-only)."""
    ws = DeferredWriteOnlyWorksheet(wb, title, pool)
    wb._add_sheet(ws)
    return ws

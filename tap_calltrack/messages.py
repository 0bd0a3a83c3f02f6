"""Writing Singer messages fast: the two per-record costs of the SDK this tap avoids.

Measured on 60-field call records: the SDK's MsgSpecWriter writes and flushes stdout for
every message (about a tenth of the run), and its per-record walk for deselected
properties is about a quarter of the run even when nothing is deselected.
"""

from __future__ import annotations

import atexit
import datetime as dt
import sys
from collections import Counter
from collections.abc import Generator
from typing import Any

from singer_sdk import singerlib as singer
from singer_sdk.contrib.msgspec import MsgSpecWriter

from tap_calltrack import redaction, shutdown


class CalltrackWriter(MsgSpecWriter):
    """msgspec lines, written to stdout in large blocks: a RECORD waits in memory (up to
    256 KiB) and goes out with the next SCHEMA or STATE, which are flushed at once.

    Every block is masked for the configured secrets on its way out (redaction.py).

    A STATE therefore never reaches the target before the records it covers; records held
    when the process dies were not yet covered by any STATE, so a resumed run reads them
    again.
    """

    LIMIT = 256 * 1024

    def count_accounts(self, fields_by_stream: dict[str, tuple[str, ...]]) -> None:
        """Count RECORDs per stream and account, the account told by ``fields`` of the
        record (e.g. ``site_id``): :attr:`records_by_account` then says who got none."""
        self._account_fields = fields_by_stream
        self.records_by_account: Counter[tuple[str, tuple[Any, ...]]] = Counter()

    def write_message(self, message: Any) -> None:
        fields_by_stream = self.__dict__.get("_account_fields")
        if fields_by_stream and isinstance(message, singer.RecordMessage):
            fields = fields_by_stream.get(message.stream)
            if fields is not None:
                record = message.record
                self.records_by_account[(message.stream,
                                         tuple(record.get(f) for f in fields))] += 1
        with shutdown.deferred():  # a signal waits until the line is whole
            pending = self.__dict__.get("_pending")
            if pending is None:
                pending = self._pending = bytearray()
                atexit.register(self.flush)  # e.g. --test ends without a final STATE
            pending += self.format_message(message)  # a copy: msgspec reuses its buffer
            if len(pending) >= self.LIMIT or not isinstance(message, singer.RecordMessage):
                self.flush()

    def flush(self) -> None:
        pending = self.__dict__.get("_pending")
        if pending:
            # A vendor may echo a token in a record: one search per secret form per block.
            sys.stdout.buffer.write(redaction.REDACTOR.mask_bytes(pending))
            pending.clear()
        sys.stdout.flush()


def nothing_deselected(mask: singer.SelectionMask) -> bool:
    """True when the catalog deselects no property (the usual case)."""
    return all(mask.values())


def record_messages(
    stream: Any, record: dict[str, Any], version: int | None,
) -> Generator[singer.RecordMessage, None, None]:
    """The SDK's RECORD messages of ``record`` when no property is deselected and type
    conformance is off (both walks would leave the record unchanged)."""
    for stream_map in stream.stream_maps:
        mapped = stream_map.transform(record)
        if mapped is not None:
            yield singer.RecordMessage(stream=stream_map.stream_alias, record=mapped,
                                       version=version,
                                       time_extracted=dt.datetime.now(dt.timezone.utc))

"""Memory stays flat as rows grow, with streams interleaved (Python allocations, traced)."""

from __future__ import annotations

import logging
import tracemalloc
from pathlib import Path

from excel_helpers import CALLS_KEYS, CALLS_PROPERTIES, call, record_msg, schema_msg

from tap_calltrack.excel.loader import ExcelLoader, Settings

WIDE = {f"c{i}": {"type": ["string", "null"]} for i in range(8)} | {"n": {"type": "integer"}}


def test_memory_is_flat_with_interleaved_streams(tmp_path: Path) -> None:
    settings = Settings.from_config({"output_path": str(tmp_path / "big.xlsx")})
    loader = ExcelLoader(settings, logging.getLogger("test"))
    streams = ["a", "b", "calls"]
    loader.schema(schema_msg("a", WIDE))
    loader.schema(schema_msg("b", WIDE))
    loader.schema(schema_msg("calls", CALLS_PROPERTIES, CALLS_KEYS))

    def feed(start: int, stop: int) -> None:
        for i in range(start, stop):
            stream = streams[i % 3]
            if stream == "calls":
                record = call(
                    str(i),
                    f"2024-05-0{1 + i % 5}T10:00:00Z",
                    utm_campaign=f"c{i % 7}",
                    caller_number=f"+7916{i:07d}",
                )
            else:
                record = {f"c{k}": f"value {i} {k} ещё" for k in range(8)} | {"n": i}
            loader.record(record_msg(stream, record))

    tracemalloc.start()
    try:
        feed(0, 900)  # past the 200-row width sample of every sheet
        before = tracemalloc.get_traced_memory()[0]
        feed(900, 4_500)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Keeping the 3,600 extra rows would cost well over 2 MB; flat means almost nothing.
    assert after - before < 150_000, after - before
    loader.finish()
    assert loader.streams["a"].rows == 1_500

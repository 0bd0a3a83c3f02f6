"""Rows a stream gets while another stream drives the calls fetch count in its metrics."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from support import run_tap

pytestmark = pytest.mark.e2e


def record_counts(stderr: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in stderr.splitlines():
        match = re.search(r"METRIC: (\{.*\})", line)
        if match:
            metric = json.loads(match.group(1))
            if metric["metric"] == "record_count":
                counts[metric["tags"]["stream"]] += metric["value"]
    return counts


def test_record_count_metrics_equal_the_rows_of_every_fan_out_stream(sandbox, tmp_path):
    config = sandbox.config(end_date="2024-01-10", lookback_days=0)
    run = run_tap(config, tmp_path, streams={"calltouch_calls", "comagic_calls",
                                             "callkeeper_calls", "calls"})
    assert run.returncode == 0, run.stderr[-2000:]
    counts = record_counts(run.stderr)
    rows = {stream: len(records) for stream, records in run.records.items()}
    assert rows["calls"] > 0
    assert {stream: counts[stream] for stream in rows} == rows


def batch_rows(run, root) -> Counter[str]:
    """Rows per stream in the BATCH files the run announced (jsonl, gzip)."""
    import gzip
    from urllib.parse import urlsplit

    rows: Counter[str] = Counter()
    for message in run.messages:
        if message["type"] == "BATCH":
            for url in message["manifest"]:
                path = urlsplit(url).path
                assert path.startswith(str(root)), url
                with gzip.open(path, "rt", encoding="utf-8") as batch:
                    rows[message["stream"]] += sum(1 for line in batch if line.strip())
    return rows


@pytest.mark.parametrize("order", ["calls last", "calls alone"])
def test_with_batch_config_every_stream_emits_batches_and_counts_its_rows(
        sandbox, tmp_path, order):
    """``calls`` too: its rows go through the SDK's own record path, whichever stream
    fetched the calls (the vendor streams drive; alone, ``calls`` drives)."""
    root = tmp_path / "batches"
    root.mkdir()
    config = sandbox.config(end_date="2024-01-10", lookback_days=0, batch_config={
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": f"file://{root}", "prefix": "b-"},
    })
    streams = {"calls"} if order == "calls alone" else {
        "calltouch_calls", "comagic_calls", "callkeeper_calls", "calls"}
    run = run_tap(config, tmp_path / "run", streams=streams)
    assert run.returncode == 0, run.stderr[-2000:]
    assert [m for m in run.messages if m["type"] == "RECORD"] == []
    rows = batch_rows(run, root)
    assert set(rows) == streams and rows["calls"] > 0
    counts = record_counts(run.stderr)
    assert {stream: counts[stream] for stream in rows} == dict(rows)
    if order == "calls last":
        vendor_calls = sum(rows[s] for s in streams if s != "calls")
        assert rows["calls"] == vendor_calls  # one unified row per vendor call

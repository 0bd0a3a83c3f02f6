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

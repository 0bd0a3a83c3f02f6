"""Kill and resume over many accounts: 30 Calltouch sites, Comagic accounts with agency
clients and 30 CallKeeper keys, each vendor's accounts in flight together. Each run is
SIGKILLed half-way through one vendor's calls and the next resumes from the last STATE the
killed one emitted; together the runs bring every record of every account, none twice
within a run and none missing after dedup on the primary key."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest
from support import (
    TapRun,
    assert_unique_keys,
    console_script,
    discover,
    primary_key,
    run_tap,
    select,
    write_json,
)
from test_resilience import keys_by_stream, one_day_windows

pytestmark = pytest.mark.e2e

ACCOUNTS = 30
STREAMS = {"calltouch_calls", "comagic_calls", "callkeeper_calls"}
RANGE = {"start_date": "2024-01-01", "end_date": "2024-01-21", "lookback_days": 0}
PARTITION_KEYS = {"calltouch_calls": ("site_id",), "comagic_calls": ("account", "user_id"),
                  "callkeeper_calls": ("account",)}


def partitions_of(stream: str, records: Iterable[dict]) -> Counter[tuple]:
    """Records per account (Comagic: account and agency client)."""
    return Counter(tuple(r.get(key) for key in PARTITION_KEYS[stream]) for r in records)


def partitions(run: TapRun) -> dict[str, Counter[tuple]]:
    return {stream: partitions_of(stream, records) for stream, records in run.records.items()}


def killed_run(config: dict, tmp: Path, state: dict | None, stream: str,
               after_records: int) -> TapRun:
    """The tap's stdout up to a SIGKILL sent once ``after_records`` records of ``stream``
    came out."""
    tmp.mkdir(parents=True)
    catalog = select(discover(config, tmp), STREAMS)
    args = [console_script("tap-calltrack"), "--config",
            str(write_json(tmp / "config.json", config)),
            "--catalog", str(write_json(tmp / "catalog.json", catalog))]
    if state is not None:
        args += ["--state", str(write_json(tmp / "state.json", state))]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env=os.environ.copy())
    assert process.stdout is not None
    lines: list[str] = []
    marker = f'{{"type":"RECORD","stream":"{stream}"'
    records = 0
    for line in process.stdout:
        lines.append(line)
        records += line.startswith(marker)
        if records == after_records:
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    lines += process.stdout.read().splitlines(keepends=True)
    assert process.returncode == -signal.SIGKILL, f"the run ended before it was killed in {stream}"
    # a line cut by the kill is no message
    return TapRun(-9, "".join(line for line in lines if line.endswith("\n")), "")


def stream_order(run: TapRun) -> list[str]:
    return list(dict.fromkeys(m["stream"] for m in run.messages if m["type"] == "RECORD"))


def test_killed_runs_over_many_accounts_resume_without_loss(start_sandbox, tmp_path):
    sandbox = start_sandbox("--accounts", str(ACCOUNTS), "--latency-ms", "40")
    # one-day windows: many STATE messages, windows of many accounts in flight when killed
    config = one_day_windows(sandbox.config(**RANGE, max_tries=12))
    reference = run_tap(config, tmp_path / "reference", streams=STREAMS)
    assert reference.returncode == 0, reference.stderr[-2000:]
    expected = keys_by_stream(reference)
    expected_partitions = partitions(reference)
    assert set(expected) == STREAMS
    assert len(expected_partitions["calltouch_calls"]) == ACCOUNTS
    assert len(expected_partitions["callkeeper_calls"]) >= ACCOUNTS
    agency_clients = [p for p in expected_partitions["comagic_calls"] if p[1] is not None]
    assert len(agency_clients) >= 2

    # Streams run one after another: one SIGKILL half-way through each, every run resuming
    # from the last STATE of the run before, then a last run to the end.
    runs: list[TapRun] = []
    state = None
    for number, stream in enumerate(stream_order(reference)):
        killed = killed_run(config, tmp_path / f"killed-{number}", state, stream,
                            after_records=len(expected[stream]) // 2)
        assert killed.states, f"killed in {stream} before its first STATE"
        assert_unique_keys(killed)
        # killed with several of the vendor's accounts under way
        assert len(partitions(killed).get(stream, ())) > 1, stream
        runs.append(killed)
        state = killed.final_state
    last = run_tap(config, tmp_path / "resume", streams=STREAMS, state=state)
    assert last.returncode == 0, last.stderr[-2000:]
    assert_unique_keys(last)
    runs.append(last)

    for stream in STREAMS:
        rows = deduplicated(stream, *runs)
        assert set(rows) == expected[stream], stream  # nothing missing, nothing extra
        # and so every account holds all of its rows, whichever run brought them
        assert partitions_of(stream, rows.values()) == expected_partitions[stream], stream
    total = sum(len(keys) for keys in expected.values())
    emitted = sum(len(records) for run in runs for records in run.records.values())
    assert emitted - total < total / 2  # re-read: the windows in flight, not the whole range


def deduplicated(stream: str, *runs: TapRun) -> dict[tuple, dict]:
    """The stream's records of the runs by primary key, as a loader keeps them."""
    rows: dict[tuple, dict] = {}
    for run in runs:
        if stream in run.records:
            keys = run.schemas()[stream]["key_properties"]
            rows.update((primary_key(record, keys), record) for record in run.records[stream])
    return rows

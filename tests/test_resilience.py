"""Faults, kills and secrets across all vendors: the real tap against faulty sandboxes."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
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

pytestmark = pytest.mark.e2e

CALL_STREAMS = {"calltouch_calls", "comagic_calls", "callkeeper_calls", "calls"}
RECORDING_STREAMS = {"calltouch_recordings", "comagic_recordings", "callkeeper_recordings"}
STREAMS = CALL_STREAMS | RECORDING_STREAMS
RANGE = {"start_date": "2024-01-01", "end_date": "2024-01-21", "lookback_days": 0}
WINDOW_SETTINGS = {"calltouch": "calls_window_days", "comagic": "window_days",
                   "callkeeper": "calls_window_days"}


def one_day_windows(config: dict) -> dict:
    for vendor, setting in WINDOW_SETTINGS.items():
        if vendor in config:
            config[vendor][setting] = 1
    return config


def keys_by_stream(run: TapRun) -> dict[str, set[tuple]]:
    schemas = run.schemas()
    return {stream: {primary_key(r, schemas[stream]["key_properties"]) for r in records}
            for stream, records in run.records.items()}


def reference(start_sandbox, tmp_path) -> dict[str, set[tuple]]:
    """The rows of a clean run (no faults) of the same data; its recordings are saved
    under ``tmp_path / "reference" / "recordings"``."""
    clean = start_sandbox()
    config = clean.config(**RANGE, recordings_dir=str(tmp_path / "reference" / "recordings"))
    run = run_tap(config, tmp_path / "reference", streams=STREAMS)
    assert run.returncode == 0, run.stderr[-2000:]
    assert set(RECORDING_STREAMS) <= set(run.records)
    return keys_by_stream(run)


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def assert_same_recordings(tmp_path: Path, folder: Path, runs: list[TapRun]) -> None:
    """Every file on disk is byte for byte the one a clean sandbox serves (no temporary
    left), and every record describes its file."""
    expected = files_under(tmp_path / "reference" / "recordings")
    assert expected
    assert files_under(folder) == expected
    for run in runs:
        for stream in RECORDING_STREAMS:
            for row in run.records.get(stream, []):
                data = Path(row["path"]).read_bytes()
                assert row["bytes"] == len(data)
                assert row["sha256"] == hashlib.sha256(data).hexdigest()


def test_every_record_arrives_once_with_20_percent_faults(start_sandbox, tmp_path):
    expected = reference(start_sandbox, tmp_path)
    assert {"calltouch_calls", "calls"} <= set(expected)
    faulty = start_sandbox("--faults", "all=0.2", "--timeout-ms", "2500")
    folder = tmp_path / "faulty" / "recordings"
    config = one_day_windows(faulty.config(**RANGE, request_timeout=1, max_tries=12,
                                           recordings_dir=str(folder)))
    run = run_tap(config, tmp_path / "faulty", streams=STREAMS)
    assert run.returncode == 0, run.stderr[-3000:]
    stats = faulty.stats()
    for kind in ("429", "5xx", "reset", "timeout", "garbage", "html"):
        assert stats[f"fault_{kind}"] > 0, kind
    # recordings met HTML answered with 200, bodies cut short and resets mid-body
    for kind in ("html", "garbage", "reset"):
        assert stats[f"fault_media_{kind}"] > 0, kind
    assert keys_by_stream(run) == expected
    assert_unique_keys(run)
    assert "retry" in run.stderr
    assert_same_recordings(tmp_path, folder, [run])


def test_killed_run_resumes_from_its_last_state_without_losing_records(start_sandbox, tmp_path):
    expected = reference(start_sandbox, tmp_path)
    # faults in the recordings too (HTML with 200, cut bodies, resets)
    sandbox = start_sandbox("--latency-ms", "40", "--faults", "html=0.05,garbage=0.05,reset=0.05")
    folder = tmp_path / "recordings"
    # one-day windows: many STATE messages, several windows in flight when killed
    config = one_day_windows(sandbox.config(**RANGE, max_tries=12, recordings_dir=str(folder)))
    catalog = select(discover(config, tmp_path), STREAMS)
    args = [console_script("tap-calltrack"), "--config",
            str(write_json(tmp_path / "config.json", config)),
            "--catalog", str(write_json(tmp_path / "catalog.json", catalog))]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env=os.environ.copy())
    lines: list[str] = []
    states = 0
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        states += line.startswith('{"type":"STATE"')
        if states == 12:
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    remaining = process.stdout.read()
    lines += remaining.splitlines(keepends=True)
    first = TapRun(-9, "".join(line for line in lines if line.endswith("\n")), "")
    assert first.states, "the tap was killed before its first STATE"
    second = run_tap(config, tmp_path / "resume", streams=STREAMS, state=first.final_state)
    assert second.returncode == 0, second.stderr[-2000:]
    assert_same_recordings(tmp_path, folder, [first, second])
    union: dict[str, set[tuple]] = {}
    for run in (first, second):
        for stream, keys in keys_by_stream(run).items():
            union.setdefault(stream, set()).update(keys)
    assert union == expected
    refetched = sum(len(keys_by_stream(first).get(s, set()) & keys_by_stream(second).get(s, set()))
                    for s in expected)
    total = sum(len(keys) for keys in expected.values())
    assert refetched < total / 2  # bounded by the windows in flight, not the whole range


def test_canary_tokens_appear_nowhere_at_debug_level(start_sandbox, tmp_path):
    sandbox = start_sandbox("--faults", "429=0.1,5xx=0.1,html=0.05", "--accounts", "2")
    config = sandbox.config(**RANGE)
    secrets = [value for value in _secret_values(config)]
    assert len(secrets) >= 4
    canary = "CANARY0123456789"
    if "calltouch" in config:
        config["calltouch"]["sites"].append(
            {"site_id": 99999, "api_token": canary + "-ct", "name": "canary"})
    if "callkeeper" in config:
        config["callkeeper"]["accounts"].append({"api_key": canary[:16], "name": "canary-ck"})
    if "comagic" in config:
        config["comagic"]["accounts"].append({"access_token": canary + "-cm",
                                              "name": "canary-cm"})
    run = run_tap(config, tmp_path, env={"LOGLEVEL": "DEBUG", "TAP_CALLTRACK_LOGLEVEL": "DEBUG"},
                  timeout=900)
    assert "DEBUG" in run.stderr
    everything = run.stdout + run.stderr
    for secret in [*secrets, canary]:
        assert secret not in everything
    refused = [line for line in run.stderr.splitlines() if "canary" in line and "stopped" in line]
    assert len(refused) == len([v for v in ("calltouch", "callkeeper", "comagic") if v in config])


def _secret_values(config: dict) -> list[str]:
    found = []
    for vendor in ("calltouch", "comagic", "callkeeper"):
        for account in config.get(vendor, {}).get("sites", []) + config.get(vendor, {}).get(
                "accounts", []):
            found += [str(v) for k, v in account.items()
                      if k in ("api_token", "access_token", "password", "api_key")]
    return found


def test_progress_lines_report_windows_records_and_rate(sandbox, tmp_path):
    config = sandbox.config(**RANGE)
    run = run_tap(config, tmp_path, streams={"calltouch_calls"})
    progress = [line for line in run.stderr.splitlines() if "requests/s" in line]
    assert progress and all("window" in line and "records" in line for line in progress)

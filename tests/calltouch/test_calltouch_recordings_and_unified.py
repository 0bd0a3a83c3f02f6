"""Calltouch recordings and the calls shared with the unified stream, end to end."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from support import assert_unique_keys, run_tap

from calltrack_sandbox.world import World, record_bytes

pytestmark = pytest.mark.e2e

START, END = dt.date(2024, 1, 3), dt.date(2024, 1, 12)


def config_for(sandbox, tmp_path: Path, **extra):
    return sandbox.config(start_date=START.isoformat(), end_date=END.isoformat(),
                          lookback_days=0, recordings_dir=str(tmp_path / "recordings"), **extra)


def test_calls_selected_with_vendor_streams_fetch_no_page_twice(sandbox, tmp_path):
    config = config_for(sandbox, tmp_path)
    sandbox.reset()
    alone = run_tap(config, tmp_path / "alone", streams={"calltouch_calls"})
    alone_requests = sandbox.stats()["requests_calltouch"]
    sandbox.reset()
    both = run_tap(config, tmp_path / "both", streams={"calltouch_calls", "calls"})
    both_requests = sandbox.stats()["requests_calltouch"]
    assert alone.returncode == both.returncode == 0, both.stderr[-2000:]
    assert both_requests == alone_requests > 0
    unified_calltouch = [r for r in both.records["calls"] if r["vendor"] == "calltouch"]
    assert len(unified_calltouch) == len(both.records["calltouch_calls"]) == len(
        alone.records["calltouch_calls"])
    assert_unique_keys(both)
    sandbox.reset()
    unified_only = run_tap(config, tmp_path / "unified", streams={"calls"})
    assert sandbox.stats()["requests_calltouch"] == alone_requests
    assert unified_only.records["calls"] == both.records["calls"]


def test_unified_rows_carry_the_documented_values(sandbox, tmp_path):
    config = config_for(sandbox, tmp_path)
    run = run_tap(config, tmp_path, streams={"calls"})
    assert run.returncode == 0, run.stderr[-2000:]
    site = config["calltouch"]["sites"][0]
    facts = {str(f.call_id): f for f in World().calls_between(
        "calltouch", str(site["site_id"]), START, END)}
    rows = [r for r in run.records["calls"] if r["account"] == site["name"]]
    assert {r["call_id"] for r in rows} == set(facts)
    for row in rows:
        fact = facts[row["call_id"]]
        assert row["vendor"] == "calltouch"
        assert row["caller_number"] == fact.caller_number
        assert row["answered"] is fact.answered
        assert row["is_target"] is fact.is_target
        assert row["duration_s"] == fact.duration_s and row["wait_duration_s"] == fact.wait_s
        assert row["talk_duration_s"] == fact.talk_s
        assert row["tags"] == list(fact.tags)
        # placeholders become null here (the vendor stream keeps "<не указано>")
        expected_campaign = None if fact.utm_campaign.startswith("<") else fact.utm_campaign
        assert row["utm_campaign"] == expected_campaign
        assert row["started_at"].endswith("+00:00")


def test_recordings_are_saved_once_and_skipped_when_complete(sandbox, tmp_path):
    config = config_for(sandbox, tmp_path)
    sandbox.reset()
    first = run_tap(config, tmp_path / "1", streams={"calltouch_recordings"})
    assert first.returncode == 0, first.stderr[-2000:]
    downloads = sandbox.stats()["requests_calltouch"]
    rows = first.records["calltouch_recordings"]
    answered = [f for site in config["calltouch"]["sites"] for f in World().calls_between(
        "calltouch", str(site["site_id"]), START, END) if f.has_record]
    assert len(rows) == len(answered) > 0
    for row in rows[:20]:
        data = Path(row["path"]).read_bytes()
        assert row["bytes"] == len(data)
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert data == record_bytes("calltouch", str(row["site_id"]), row["callId"], len(data))
        assert Path(row["path"]).name == f"{row['callId']}.mp3"
    assert not list((tmp_path / "recordings").rglob("*.part-*"))
    sandbox.reset()
    second = run_tap(config, tmp_path / "2", streams={"calltouch_recordings"})
    calls_pages = sandbox.stats()["requests_calltouch"]
    assert calls_pages == downloads - len(rows)  # only the calls pages, no download again
    assert sorted(map(str, second.records["calltouch_recordings"])) == sorted(map(str, rows))


def test_recordings_need_a_folder(sandbox, tmp_path):
    config = config_for(sandbox, tmp_path)
    config.pop("recordings_dir")
    sandbox.reset()
    run = run_tap(config, tmp_path, streams={"calltouch_recordings"})
    assert run.returncode == 2
    assert sandbox.stats()["requests"] == 0
    assert "config error: setting 'recordings_dir' is required when calltouch_recordings " \
        "is selected" in run.stderr

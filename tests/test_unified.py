"""The unified `calls` stream across all three vendors, end to end."""

from __future__ import annotations

import pytest
from support import assert_unique_keys, run_tap

from tap_calltrack.call_mapping import PLACEHOLDERS, phone

pytestmark = pytest.mark.e2e

VENDOR_STREAMS = {"calltouch_calls", "comagic_calls", "callkeeper_calls"}
RANGE = {"start_date": "2024-01-02", "end_date": "2024-01-16", "lookback_days": 0}


@pytest.fixture(scope="module")
def runs(sandbox, tmp_path_factory):
    """Vendor streams alone, then with `calls`: the same sandbox, request counts of each."""
    config = sandbox.config(**RANGE)
    sandbox.reset()
    alone = run_tap(config, tmp_path_factory.mktemp("alone"), streams=VENDOR_STREAMS)
    alone_requests = sandbox.stats()["requests"]
    sandbox.reset()
    both = run_tap(config, tmp_path_factory.mktemp("both"), streams=VENDOR_STREAMS | {"calls"})
    both_requests = sandbox.stats()["requests"]
    assert alone.returncode == 0, alone.stderr[-2000:]
    assert both.returncode == 0, both.stderr[-2000:]
    return alone, alone_requests, both, both_requests


def test_calls_with_vendor_streams_costs_no_extra_request(runs):
    alone, alone_requests, both, both_requests = runs
    assert both_requests == alone_requests > 0
    for stream in VENDOR_STREAMS:
        assert both.records[stream] == alone.records[stream]
    assert_unique_keys(both)


def test_calls_has_every_call_of_every_vendor(runs):
    _, _, both, _ = runs
    calls = both.records["calls"]
    by_vendor = {vendor: [r for r in calls if r["vendor"] == vendor]
                 for vendor in ("calltouch", "comagic", "callkeeper")}
    for vendor, rows in by_vendor.items():
        assert len(rows) == len(both.records[f"{vendor}_calls"]) > 0, vendor
    assert {r["call_id"] for r in by_vendor["calltouch"]} == {
        str(r["callId"]) for r in both.records["calltouch_calls"]}
    assert {r["call_id"] for r in by_vendor["comagic"]} == {
        str(r["id"]) for r in both.records["comagic_calls"]}
    assert {(r["account"], r["call_id"]) for r in by_vendor["callkeeper"]} == {
        (r["account"], r["universalId"]) for r in both.records["callkeeper_calls"]}


def test_unified_columns_follow_the_mapping_table(runs):
    _, _, both, _ = runs
    rows = {(r["vendor"], r["account"], r["call_id"]): r for r in both.records["calls"]}
    by_id = {(vendor, call_id): row for (vendor, _, call_id), row in rows.items()}
    for call in both.records["comagic_calls"]:
        row = by_id[("comagic", str(call["id"]))]
        assert row["started_at"] == call["start_time_utc"]
        assert row["duration_s"] == call["total_duration"]
        assert row["talk_duration_s"] == call["talk_duration"]
        assert row["wait_duration_s"] == call["wait_duration"]
        assert row["caller_number"] == phone(call["contact_phone_number"])
        assert row["tracking_number"] == phone(call["virtual_phone_number"])
        assert row["answered"] is (not call["is_lost"])
        assert row["is_target"] is ("target" in (call["attributes"] or []))
        assert row["tags"] == [tag["tag_name"] for tag in call["tags"] or []]
        assert row["record_url"] == ((call["record_urls"] or [None])[0])
        assert row["city"] == call["visitor_city"]
    for call in both.records["callkeeper_calls"]:
        row = rows[("callkeeper", call["account"], call["universalId"])]
        assert row["started_at"] == call["call_time_utc"]
        assert row["duration_s"] == call["duration"]
        # legacy v1 rows (mapped to v3 names) have no status, unique, target, serviceType
        status = call.get("status")
        assert row["answered"] is (None if status is None else status == "success")
        assert row["is_unique"] is call.get("unique")
        assert row["is_target"] is call.get("target")
        assert row["direction"] == ("out" if call.get("serviceType") == "callback" else "in")
        campaign = call["utm_campaign"]
        assert row["utm_campaign"] == (None if campaign in ("", "-", "<не указано>") else campaign)
        assert row["record_url"] == (call["recordUrl"] or None)
    for call in both.records["calltouch_calls"]:
        row = by_id[("calltouch", str(call["callId"]))]
        assert row["started_at"] == call["date_utc"]
        assert row["is_unique_target"] is call["uniqTargetCall"]
        assert row["source"] == call["source"]


def test_placeholders_are_null_in_calls_and_raw_in_vendor_streams(runs):
    _, _, both, _ = runs
    text_columns = ("source", "medium", "utm_source", "utm_medium", "utm_campaign", "utm_content",
                    "utm_term", "keyword", "referrer", "landing_url", "city", "region",
                    "country", "device")
    for row in both.records["calls"]:
        for column in text_columns:
            assert row[column] is None or row[column].strip().lower() not in PLACEHOLDERS
    raw = [r["utmSource"] for r in both.records["calltouch_calls"]]
    assert "<не указано>" in raw  # kept as sent in the vendor stream


def test_started_at_is_canonical_utc(runs):
    _, _, both, _ = runs
    assert all(r["started_at"].endswith("+00:00") and len(r["started_at"]) == 25
               for r in both.records["calls"])

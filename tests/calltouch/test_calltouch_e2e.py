"""Calltouch end to end: the real tap process against the sandbox over HTTP on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from support import assert_unique_keys, run_tap

from calltrack_sandbox.world import World
from tap_calltrack.windows import parse_utc

pytestmark = pytest.mark.e2e

RECORDS = 12_000  # calls per site over 60 days: about 1,400 per 7-day window, 2 pages
DAYS = 60
WORLD = World(seed=1, calls_per_account=RECORDS, first_day=dt.date(2024, 1, 1), days=DAYS)
START, END = dt.date(2024, 1, 2), dt.date(2024, 1, 17)  # 3 windows of calls/deals, 16 of leads


@pytest.fixture(scope="module")
def big_sandbox(start_module_sandbox):
    return start_module_sandbox("--records", str(RECORDS), "--days", str(DAYS))


def config_for(sandbox, first: dt.date = START, last: dt.date = END, **calltouch):
    return sandbox.config(start_date=first.isoformat(), end_date=last.isoformat(),
                          lookback_days=0, calltouch=calltouch)


def local_day(record_utc: str, tz: str) -> dt.date:
    return parse_utc(record_utc).astimezone(ZoneInfo(tz)).date()


@pytest.fixture(scope="module")
def full_run(big_sandbox, tmp_path_factory):
    config = config_for(big_sandbox)
    run = run_tap(config, tmp_path_factory.mktemp("ct"), streams={
        "calltouch_calls", "calltouch_requests", "calltouch_orders",
        "calltouch_daily_stats", "calltouch_keyword_stats"})
    assert run.returncode == 0, run.stderr[-3000:]
    return config, run


def test_every_stream_extracts_every_site_with_exact_counts(full_run):
    config, run = full_run
    sites = config["calltouch"]["sites"]
    assert len(sites) >= 2
    for site in sites:
        key = str(site["site_id"])
        expected_calls = WORLD.calls_between("calltouch", key, START, END)
        calls = [r for r in run.records["calltouch_calls"] if r["site_id"] == site["site_id"]]
        assert len(calls) == len(expected_calls) > 2000  # several windows of 2 pages each
        assert {r["callId"] for r in calls} == {f.call_id for f in expected_calls}
        leads = [r for r in run.records["calltouch_requests"] if r["site_id"] == site["site_id"]]
        assert len(leads) == len(WORLD.calls_between("calltouch-leads", key, START, END))
        deals = [r for r in run.records["calltouch_orders"] if r["site_id"] == site["site_id"]]
        # withAllOrderOrigins=true: every deal, not only the tenth made through the API
        assert len(deals) == len(WORLD.calls_between("calltouch-deals", key, START, END))
        daily = [r for r in run.records["calltouch_daily_stats"] if r["site_id"] == site["site_id"]]
        assert [r["date"] for r in daily] == [
            (START + dt.timedelta(days=i)).isoformat() for i in range((END - START).days + 1)]
        assert sum(r["calls"] for r in daily) == len(expected_calls)
        seo = Counter(f.keyword for f in expected_calls if f.medium == "organic")
        keywords = Counter()
        for row in run.records["calltouch_keyword_stats"]:
            if row["site_id"] == site["site_id"]:
                keywords[row["keyword"]] += row["calls"]
        assert keywords == seo
    assert_unique_keys(run)


def test_date_orders_per_endpoint_select_the_right_rows(full_run):
    """Leads are asked mm/dd/yyyy, calls and deals dd/mm/yyyy: a swapped order would
    return other days' rows (or a 400), so every row's local day must lie in the range."""
    config, run = full_run
    tz = {site["site_id"]: site["timezone"] for site in config["calltouch"]["sites"]}
    for stream in ("calltouch_calls", "calltouch_requests", "calltouch_orders"):
        days = {local_day(r["date_utc"], tz[r["site_id"]]) for r in run.records[stream]}
        assert min(days) == START and max(days) == END, stream


def test_types_are_normalised_and_unexpected_values_kept(full_run):
    _, run = full_run
    calls = run.records["calltouch_calls"]
    assert all(isinstance(r["callId"], int) for r in calls)  # some arrive as strings
    flags = ("successful", "uniqueCall", "targetCall", "uniqTargetCall", "callbackCall")
    assert all(isinstance(r[f], bool) for r in calls for f in flags)  # "true", "False" too
    assert any(r["successful"] is False for r in calls)
    assert all(r["date_utc"].endswith("+00:00") and len(r["date_utc"]) == 25 for r in calls)
    assert all(isinstance(r["orderNumber"], str) for r in run.records["calltouch_orders"])
    phones = [r["client"]["phones"] for r in run.records["calltouch_orders"]]
    assert all(isinstance(p, str) for p in phones)  # a string in deals, kept as sent
    tagged = [r for r in run.records["calltouch_requests"] if r.get("RequestTags")]
    assert tagged and all(isinstance(t["names"], list) for r in tagged for t in r["RequestTags"])


def test_final_state_has_a_bookmark_per_site_at_the_range_end(full_run):
    config, run = full_run
    for stream in ("calltouch_calls", "calltouch_requests", "calltouch_orders",
                   "calltouch_daily_stats", "calltouch_keyword_stats"):
        partitions = run.final_state["bookmarks"][stream]["partitions"]
        by_site = {p["context"]["site_id"]: p for p in partitions}
        for site in config["calltouch"]["sites"]:
            bookmark = by_site[site["site_id"]]
            end = dt.datetime.combine(END + dt.timedelta(days=1), dt.time(0),
                                      tzinfo=ZoneInfo(site["timezone"]))
            assert bookmark["replication_key"] == "date_utc"
            assert parse_utc(bookmark["replication_key_value"]) == end
            assert "progress_markers" not in bookmark


def test_incremental_run_reads_only_lookback_and_new_data(big_sandbox, tmp_path):
    first = run_tap(config_for(big_sandbox, START, dt.date(2024, 1, 10)), tmp_path / "1",
                    streams={"calltouch_calls"})
    assert first.returncode == 0, first.stderr[-2000:]
    config = config_for(big_sandbox, START, dt.date(2024, 1, 14))
    config["lookback_days"] = 2
    second = run_tap(config, tmp_path / "2", streams={"calltouch_calls"},
                     state=first.final_state)
    assert second.returncode == 0, second.stderr[-2000:]
    tz = {s["site_id"]: s["timezone"] for s in config["calltouch"]["sites"]}
    days = {local_day(r["date_utc"], tz[r["site_id"]]) for r in second.records["calltouch_calls"]}
    assert min(days) == dt.date(2024, 1, 9) and max(days) == dt.date(2024, 1, 14)
    for site in config["calltouch"]["sites"]:
        key = str(site["site_id"])
        got = [r for r in second.records["calltouch_calls"] if r["site_id"] == site["site_id"]]
        assert len(got) == len(WORLD.calls_between("calltouch", key, dt.date(2024, 1, 9),
                                                   dt.date(2024, 1, 14)))


def test_empty_range_ends_cleanly_with_state(big_sandbox, tmp_path):
    config = config_for(big_sandbox, dt.date(2023, 6, 1), dt.date(2023, 6, 20))
    run = run_tap(config, tmp_path, streams={"calltouch_calls", "calltouch_orders",
                                             "calltouch_requests"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert not run.records
    partitions = run.final_state["bookmarks"]["calltouch_calls"]["partitions"]
    assert all(p["replication_key_value"].startswith("2023-06-2") for p in partitions)


def test_429s_are_retried_and_every_record_arrives_once(start_sandbox, tmp_path):
    sandbox = start_sandbox("--faults", "429=0.3")
    config = sandbox.config(start_date="2024-01-01", end_date="2024-01-20", lookback_days=0)
    run = run_tap(config, tmp_path, streams={"calltouch_calls"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert sandbox.stats()["429"] > 0
    world = World()
    expected = sum(len(world.calls_between("calltouch", str(s["site_id"]), dt.date(2024, 1, 1),
                                           dt.date(2024, 1, 20)))
                   for s in config["calltouch"]["sites"])
    assert len(run.records["calltouch_calls"]) == expected
    assert_unique_keys(run)


def test_tokens_never_reach_logs_state_or_records(start_sandbox, tmp_path):
    sandbox = start_sandbox("--faults", "429=0.1,5xx=0.1,garbage=0.05,html=0.05",
                            "--accounts", "3")
    config = sandbox.config(start_date="2024-01-01", end_date="2024-01-08")
    config["calltouch"]["sites"][2]["api_token"] = "CANARY-token/with.chars-0123456789"
    run = run_tap(config, tmp_path, env={"LOGLEVEL": "DEBUG", "TAP_CALLTRACK_LOGLEVEL": "DEBUG"})
    assert "DEBUG" in run.stderr
    for site in config["calltouch"]["sites"]:
        token = site["api_token"]
        for form in (token, token.replace("/", "%2F")):
            assert form not in run.stdout
            assert form not in run.stderr
    assert "CANARY" not in run.stderr and "CANARY" not in run.stdout
    # the refused site stops with one line naming it, the others are extracted
    refused = [line for line in run.stderr.splitlines() if "stopped" in line and "Окна-3" in line]
    assert len(refused) == 1 and "refused" in refused[0]
    assert {r["site_id"] for r in run.records["calltouch_calls"]} == {
        s["site_id"] for s in config["calltouch"]["sites"][:2]}
    assert run.returncode == 1


def test_sites_without_legacy_statistics_are_skipped_with_one_warning(start_sandbox, tmp_path):
    sandbox = start_sandbox("--accounts", "3")
    config = sandbox.config(start_date="2024-01-01", end_date="2024-01-03")
    run = run_tap(config, tmp_path, streams={"calltouch_daily_stats", "calltouch_keyword_stats",
                                             "calltouch_calls"})
    assert run.returncode == 0, run.stderr[-2000:]
    third = config["calltouch"]["sites"][2]["site_id"]
    warnings = [line for line in run.stderr.splitlines() if "legacy statistics" in line]
    assert len(warnings) == 1 and "Окна-3" in warnings[0]
    assert {r["site_id"] for r in run.records["calltouch_daily_stats"]} == {
        s["site_id"] for s in config["calltouch"]["sites"][:2]}
    assert third in {r["site_id"] for r in run.records["calltouch_calls"]}


def test_spent_points_budget_stops_with_a_resumable_state(start_sandbox, tmp_path):
    sandbox = start_sandbox("--calltouch-points", "6", "--accounts", "1")
    config = sandbox.config(start_date="2024-01-01", end_date="2024-03-01",
                            calltouch={"max_concurrent_requests": 1})
    run = run_tap(config, tmp_path, streams={"calltouch_calls"})
    assert run.returncode == 1
    assert "points budget is spent" in run.stderr
    bookmark = run.final_state["bookmarks"]["calltouch_calls"]["partitions"][0]
    reached = parse_utc(bookmark["replication_key_value"])
    assert dt.datetime(2024, 1, 8, tzinfo=dt.timezone.utc) <= reached < dt.datetime(
        2024, 3, 1, tzinfo=dt.timezone.utc)
    got = {r["callId"] for r in run.records["calltouch_calls"]}
    expected_before = {f.call_id for f in World().calls_between(
        "calltouch", str(config["calltouch"]["sites"][0]["site_id"]), dt.date(2024, 1, 1),
        reached.astimezone(ZoneInfo("Europe/Moscow")).date() - dt.timedelta(days=1))}
    assert expected_before <= got


def test_deselected_properties_are_left_out(sandbox, tmp_path):
    import json
    import subprocess

    from support import console_script, discover, select, write_json

    config = sandbox.config(start_date="2024-01-01", end_date="2024-01-03")
    catalog = select(discover(config, tmp_path), {"calltouch_calls"})
    entry = next(e for e in catalog["streams"] if e["tap_stream_id"] == "calltouch_calls")
    for item in entry["metadata"]:
        if item["breadcrumb"] in (["properties", "userAgent"], ["properties", "callTags"]):
            item["metadata"]["selected"] = False
    out = subprocess.run([console_script("tap-calltrack"), "--config",
                          str(write_json(tmp_path / "c.json", config)), "--catalog",
                          str(write_json(tmp_path / "cat.json", catalog))],
                         capture_output=True, text=True, check=True).stdout
    records = [json.loads(line)["record"] for line in out.splitlines()
               if line.startswith('{"type":"RECORD"')]
    assert records and all("userAgent" not in r and "callTags" not in r for r in records)
    assert all("callerNumber" in r for r in records)


def test_spent_budget_met_by_the_unified_stream_stops_calltouch(start_sandbox, tmp_path):
    sandbox = start_sandbox("--calltouch-points", "2", "--accounts", "1")
    config = sandbox.config(start_date="2024-01-01", end_date="2024-02-01",
                            calltouch={"max_concurrent_requests": 1})
    run = run_tap(config, tmp_path, streams={"calls"})
    assert run.returncode == 1
    stops = [line for line in run.stderr.splitlines() if "quota spent" in line]
    assert len(stops) == 1 and "calltouch: quota spent" in stops[0]
    assert {r["vendor"] for r in run.records["calls"]} >= {"comagic", "callkeeper"}

"""Comagic end to end: the real tap process against the sandbox over HTTP on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from support import (
    TapRun,
    assert_unique_keys,
    console_script,
    discover,
    run_tap,
    select,
    write_json,
)

from calltrack_sandbox.comagic.accounts import BIG_DAY
from calltrack_sandbox.world import World
from tap_calltrack.windows import canonical_utc, local_midnight

pytestmark = pytest.mark.e2e

START, END = dt.date(2024, 1, 3), dt.date(2024, 1, 9)
ZONES = {"okna-direct": "Europe/Moscow", "okna_api": "Asia/Yekaterinburg",
         "okna-agency": "Europe/Samara", "okna-big": "Europe/Moscow",
         # agency clients have their own zones (get.account with their user_id)
         "okna-agency/7001": "Asia/Yekaterinburg", "okna-agency/7002": "Europe/Samara"}
REPORTS = ("comagic_calls", "comagic_call_legs", "comagic_communications", "comagic_goals",
           "comagic_offline_messages", "comagic_chats", "comagic_campaign_daily_stat")
DEBUG = {"TAP_CALLTRACK_LOGLEVEL": "DEBUG"}
WHITELIST = "Администратор → Аккаунт → Правила и настройки безопасности → API"


def settings(comagic, *accounts: dict[str, Any], start: dt.date = START, end: dt.date = END,
             **section: Any) -> dict[str, Any]:
    overrides: dict[str, Any] = {"start_date": start.isoformat(), "end_date": end.isoformat(),
                                 "lookback_days": 0, "comagic": section}
    config = comagic.config(**overrides)
    if accounts:
        config["comagic"]["accounts"] = list(accounts)
    return config


def window_end(label: str, last_day: dt.date = END) -> str:
    return canonical_utc(local_midnight(last_day + dt.timedelta(days=1), ZoneInfo(ZONES[label])))


def bookmarks(run: TapRun, stream: str) -> dict[tuple, Any]:
    partitions = run.final_state["bookmarks"].get(stream, {}).get("partitions", [])
    return {tuple(sorted(p["context"].items())): p.get("replication_key_value")
            for p in partitions}


def calls_of(key: str, first: dt.date = START, last: dt.date = END) -> set[int]:
    return {f.call_id for f in World().calls_between("comagic", key, first, last)}


def lines_with(text: str, log: str) -> list[str]:
    return [line for line in log.splitlines() if text in line]


def test_every_stream_for_direct_login_and_agency(comagic, tmp_path):
    config = settings(comagic, window_days=3, page_size=20)
    run = run_tap(config, tmp_path, env=DEBUG)
    assert run.returncode == 0, run.stderr[-3000:]
    records = run.records
    for stream in (*REPORTS, "comagic_sites", "comagic_tags", "comagic_campaigns"):
        owners = Counter((r["account"], r["user_id"]) for r in records[stream])
        assert owners[("okna-direct", None)] and owners[("okna-agency", 7001)] and \
            owners[("okna-agency", 7002)], (stream, owners)
    assert {r["app_id"] for r in records["comagic_account"]} == {10501, 10502, 10503}
    assert {(r["app_id"], r["id"], r["customer_id"]) for r in
            records["comagic_customer_users"]} == {(10503, 7001, 20701), (10503, 7002, 20702)}
    assert_unique_keys(run)
    check_calls(records["comagic_calls"])
    check_explicit_fields(comagic, records)
    check_final_state(run)
    check_secrets(comagic, config, run)
    assert len(lines_with("skipping comagic_chats", run.stderr)) == 1  # no chats component
    counts = comagic.counts()
    assert counts["login_ok"] == 1 and counts["logout_ok"] == 1
    # once per account and once per agency client (its zone), shared by every stream
    assert counts["calls_get.account"] == 5
    assert len(records["calls"]) == len(records["comagic_calls"])  # the unified stream


def check_calls(calls: list[dict[str, Any]]) -> None:
    by_owner: dict[Any, set[int]] = {}
    for row in calls:
        by_owner.setdefault((row["app_id"], row["user_id"]), set()).add(row["id"])
    assert by_owner[(10501, None)] == calls_of("10501")
    assert by_owner[(10502, None)] == calls_of("10502")
    assert by_owner[(20701, 7001)] == calls_of("10503:7001")
    assert by_owner[(20702, 7002)] == calls_of("10503:7002")
    for app_id, zone in ((10501, "Europe/Moscow"), (20701, "Asia/Yekaterinburg"),
                         (20702, "Europe/Samara")):
        row = next(r for r in calls if r["app_id"] == app_id)
        local = dt.datetime.fromisoformat(row["start_time"])
        assert row["start_time_utc"] == canonical_utc(local.replace(tzinfo=ZoneInfo(zone)))
    with_records = [r for r in calls if r["call_records"]]
    assert with_records
    for row in with_records:
        assert row["record_urls"] == [
            f"{row_media(row)}/system/media/talk/{row['communication_id']}/{record_id}/"
            for record_id in row["call_records"]]
    audio = requests.get(with_records[0]["record_urls"][0], timeout=10)
    assert audio.status_code == 200 and audio.content.startswith(b"ID3")


def row_media(row: dict[str, Any]) -> str:
    return row["record_urls"][0].split("/system/media/")[0]


def check_explicit_fields(comagic, records: dict[str, list[dict[str, Any]]]) -> None:
    """Without ``fields`` the API answers a small default set (goals: not even id)."""
    params = comagic.state()["last_params"]
    goals = params["get.goals_report"]
    assert {"id", "date_time", "name", "utm_source", "tags"} <= set(goals["fields"])
    calls = params["get.calls_report"]
    assert {"utm_source", "tags", "employees", "visitor_type", "call_records"} <= set(
        calls["fields"])
    assert not {"app_id", "user_id", "account", "start_time_utc", "record_urls"} & set(
        calls["fields"])
    assert calls["sort"] == [{"field": "start_time", "order": "asc"},
                             {"field": "id", "order": "asc"}]
    assert calls["date_from"].endswith("00:00:00") and calls["date_till"].endswith("23:59:59")
    assert all(r["id"] and r["date_time"] and r["name"] for r in records["comagic_goals"])
    assert any(r["tags"] for r in records["comagic_calls"])
    assert {r["visitor_type"] for r in records["comagic_calls"]} >= {"Новый", "Вернувшийся"}
    assert any(r["utm_source"] for r in records["comagic_communications"])


def check_final_state(run: TapRun) -> None:
    for stream in REPORTS:
        marks = bookmarks(run, stream)
        expected = {(("account", "okna-agency"), ("user_id", 7001)):
                    window_end("okna-agency/7001"),
                    (("account", "okna-agency"), ("user_id", 7002)):
                    window_end("okna-agency/7002"),
                    (("account", "okna-direct"),): window_end("okna-direct"),
                    (("account", "okna_api"),): window_end("okna_api")}
        if stream == "comagic_chats":  # skipped: no bookmark
            expected[(("account", "okna_api"),)] = None
        assert marks == expected, stream


def check_secrets(comagic, config: dict[str, Any], run: TapRun) -> None:
    secrets = [a.get("access_token") or a["password"] for a in config["comagic"]["accounts"]]
    secrets += comagic.state()["issued_tokens"]
    assert len(secrets) == 4
    for secret in secrets:
        assert secret not in run.stderr and secret not in run.stdout
    assert "DEBUG" in run.stderr


def test_refused_accounts_stop_alone_with_one_clear_line(comagic, tmp_path):
    wrong = {"name": "wrong", "access_token": "not-a-valid-token-42"}
    config = settings(comagic, comagic.account("direct"), wrong, comagic.account("ip_denied"),
                      comagic.account("blocked"), comagic.account("agency"))
    run = run_tap(config, tmp_path, streams={"comagic_account", "comagic_tags",
                                             "comagic_goals"})
    assert run.returncode == 1
    stopped = lines_with("'wrong' stopped", run.stderr)
    assert len(stopped) == 1 and "access_token_invalid" in stopped[0]
    assert "comagic.accounts[1]" in stopped[0] and "not-a-valid-token-42" not in run.stderr
    denied = lines_with("'okna-ip-denied' stopped", run.stderr)
    assert len(denied) == 1 and "ip_not_whitelisted" in denied[0]
    assert WHITELIST in denied[0] and "127.0.0.1" in denied[0]
    blocked = lines_with("'okna-blocked' stopped", run.stderr)
    assert len(blocked) == 1 and "access_token is blocked" in blocked[0]
    owners = {(r["account"], r["user_id"]) for r in run.records["comagic_goals"]}
    assert owners == {("okna-direct", None), ("okna-agency", 7001), ("okna-agency", 7002)}
    assert {r["account"] for r in run.records["comagic_tags"]} == {"okna-direct",
                                                                   "okna-agency"}


def test_limit_exceeded_waits_for_the_minute_and_resumes(comagic, tmp_path):
    comagic.options(inject=[{"mnemonic": "limit_exceeded", "count": 3,
                             "method": "get.calls_report"}])
    config = settings(comagic, comagic.account("direct"), window_days=2)
    run = run_tap(config, tmp_path, streams={"comagic_calls"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert {r["id"] for r in run.records["comagic_calls"]} == calls_of("10501")
    assert comagic.counts()["limit_exceeded_minute"] == 3
    assert lines_with("the minute quota is spent", run.stderr)
    assert bookmarks(run, "comagic_calls") == {(("account", "okna-direct"),):
                                               window_end("okna-direct")}


def test_throttles_ahead_of_the_minute_quota(comagic, tmp_path):
    comagic.options(minute_limit=8, minute_seconds=1.0)
    config = settings(comagic, comagic.account("direct"), window_days=2)
    run = run_tap(config, tmp_path, streams={"comagic_goals", "comagic_call_legs"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert lines_with("requests left this minute", run.stderr)
    assert comagic.counts().get("error_limit_exceeded", 0) == 0
    legs = {r["call_session_id"] for r in run.records["comagic_call_legs"]}
    assert legs == calls_of("10501")


def test_spent_day_quota_stops_with_a_state_to_resume_from(comagic, tmp_path):
    comagic.options(day_limit=4)  # get.account, get.customer_users and two windows
    config = settings(comagic, comagic.account("direct"), window_days=1,
                      max_concurrent_requests=1)
    first = run_tap(config, tmp_path / "1", streams={"comagic_calls"})
    assert first.returncode == 1
    assert lines_with("quota spent", first.stderr)
    resume_from = window_end("okna-direct", START + dt.timedelta(days=1))
    assert bookmarks(first, "comagic_calls") == {(("account", "okna-direct"),): resume_from}
    comagic.options(day_limit=1_000_000)
    second = run_tap(config, tmp_path / "2", streams={"comagic_calls"},
                     state=first.final_state)
    assert second.returncode == 0, second.stderr[-3000:]
    ids = [r["id"] for r in first.records["comagic_calls"] + second.records["comagic_calls"]]
    assert sorted(ids) == sorted(calls_of("10501")) and len(ids) == len(set(ids))


@pytest.mark.parametrize("reported", [None, 3600.0], ids=["before-expiry", "on-refusal"])
def test_login_sessions_renew_and_log_out(comagic, tmp_path, reported):
    """Renewed ahead of expire_at, or (when expire_at is wrong) on access_token_expired."""
    comagic.options(token_lifetime_s=2.0, reported_lifetime_s=reported, delay_ms=150)
    config = settings(comagic, comagic.account("login"), window_days=1,
                      max_concurrent_requests=1)
    run = run_tap(config, tmp_path, streams={"comagic_calls", "comagic_goals"})
    assert run.returncode == 0, run.stderr[-3000:]
    counts = comagic.counts()
    assert counts["login_ok"] >= 2 and counts["calls_logout.user"] == 1
    if reported is None:
        assert counts.get("error_access_token_expired", 0) == 0 and counts["logout_ok"] == 1
    else:
        assert counts["error_access_token_expired"] >= 1
    assert {r["id"] for r in run.records["comagic_calls"]} == calls_of("10502")
    for token in comagic.state()["issued_tokens"]:
        assert token not in run.stderr


def select_properties(catalog: dict[str, Any], stream: str, keep: set[str]) -> dict[str, Any]:
    select(catalog, {stream})
    entry = next(e for e in catalog["streams"] if e["tap_stream_id"] == stream)
    for item in entry["metadata"]:
        if len(item["breadcrumb"]) == 2:
            item["metadata"]["selected"] = item["breadcrumb"][1] in keep
    return catalog


def run_catalog(config: dict[str, Any], tmp: Path, catalog: dict[str, Any]) -> TapRun:
    result = subprocess.run(
        [console_script("tap-calltrack"), "--config", str(write_json(tmp / "config.json", config)),
         "--catalog", str(write_json(tmp / "catalog.json", catalog))],
        capture_output=True, text=True, timeout=300)
    return TapRun(result.returncode, result.stdout, result.stderr)


def test_a_window_over_110000_rows_is_split_and_every_row_arrives_once(comagic, tmp_path):
    config = settings(comagic, comagic.account("big"), start=BIG_DAY, end=BIG_DAY)
    catalog = select_properties(discover(config, tmp_path), "comagic_calls",
                                {"id", "start_time"})
    run = run_catalog(config, tmp_path, catalog)
    assert run.returncode == 0, run.stderr[-3000:]
    ids = [r["id"] for r in run.records["comagic_calls"]]
    assert len(ids) == 120_000 and len(set(ids)) == 120_000
    assert lines_with("120000 rows, more than the 110000", run.stderr)
    fields = comagic.state()["last_params"]["get.calls_report"]["fields"]
    assert set(fields) == {"id", "start_time"}  # the key and the bookmark only
    assert bookmarks(run, "comagic_calls") == {(("account", "okna-big"),):
                                               window_end("okna-big", BIG_DAY)}
    assert comagic.counts()["calls_get.calls_report"] == 1 + 2 + 2 * 5  # probe, halves, pages


def test_windows_over_three_months_are_split(comagic, tmp_path):
    # 90 days from 1 February 2023 end after 1 May: over 3 months (not a leap year)
    config = settings(comagic, comagic.account("direct"), start=dt.date(2023, 2, 1),
                      end=dt.date(2023, 5, 1), window_days=90)
    run = run_tap(config, tmp_path, streams={"comagic_goals"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert comagic.counts()["error_date_interval_limit_reached"] == 1
    assert lines_with("splitting in halves", run.stderr)
    assert bookmarks(run, "comagic_goals") == {
        (("account", "okna-direct"),): window_end("okna-direct", dt.date(2023, 5, 1))}


def test_unknown_fields_are_dropped_and_internal_errors_retried(comagic, tmp_path):
    comagic.options(unknown_fields={"get.chats_report": ["employee_raiting"]},
                    inject=[{"mnemonic": "internal_error", "count": 2,
                             "method": "get.goals_report"}])
    config = settings(comagic, comagic.account("direct"))
    run = run_tap(config, tmp_path, streams={"comagic_chats", "comagic_goals"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(lines_with("does not know field 'employee_raiting'", run.stderr)) == 1
    assert run.records["comagic_chats"]
    assert all("employee_raiting" not in r for r in run.records["comagic_chats"])
    assert len(lines_with("internal_error", run.stderr)) == 2
    goals = {r["id"] for r in run.records["comagic_goals"]}
    assert len(goals) == len(World(calls_per_account=100).calls_between(
        "comagic-goals", "10501", START, END))


def test_the_unified_calls_alone_read_every_field(comagic, tmp_path):
    config = settings(comagic, comagic.account("direct"), end=START + dt.timedelta(days=2))
    run = run_tap(config, tmp_path, streams={"calls"})
    assert run.returncode == 0, run.stderr[-3000:]
    rows = run.records["calls"]
    assert {int(r["call_id"]) for r in rows} == calls_of("10501", START,
                                                        START + dt.timedelta(days=2))
    assert any(r["utm_source"] for r in rows) and any(r["tags"] for r in rows)
    assert all(r["account"] == "okna-direct" and r["vendor"] == "comagic" for r in rows)
    assert any(r["record_url"] for r in rows)
    fields = comagic.state()["last_params"]["get.calls_report"]["fields"]
    assert {"utm_source", "tags", "visitor_city", "search_query"} <= set(fields)

"""CallKeeper end to end: the real tap process against the sandbox over HTTP on 127.0.0.1.

Expected counts, ids and request counts come from the sandbox's World alone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from callkeeper_helpers import (
    DAYS,
    FIRST_DAY,
    FULL_PAGE_CASES,
    LEGACY,
    PAGE,
    Expect,
    day,
    find_full_page_data_set,
    values,
    windows,
)
from support import SandboxProcess, assert_unique_keys, run_tap

from tap_calltrack import schema_files
from tap_calltrack.windows import canonical_utc

EXPECT = find_full_page_data_set()
SLUGS = ("user-1", "role-1", "user-2", "user-3")
WINDOW = 7
# the first window holds no calls at all, nor does the day after it (asked as {to})
START = FIRST_DAY - dt.timedelta(days=2 * WINDOW)
END_1, END_2 = day(13), day(20)
STREAM = {"callkeeper_calls"}
DEBUG = {"LOGLEVEL": "DEBUG"}


@pytest.fixture(scope="module")
def ck_sandbox(start_module_sandbox: Callable[..., SandboxProcess]) -> SandboxProcess:
    return start_module_sandbox("--records", str(EXPECT.records), "--days", str(DAYS),
                                "--first-day", FIRST_DAY.isoformat())


def ck_config(sandbox: SandboxProcess, first: dt.date, last: dt.date, **callkeeper: object
              ) -> dict:
    return sandbox.config(calltouch=None, comagic=None, start_date=first.isoformat(),
                          end_date=last.isoformat(), lookback_days=1,
                          callkeeper={"calls_window_days": WINDOW, **callkeeper})


def by_account(records: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        grouped[record["account"]].append(record)
    return grouped


def midnight_utc(when: dt.date, zone: str) -> str:
    return canonical_utc(dt.datetime.combine(when, dt.time(0), ZoneInfo(zone)))


def assert_no_key(run, keys: list[str]) -> None:
    for key in keys:
        assert key not in run.stdout and key not in run.stderr


def ran(sandbox: SandboxProcess, config: dict, tmp, **kwargs: object):
    sandbox.reset()
    run = run_tap(config, tmp, streams=STREAM, **kwargs)
    return run, sandbox.stats()


@pytest.fixture(scope="module")
def first_run(ck_sandbox, tmp_path_factory):
    config = ck_config(ck_sandbox, START, END_1)
    run, stats = ran(ck_sandbox, config, tmp_path_factory.mktemp("ck1"), env=DEBUG)
    assert run.returncode == 0, run.stderr[-3000:]
    return config, run, stats


def test_the_data_set_has_multi_page_windows_and_windows_of_whole_pages():
    for slug in SLUGS:
        per_window = [EXPECT.count(slug, a, b) for a, b in windows(FIRST_DAY, END_1, WINDOW)]
        assert max(per_window) > PAGE, slug
    for slug in FULL_PAGE_CASES:
        assert EXPECT.full_page_range(slug), slug


@pytest.mark.e2e
def test_every_method_and_shape_extracts_exactly_the_calls_of_the_range(first_run):
    _, run, _ = first_run
    got = by_account(run.records["callkeeper_calls"])
    assert set(got) == {EXPECT.label(slug) for slug in SLUGS}
    for slug in SLUGS:
        rows = got[EXPECT.label(slug)]
        assert len(rows) == EXPECT.count(slug, FIRST_DAY, END_1), slug
        assert {r["universalId"] for r in rows} == EXPECT.ids(slug, FIRST_DAY, END_1), slug
    assert_unique_keys(run)


@pytest.mark.e2e
def test_pages_are_fetched_exactly_as_far_as_needed(first_run):
    """v3: pages until a short one; legacy: ofPages, fetched together; empty: one request."""
    _, _, stats = first_run
    spans = windows(START, END_1, WINDOW)
    assert len(spans) == 4
    assert stats["requests_callkeeper"] == sum(EXPECT.requests(slug, spans) for slug in SLUGS)


@pytest.mark.e2e
def test_an_empty_window_ends_with_no_rows_found_for_every_account(first_run):
    _, run, _ = first_run
    empty = f"window {START}..{START + dt.timedelta(days=WINDOW - 1)} page 0: No rows found"
    for slug in SLUGS:
        assert f"[{EXPECT.label(slug)}] {empty} (end of data)" in run.stderr, slug


@pytest.mark.e2e
def test_values_are_raw_plus_account_and_utc_time(first_run):
    _, run, _ = first_run
    declared = set(schema_files.load("callkeeper", "calls")["properties"])
    zones = {EXPECT.label(slug): EXPECT.principals[slug].timezone for slug in SLUGS}
    legacy_labels = {EXPECT.label(slug) for slug in LEGACY}
    for record in run.records["callkeeper_calls"]:
        assert set(record) <= declared
        zone = ZoneInfo(zones[record["account"]])
        local = dt.datetime.strptime(record["callTime"], "%Y-%m-%d %H:%M:%S")
        assert record["call_time_utc"] == canonical_utc(local.replace(tzinfo=zone))
        if record["account"] not in legacy_labels:
            assert None not in set(values(record)), record  # v3 never sends null
    legacy = [r for r in run.records["callkeeper_calls"] if r["account"] in legacy_labels]
    assert {r["recordUrl"] for r in legacy if r["duration"] == 0} == {None}
    assert "-" in {r["utm_source"] for r in legacy}


@pytest.mark.e2e
def test_a_role_call_comes_from_the_role_and_the_user_with_role(first_run):
    """Why the primary key is (account, universalId)."""
    _, run, _ = first_run
    got = by_account(run.records["callkeeper_calls"])
    role = {r["universalId"] for r in got[EXPECT.label("role-1")]}
    both = {r["universalId"] for r in got[EXPECT.label("user-2")]}
    assert role and role <= both
    assert run.schemas()["callkeeper_calls"]["key_properties"] == ["account", "universalId"]


@pytest.mark.e2e
def test_state_holds_a_bookmark_per_account_at_the_end_of_its_last_window(first_run):
    config, run, _ = first_run
    partitions = run.final_state["bookmarks"]["callkeeper_calls"]["partitions"]
    zones = {EXPECT.label(slug): EXPECT.principals[slug].timezone for slug in SLUGS}
    assert {p["context"]["account"]: p["replication_key_value"] for p in partitions} == {
        label: midnight_utc(END_1 + dt.timedelta(days=1), zone) for label, zone in zones.items()}
    assert {p["replication_key"] for p in partitions} == {"call_time_utc"}
    assert_no_key(run, [a["api_key"] for a in config["callkeeper"]["accounts"]])


@pytest.mark.e2e
def test_a_second_run_rereads_only_the_lookback_and_new_days(ck_sandbox, first_run, tmp_path):
    _, first, _ = first_run
    config = ck_config(ck_sandbox, START, END_2)
    run, stats = ran(ck_sandbox, config, tmp_path, state=first.final_state)
    assert run.returncode == 0, run.stderr[-3000:]
    got = Counter(r["account"] for r in run.records["callkeeper_calls"])
    assert got == {EXPECT.label(slug): EXPECT.count(slug, END_1, END_2) for slug in SLUGS}
    spans = windows(END_1, END_2, WINDOW)  # from the bookmark minus one day of lookback
    assert stats["requests_callkeeper"] == sum(EXPECT.requests(slug, spans) for slug in SLUGS)
    values_now = {p["replication_key_value"] for p in
                  run.final_state["bookmarks"]["callkeeper_calls"]["partitions"]}
    assert values_now == {midnight_utc(END_2 + dt.timedelta(days=1), zone)
                          for zone in ("Europe/Moscow", "Asia/Yekaterinburg")}
    assert_unique_keys(run)


@pytest.mark.e2e
@pytest.mark.parametrize("slug", list(FULL_PAGE_CASES))
def test_a_full_last_page_is_followed_by_the_accounts_end_signal(ck_sandbox, tmp_path, slug):
    first, last, asked = EXPECT.full_page_range(slug)
    account = next(a for a in ck_sandbox.config()["callkeeper"]["accounts"]
                   if a["api_key"] == EXPECT.principals[slug].key)
    config = ck_config(ck_sandbox, first, last, accounts=[account],
                       calls_window_days=(last - first).days + 1)
    run, stats = ran(ck_sandbox, config, tmp_path, env=DEBUG)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.records["callkeeper_calls"]) == EXPECT.count(slug, first, last)
    assert stats["requests_callkeeper"] == asked // PAGE + 1
    signal = FULL_PAGE_CASES[slug]
    ends = re.findall(r"page (\d+): (.+) \(end of data\)", run.stderr)
    assert ends == ([] if signal == "[]" else [(str(asked // PAGE), signal)])
    assert_unique_keys(run)


@pytest.mark.e2e
def test_faults_and_refused_accounts_never_leak_a_key(start_sandbox, tmp_path):
    expect = Expect(1400, FIRST_DAY, 14)
    faulty = start_sandbox("--records", "1400", "--days", "14", "--first-day",
                           FIRST_DAY.isoformat(), "--faults", "all=0.2", "--timeout-ms", "3000")
    good = faulty.config()["callkeeper"]["accounts"]
    refused = [{"api_key": "q1w2e3r4t5y6u7i8", "name": "unknown"},
               {**good[0], "method": "getByRole", "name": "user key as role"}]
    # 2-day windows: some 40 requests, so a 20% fault rate surely hits several of them;
    # all of an account's windows in flight at once, so the waits overlap
    config = ck_config(faulty, FIRST_DAY, day(13), accounts=good + refused, calls_window_days=2,
                       max_concurrent_requests=8)
    config.update(request_timeout=2.0, max_tries=10)  # slack for a loaded machine
    run = run_tap(config, tmp_path, streams=STREAM, env=DEBUG)
    assert run.returncode == 1, run.stderr[-3000:]
    for label in ("unknown", "user key as role"):
        line = next(x for x in run.stderr.splitlines() if f"account '{label}' stopped" in x)
        assert "API key was not recognized" in line
    got = Counter(r["account"] for r in run.records["callkeeper_calls"])
    assert got == {expect.label(slug): expect.count(slug, FIRST_DAY, day(13)) for slug in SLUGS}
    assert_unique_keys(run)
    stats = faulty.stats()
    assert sum(v for k, v in stats.items() if k.startswith("fault_")) >= 3
    assert "retry 1 of 9" in run.stderr
    assert_no_key(run, [a["api_key"] for a in good + refused])
    partitions = run.final_state["bookmarks"]["callkeeper_calls"]["partitions"]
    assert {p["context"]["account"] for p in partitions if "replication_key_value" in p} == \
        {expect.label(slug) for slug in SLUGS}

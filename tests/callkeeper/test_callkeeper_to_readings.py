"""CallKeeper's ``{to}`` under both readings, and the legacy v1 rows (issue 11, item 4).

The doc's example (``…/2020-05-01/2020-05-02`` — "с 1 по 2 мая") does not settle whether
``to`` is inclusive. The sandbox plays each reading (``--callkeeper-to``); the tap asks one
day further and keeps the window's rows, so every call arrives exactly once under both.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections import Counter, defaultdict
from zoneinfo import ZoneInfo

import pytest
import requests
from callkeeper_helpers import FIRST_DAY, VENDOR, Expect, day, windows
from support import assert_unique_keys, run_tap

from calltrack_sandbox.callkeeper import universal_id
from calltrack_sandbox.protocol import SandboxOptions
from calltrack_sandbox.server import SandboxServer
from tap_calltrack.callkeeper.streams import v1_time, v3_from_v1
from tap_calltrack.settings import Account
from tap_calltrack.tap import TapCalltrack
from tap_calltrack.windows import Window

RECORDS, DAYS = 1200, 21
EXPECT = Expect(RECORDS, FIRST_DAY, DAYS)
SLUGS = ("user-1", "role-1", "user-2", "user-3")
LAST = day(16)  # the range ends before the data do: the day after it has calls
WINDOW = 3
# the v1 example row of NOTES.md 3.1 (legacy envelope), as the vendor's page shows it
V1_EXAMPLE = {"callId": 1337486, "state": "720/200",
              "stateDescription": "Неизвестная ошибка оператора связи", "timeStart": None,
              "duration": 0, "clientPhone": "79999999999", "officePhone": "79999999999",
              "routePhone": "79999999999", "campaignId": 559, "campaignName": "Тест",
              "officeName": "Тестовый", "callType": "Динамический коллтрекинг",
              "sourceType": "-", "audition": "Не прослушано", "record": None, "tagsId": [],
              "utmSource": "-", "city": "-", "site": "-", "device": "-", "region": "-",
              "clientIp": "-", "utmMedium": "-", "utmCampaign": "-", "utmTerm": "-",
              "utmContent": "-"}


def sandbox_args(reading: str, *extra: str) -> list[str]:
    return ["--records", str(RECORDS), "--days", str(DAYS), "--first-day",
            FIRST_DAY.isoformat(), "--callkeeper-to", reading, *extra]


def ck_config(sandbox, accounts: list[dict] | None = None) -> dict:
    section = {"calls_window_days": WINDOW}
    if accounts is not None:
        section["accounts"] = accounts
    config = sandbox.config(calltouch=None, comagic=None, start_date=FIRST_DAY.isoformat(),
                            end_date=LAST.isoformat(), lookback_days=0)
    config["callkeeper"].update(section)
    return config


def rows_by_account(records: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        grouped[record["account"]].append(record)
    return grouped


@pytest.mark.e2e
@pytest.mark.parametrize("reading", ["inclusive", "exclusive"])
def test_every_call_arrives_exactly_once_under_either_reading_of_to(start_sandbox, tmp_path,
                                                                    reading):
    sandbox = start_sandbox(*sandbox_args(reading))
    run = run_tap(ck_config(sandbox), tmp_path, streams={"callkeeper_calls"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert_unique_keys(run)
    got = rows_by_account(run.records["callkeeper_calls"])
    for slug in SLUGS:
        rows = got[EXPECT.label(slug)]
        ids = Counter(r["universalId"] for r in rows)
        assert set(ids) == EXPECT.ids(slug, FIRST_DAY, LAST), (reading, slug)
        assert set(ids.values()) == {1}, (reading, slug)  # exactly once
        zone = ZoneInfo(EXPECT.principals[slug].timezone)
        end = dt.datetime.combine(LAST + dt.timedelta(days=1), dt.time(0), zone)
        assert all(r["call_time_utc"] < end.astimezone(dt.timezone.utc).isoformat()
                   for r in rows)
    spans = windows(FIRST_DAY, LAST, WINDOW)
    expected = sum(EXPECT.requests(slug, spans, inclusive=reading == "inclusive")
                   for slug in SLUGS)
    assert sandbox.stats()["requests_callkeeper"] == expected


@pytest.mark.e2e
@pytest.mark.parametrize("reading", ["inclusive", "exclusive"])
def test_v1_rows_without_a_time_arrive_once_and_never_stop_the_run(start_sandbox, tmp_path,
                                                                   reading):
    sandbox = start_sandbox(*sandbox_args(reading, "--callkeeper-v1-null-times"))
    legacy = EXPECT.principals["user-3"]
    account = next(a for a in sandbox.config()["callkeeper"]["accounts"]
                   if a["api_key"] == legacy.key)
    run = run_tap(ck_config(sandbox, [account]), tmp_path, streams={"callkeeper_calls"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert_unique_keys(run)
    rows = run.records["callkeeper_calls"]
    ids = Counter(r["universalId"] for r in rows)
    assert set(ids.values()) == {1}
    in_range = EXPECT.ids("user-3", FIRST_DAY, LAST)
    assert in_range <= set(ids)
    # A row without timeStart cannot be placed: under the inclusive reading the last
    # window's extra day brings those of the day after the range (documented).
    world = EXPECT.world
    after = LAST + dt.timedelta(days=1)
    timeless_after = {universal_id(legacy, f, world)
                      for f in world.calls_between(VENDOR, "user-3", after, after)
                      if f.index % 10 == 3}
    assert set(ids) - in_range == (timeless_after if reading == "inclusive" else set())
    assert sum(r["call_time_utc"] is None for r in rows) > 0
    mapped = [line for line in run.stderr.splitlines() if "rows in the v1 names" in line]
    assert len(mapped) == 1, mapped  # one warning for the account
    assert all(r["callTime"] is None or r["call_time_utc"] for r in rows)


@pytest.mark.e2e
def test_the_sandbox_plays_each_reading_of_to():
    """The same route; exclusive leaves out the ``to`` day, inclusive has it."""
    counts = {}
    for reading in ("inclusive", "exclusive"):
        options = SandboxOptions(records=RECORDS, first_day=FIRST_DAY, days=DAYS,
                                 callkeeper_to=reading)
        with SandboxServer(options) as server:
            api = server.tap_config()["callkeeper"]["api_url"]
            key = EXPECT.principals["user-1"].key
            body = requests.get(f"{api}?json/v3/{key}/call/get/0/{day(0)}/{day(1)}",
                                timeout=10).json()
            counts[reading] = len(body)
    assert counts == {"inclusive": EXPECT.count("user-1", day(0), day(1)),
                      "exclusive": EXPECT.count("user-1", day(0), day(0))}


# --- the v1 mapping (units) ---------------------------------------------------------------

def account(zone: str = "Asia/Yekaterinburg") -> Account:
    return Account("callkeeper", "Окна-Урал", {"account": "Окна-Урал"}, ZoneInfo(zone),
                   {"api_key": "k" * 16}, {"method": "get"})


def test_the_doc_v1_example_maps_to_the_v3_names():
    row = v3_from_v1(dict(V1_EXAMPLE), account())
    assert row["universalId"] == "1337486" and "callId" not in row
    assert (row["statusFirst"], row["statusSecond"]) == (720, 200) and "state" not in row
    assert row["clientNumber"] == "79999999999" and "clientPhone" not in row
    assert row["recordUrl"] is None and row["utm_source"] == "-"
    assert row["callTime"] is None and "timeStart" not in row  # the example's null
    # fields without a v3 counterpart keep their v1 names and values
    assert row["routePhone"] == "79999999999" and row["callType"] == "Динамический коллтрекинг"
    assert row["stateDescription"] == V1_EXAMPLE["stateDescription"]


def test_time_start_is_read_as_text_or_unix_seconds():
    ural = account()
    assert v1_time("2024-03-01 10:00:00", ural) == "2024-03-01 10:00:00"
    moment = dt.datetime(2024, 3, 1, 10, 0, tzinfo=ZoneInfo("Asia/Yekaterinburg"))
    assert v1_time(int(moment.timestamp()), ural) == "2024-03-01 10:00:00"
    assert v1_time(str(int(moment.timestamp())), ural) == "2024-03-01 10:00:00"
    for unreadable in (None, "", "-", "01.03.2024 10:00", True, [1]):
        assert v1_time(unreadable, ural) is None


@pytest.fixture
def stream(monkeypatch):
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # the tap wraps stderr; undo it after
    config = {"start_date": "2024-03-01",
              "callkeeper": {"accounts": [{"api_key": "k" * 16, "name": "Окна-Урал",
                                           "timezone": "Asia/Yekaterinburg"}]}}
    return TapCalltrack(config=config, validate_config=True).streams["callkeeper_calls"]


def test_window_rows_keep_the_window_skip_keyless_rows_and_dedupe_timeless_ones(stream,
                                                                                caplog):
    ural = stream.accounts[0]
    tz = ural.timezone
    first = Window(dt.datetime(2024, 3, 1, tzinfo=tz), dt.datetime(2024, 3, 4, tzinfo=tz))
    second = Window(first.end, dt.datetime(2024, 3, 7, tzinfo=tz))
    answer = [{"universalId": "1", "callTime": "2024-03-01 00:00:00"},
              {"universalId": "2", "callTime": "2024-03-03 23:59:59"},
              {"universalId": "3", "callTime": "2024-03-04 00:00:00"},  # the extra day
              {"universalId": "4", "callTime": "2024-02-29 23:59:59"},
              {**V1_EXAMPLE, "callId": 5, "timeStart": "2024-03-02 12:00:00"},
              {**V1_EXAMPLE, "callId": 6},  # no time: kept once
              {"duration": 3}, {"universalId": "", "callId": "-"}]  # no key: skipped
    with caplog.at_level(logging.WARNING):
        kept = stream.window_rows(ural, first, [dict(r) for r in answer])
        again = stream.window_rows(ural, second, [dict(r) for r in answer])
        stream.window_rows(ural, second, [{"duration": 1}])
    assert [r["universalId"] for r in kept] == ["1", "2", "5", "6"]
    assert [r["universalId"] for r in again] == ["3"]
    skipped = [m for m in caplog.messages if "without universalId or callId" in m]
    mapped = [m for m in caplog.messages if "rows in the v1 names" in m]
    assert len(skipped) == 1 and len(mapped) == 1 and "Окна-Урал" in skipped[0]

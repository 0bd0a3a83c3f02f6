"""Comagic agency clients in their own time zones, with a bookmark each (issue 11, item 1).

The sandbox's ``zones`` agency (Europe/Moscow) has three clients: 7101 Europe/Kaliningrad,
7102 Asia/Yekaterinburg, 7103 Asia/Novosibirsk. Expected values are computed here from the
zones with zoneinfo, not with the tap's window code.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support import TapRun, assert_unique_keys, run_tap

from tap_calltrack.comagic.settings import parse_account
from tap_calltrack.settings import ConfigError

UTC = dt.timezone.utc
AGENCY_ZONE = "Europe/Moscow"
CLIENT_ZONES = {7101: "Europe/Kaliningrad", 7102: "Asia/Yekaterinburg",
                7103: "Asia/Novosibirsk"}
CUSTOMER_IDS = {7101: 20711, 7102: 20712, 7103: 20713}
# 20:00 UTC on 2 January is still the 2nd in Kaliningrad and Moscow, the 3rd further east.
START = dt.datetime(2024, 1, 2, 20, 0, tzinfo=UTC)
LAST_DAY = dt.date(2024, 1, 5)  # end_date: inclusive, local midnight of the 6th
CALL_STREAMS = {"comagic_calls", "calls", "comagic_goals"}


def zones_config(comagic, **account: Any) -> dict[str, Any]:
    config = comagic.config(start_date=START.isoformat(), end_date=LAST_DAY.isoformat(),
                            lookback_days=0, comagic={"window_days": 1})
    config["comagic"]["accounts"] = [comagic.account("zones", **account)]
    return config


def local_midnight_utc(day: dt.date, zone: str) -> str:
    moment = dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC).isoformat()


def expected_windows(zone: str) -> list[tuple[str, str]]:
    """(date_from, date_till) of 1-day windows from START's local day to LAST_DAY."""
    day = START.astimezone(ZoneInfo(zone)).date()
    windows = []
    while day <= LAST_DAY:
        windows.append((f"{day} 00:00:00", f"{day} 23:59:59"))
        day += dt.timedelta(days=1)
    return windows


def requested_windows(comagic, method: str = "get.calls_report") -> dict[Any, list[tuple]]:
    asked: dict[Any, list[tuple]] = {}
    for entry in comagic.state()["windows"]:
        if entry["method"] == method and not entry["offset"]:
            asked.setdefault(entry["user_id"], []).append((entry["date_from"],
                                                            entry["date_till"]))
    return {user_id: sorted(windows) for user_id, windows in asked.items()}  # prefetched


def bookmarks(run: TapRun, stream: str) -> dict[tuple, Any]:
    partitions = run.final_state["bookmarks"].get(stream, {}).get("partitions", [])
    return {tuple(sorted(p["context"].items())): p.get("replication_key_value")
            for p in partitions}


def check_zones(run: TapRun, comagic, zones: dict[int, str]) -> None:
    """Window edges, *_utc values, unified rows and per-client bookmarks in ``zones``."""
    assert run.returncode == 0, run.stderr[-3000:]
    assert_unique_keys(run)
    asked = requested_windows(comagic)
    calls = run.records["comagic_calls"]
    for user_id, zone in zones.items():
        # every window asked once (no call fetched twice), in the client's own days
        assert asked[user_id] == expected_windows(zone), user_id
        rows = [r for r in calls if r["user_id"] == user_id]
        assert rows and {r["app_id"] for r in rows} == {CUSTOMER_IDS[user_id]}
        for row in rows:
            local = dt.datetime.fromisoformat(row["start_time"]).replace(tzinfo=ZoneInfo(zone))
            assert row["start_time_utc"] == local.astimezone(UTC).isoformat()
        unified = {r["call_id"]: r for r in run.records["calls"]
                   if r["account"] == f"okna-zones/{user_id}"}
        assert set(unified) == {str(r["id"]) for r in rows}
        assert all(unified[str(r["id"])]["started_at"] == r["start_time_utc"] for r in rows)
        end = local_midnight_utc(LAST_DAY + dt.timedelta(days=1), zone)
        context = (("account", "okna-zones"), ("user_id", user_id))
        assert bookmarks(run, "comagic_calls")[context] == end
        assert bookmarks(run, "comagic_goals")[context] == end
        assert bookmarks(run, "calls")[(("account", f"okna-zones/{user_id}"),
                                        ("vendor", "comagic"))] == end
    assert len(run.records["calls"]) == len(calls)
    assert (("account", "okna-zones"),) not in bookmarks(run, "comagic_calls")


@pytest.mark.e2e
def test_three_clients_in_three_zones_from_get_account(comagic, tmp_path):
    config = {**zones_config(comagic), "recordings_dir": str(tmp_path / "recordings")}
    run = run_tap(config, tmp_path, streams=CALL_STREAMS | {"comagic_recordings"})
    check_zones(run, comagic, CLIENT_ZONES)
    # the recordings ride along the same fetch: per client, each file downloaded once
    recordings = run.records["comagic_recordings"]
    calls = {(r["app_id"], r["id"]): r for r in run.records["comagic_calls"]}
    assert recordings and len(recordings) == sum(len(c["call_records"]) for c in
                                                 calls.values())
    assert comagic.counts()["media_ok"] == len(recordings)
    for row in recordings:
        assert row["account"] == "okna-zones" and row["user_id"] in CLIENT_ZONES
        assert row["start_time_utc"] == calls[(row["app_id"], row["id"])]["start_time_utc"]
    for user_id, zone in CLIENT_ZONES.items():
        assert bookmarks(run, "comagic_recordings")[(("account", "okna-zones"),
                                                     ("user_id", user_id))] == \
            local_midnight_utc(LAST_DAY + dt.timedelta(days=1), zone)
    assert "reading it in the agency's zone" not in run.stderr
    assert {entry["user_id"] for entry in comagic.state()["windows"]} == set(CLIENT_ZONES)
    assert comagic.counts()["calls_get.account"] == 4  # the agency, then each client once


@pytest.mark.e2e
@pytest.mark.parametrize("mode", ["refuse", "ignore"])
def test_refused_user_id_falls_back_to_the_setting_then_the_agency_zone(comagic, tmp_path,
                                                                        mode):
    comagic.options(account_user_id=mode)
    configured = {"7101": "Europe/Kaliningrad", "7102": "Asia/Yekaterinburg"}
    run = run_tap(zones_config(comagic, client_timezones=configured), tmp_path,
                  streams=CALL_STREAMS)
    check_zones(run, comagic, {7101: "Europe/Kaliningrad", 7102: "Asia/Yekaterinburg",
                               7103: AGENCY_ZONE})
    warnings = [line for line in run.stderr.splitlines()
                if "reading it in the agency's zone" in line]
    assert len(warnings) == 1 and "okna-zones/7103" in warnings[0], warnings
    assert "client_timezones" in warnings[0] and AGENCY_ZONE in warnings[0]
    if mode == "refuse":
        assert comagic.counts()["error_unexpected_parameters"] == 3


@pytest.mark.e2e
def test_client_partitions_resume_from_the_old_per_account_bookmark(comagic, tmp_path):
    """State written when comagic_calls had one partition per configured account."""
    old_mark = "2024-01-04T21:00:00+00:00"  # the agency's window end (Moscow midnight)
    state = {"bookmarks": {
        "comagic_calls": {"partitions": [{"context": {"account": "okna-zones"},
                                          "replication_key": "start_time_utc",
                                          "replication_key_value": old_mark}]},
        "calls": {"partitions": [{"context": {"vendor": "comagic", "account": "okna-zones"},
                                  "replication_key": "started_at",
                                  "replication_key_value": old_mark}]}}}
    run = run_tap(zones_config(comagic), tmp_path, streams={"comagic_calls", "calls"},
                  state=state)
    assert run.returncode == 0, run.stderr[-3000:]
    asked = requested_windows(comagic)
    resume = dt.datetime.fromisoformat(old_mark)
    for user_id, zone in CLIENT_ZONES.items():
        first_day = resume.astimezone(ZoneInfo(zone)).date()  # from its local midnight
        assert asked[user_id][0] == (f"{first_day} 00:00:00", f"{first_day} 23:59:59")
        assert asked[user_id][-1][1] == f"{LAST_DAY} 23:59:59"
        end = local_midnight_utc(LAST_DAY + dt.timedelta(days=1), zone)
        assert bookmarks(run, "comagic_calls")[(("account", "okna-zones"),
                                                ("user_id", user_id))] == end
    resumed = [line for line in run.stderr.splitlines() if "resuming from the bookmark" in line]
    assert len(resumed) == 6, resumed  # 3 clients x (comagic_calls, calls)
    # the old partitions are kept as they were (a downgrade still finds them)
    assert bookmarks(run, "comagic_calls")[(("account", "okna-zones"),)] == old_mark
    owners = Counter(r["user_id"] for r in run.records["comagic_calls"])
    assert set(owners) == set(CLIENT_ZONES)


def test_client_timezones_setting_is_checked():
    entry = {"access_token": "t" * 40, "client_timezones": {"7001": "Asia/Omsk"}}
    account = parse_account(entry, 0, {})
    assert account.options["client_timezones"] == {7001: ZoneInfo("Asia/Omsk")}
    for bad, setting in (({"x1": "Asia/Omsk"}, "comagic.accounts[0].client_timezones"),
                         ({"7001": "Mars/Base"}, "comagic.accounts[0].client_timezones.7001"),
                         ({"7001": None}, "comagic.accounts[0].client_timezones.7001"),
                         (["Asia/Omsk"], "comagic.accounts[0].client_timezones")):
        with pytest.raises(ConfigError) as error:
            parse_account({**entry, "client_timezones": bad}, 0, {})
        assert str(error.value).startswith(f"setting '{setting}'"), str(error.value)

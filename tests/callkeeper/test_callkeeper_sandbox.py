"""The CallKeeper emulator answered directly (in-process server, real HTTP on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import math
import re
from zoneinfo import ZoneInfo

import pytest
import requests
from callkeeper_helpers import PAGE, day, values

from calltrack_sandbox.callkeeper import BAD_END, BAD_START
from calltrack_sandbox.protocol import SandboxOptions
from calltrack_sandbox.server import SandboxServer

pytestmark = pytest.mark.e2e

WEEK = f"{day(0)}/{day(6)}"


def ask(api_url: str, route: str) -> requests.Response:
    return requests.get(f"{api_url}?{route}", timeout=10)


def error_of(response: requests.Response) -> str:
    body = response.json()
    assert body["payload"] == [] and "entities" in body["info"], body
    return body["inbound"]["error"]


def test_config_lists_an_account_per_method_with_vendor_shaped_keys(server, app):
    accounts = server.tap_config()["callkeeper"]["accounts"]
    assert [a["method"] for a in accounts] == ["get", "getByRole", "getWithRole", "get"]
    assert all(re.fullmatch(r"[0-9a-z]{16}", a["api_key"]) for a in accounts)
    assert len({a["api_key"] for a in accounts}) == len(accounts)
    assert "name" not in accounts[2] and "timezone" not in accounts[2]  # tap defaults


def test_more_accounts_than_the_designated_four_are_plain_get_users():
    with SandboxServer(SandboxOptions(accounts=6)) as running:
        accounts = running.tap_config()["callkeeper"]["accounts"]
    assert len(accounts) == 6 and [a["method"] for a in accounts[4:]] == ["get", "get"]


def test_v3_is_a_bare_array_of_1000_calls_a_page_from_page_0_never_null(app, api_url, expect):
    key = app.by_slug["user-2"].key
    total = expect.count("user-2", day(0), day(6))
    pages = [ask(api_url, f"json/v3/{key}/call/getWithRole/{n}/{WEEK}").json()
             for n in range(math.ceil(total / PAGE))]
    assert all(isinstance(page, list) for page in pages)
    assert [len(page) for page in pages[:-1]] == [PAGE] * (len(pages) - 1)
    assert sum(map(len, pages)) == total and 0 < len(pages[-1]) < PAGE
    rows = [row for page in pages for row in page]
    assert {row["page"] for row in pages[1]} == {1}
    assert {row["universalId"] for row in rows} == expect.ids("user-2", day(0), day(6))
    assert None not in set(values(rows))
    calltime = [row["callTime"] for row in rows]
    assert calltime == sorted(calltime) and calltime[0] >= f"{day(0)} 00:00:00"
    assert calltime[-1] < f"{day(7)} 00:00:00"  # `to` is inclusive: the whole last day


def test_methods_see_own_role_and_both(app, api_url, expect):
    own = ask(api_url, f"json/v3/{app.by_slug['user-1'].key}/call/get/0/{WEEK}").json()
    role = ask(api_url, f"json/v3/{app.by_slug['role-1'].key}/call/getByRole/0/{WEEK}").json()
    user2 = app.by_slug["user-2"].key
    mine = ask(api_url, f"json/v3/{user2}/call/get/0/{WEEK}").json()
    both = [r for n in (0, 1)
            for r in ask(api_url, f"json/v3/{user2}/call/getWithRole/{n}/{WEEK}").json()]
    ids = {name: {r["universalId"] for r in rows}
           for name, rows in {"own": own, "role": role, "mine": mine, "both": both}.items()}
    assert ids["own"] == expect.ids("user-1", day(0), day(6))
    assert ids["role"] == expect.ids("role-1", day(0), day(6))
    assert ids["both"] == ids["mine"] | ids["role"] and not ids["mine"] & ids["role"]


@pytest.mark.parametrize(("slug", "method", "wrong"), [
    ("user-1", "getByRole", "a user key with getByRole"),
    ("role-1", "get", "a role key with get"),
    ("role-1", "getWithRole", "a role key with getWithRole"),
])
def test_a_key_with_the_other_kind_of_method_is_not_recognized(app, api_url, slug, method,
                                                                 wrong):
    response = ask(api_url, f"json/v3/{app.by_slug[slug].key}/call/{method}/0/{WEEK}")
    assert (response.status_code, error_of(response)) == (401, "User is not recognized"), wrong


def past_end(api_url: str, key: str, method: str, expect, slug: str) -> requests.Response:
    pages = math.ceil(expect.count(slug, day(0), day(6)) / PAGE)
    return ask(api_url, f"json/v3/{key}/call/{method}/{pages}/{WEEK}")


def test_each_designated_account_ends_its_pages_its_own_way(app, api_url, expect):
    user1 = past_end(api_url, app.by_slug["user-1"].key, "get", expect, "user-1")
    assert (user1.status_code, user1.json()) == (200, [])
    role = past_end(api_url, app.by_slug["role-1"].key, "getByRole", expect, "role-1")
    assert (role.status_code, error_of(role)) == (200, "Incorrect page is set")
    user2 = past_end(api_url, app.by_slug["user-2"].key, "getWithRole", expect, "user-2")
    assert (user2.status_code, error_of(user2)) == (200, "No rows found")
    legacy = past_end(api_url, app.by_slug["user-3"].key, "get", expect, "user-3")
    assert error_of(legacy) == "Incorrect page is set"


@pytest.mark.parametrize("slug", ["user-1", "role-1", "user-2", "user-3"])
def test_page_0_of_an_empty_range_is_no_rows_found(app, api_url, slug):
    principal = app.by_slug[slug]
    response = ask(api_url, f"json/v3/{principal.key}/call/{principal.method}/0/"
                            "2023-01-01/2023-01-31")
    assert (response.status_code, error_of(response)) == (200, "No rows found")


def test_the_legacy_account_answers_the_envelope_with_v1_rows(app, api_url, expect):
    key = app.by_slug["user-3"].key
    body = ask(api_url, f"json/v3/{key}/call/get/0/{day(0)}/{day(13)}").json()
    inbound, total = body["inbound"], expect.count("user-3", day(0), day(13))
    assert (inbound["totalLength"], inbound["pageLength"]) == (total, PAGE)
    assert inbound["ofPages"] == math.ceil(total / PAGE) >= 2
    assert len(body["payload"]) == PAGE and body["info"]["versions"] == ["v1"]
    rows = body["payload"]
    assert "" not in set(values(rows)) and "-" in {r["utmSource"] for r in rows}
    assert {r["record"] for r in rows if r["duration"] == 0} == {None}
    # the v1 names of the doc's example (NOTES.md 3.1), not v3's
    assert all("universalId" not in r and "callTime" not in r for r in rows)
    assert all(isinstance(r["callId"], int) and re.fullmatch(r"\d+/\d+", r["state"])
               for r in rows)
    assert {"clientPhone", "routePhone", "timeStart", "stateDescription"} <= set(rows[0])
    assert all(r["timeStart"] for r in rows)  # null only with --callkeeper-v1-null-times
    last = ask(api_url, f"json/v3/{key}/call/get/{inbound['ofPages'] - 1}/{day(0)}/{day(13)}")
    assert len(last.json()["payload"]) == total - PAGE * (inbound["ofPages"] - 1)


@pytest.mark.parametrize(("route", "error"), [
    ("xml/v3/{key}/call/get/0/" + WEEK, "Type to return is not available"),
    ("", "Type to return is not available"),
    ("json/v2/{key}/call/get/0/" + WEEK, "It is wrong API version"),
    ("json/v3/0000000000000000/call/get/0/" + WEEK, "User is not recognized"),
    ("json/v3//call/get/0/" + WEEK, "User is not recognized"),
    ("json/v3/{key}/calls/get/0/" + WEEK, "Entity does not exist"),
    ("json/v3/{key}/call/put/0/" + WEEK, "Method does not exist"),
    ("json/v3/{key}/call/call/0/" + WEEK, "Method does not exist"),
    ("json/v3/{key}/call/get/first/" + WEEK, "Incorrect page is set"),
    ("json/v3/{key}/call/get", "Incorrect page is set"),
    ("json/v3/{key}/call/get/0/01.03.2024/2024-03-07", BAD_START),
    ("json/v3/{key}/call/get/0", BAD_START),
    ("json/v3/{key}/call/get/0/2024-03-01/7 March", BAD_END),
])
def test_every_documented_error_comes_in_the_envelope(app, api_url, route, error):
    response = ask(api_url, route.format(key=app.by_slug["user-1"].key))
    assert error_of(response) == error
    assert response.status_code == (401 if error == "User is not recognized" else 400)


def test_a_percent_encoded_route_is_not_understood(app, api_url):
    """Why the tap sends the route byte for byte: encoded slashes make one segment."""
    key = app.by_slug["user-1"].key
    response = requests.get(api_url, params={f"json/v3/{key}/call/get/0/{WEEK}": ""},
                            timeout=10)
    assert "%2F" in response.request.url
    assert error_of(response) == "Type to return is not available"


def test_timestamps_select_the_same_calls_as_dates(app, api_url):
    principal = app.by_slug["user-1"]
    midnight = dt.datetime.combine(day(0), dt.time(0), tzinfo=ZoneInfo(principal.timezone))
    start = int(midnight.timestamp())
    by_date = ask(api_url, f"json/v3/{principal.key}/call/get/0/{day(0)}/{day(0)}").json()
    by_ts = ask(api_url, f"json/v3/{principal.key}/call/get/0/{start}/{start + 86399}").json()
    assert by_ts == by_date and by_date


def test_a_missing_to_means_up_to_today(app, api_url, expect):
    principal = app.by_slug["user-1"]
    rows = ask(api_url, f"json/v3/{principal.key}/call/get/0/{day(27)}").json()
    assert len(rows) == expect.count("user-1", day(27), day(27))


def test_record_urls_point_at_the_sandbox_and_serve_audio(server, app, api_url):
    rows = ask(api_url, f"json/v3/{app.by_slug['user-1'].key}/call/get/0/{WEEK}").json()
    with_record = [r for r in rows if r["recordUrl"]]
    without = [r for r in rows if not r["recordUrl"]]
    assert with_record and without
    assert all(r["recordUrl"] == "" and r["duration"] == 0 for r in without)
    audio = requests.get(with_record[0]["recordUrl"], timeout=10)
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/mpeg"
    assert audio.content.startswith(b"ID3") and with_record[0]["recordUrl"].startswith(server.url)
    missing = f"{server.url}/callkeeper/records/{without[0]['universalId']}.mp3"
    assert requests.get(missing, timeout=10).status_code == 404
    assert requests.get(f"{server.url}/callkeeper/records/99.mp3", timeout=10).status_code == 404


def test_429_is_the_envelope_with_retry_after(app):
    response = app.too_many_requests("1")
    assert response.status == 429 and response.headers["Retry-After"] == "1"

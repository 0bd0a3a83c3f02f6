"""The Calltouch emulator answers the documented requests and rejects the documented errors."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import requests

from calltrack_sandbox.protocol import SandboxOptions
from calltrack_sandbox.server import SandboxServer
from calltrack_sandbox.world import World

pytestmark = pytest.mark.e2e

API = "/calls-service/RestAPI"


@pytest.fixture(scope="module")
def server():
    with SandboxServer(SandboxOptions(port=0, accounts=3)) as running:
        yield running


@pytest.fixture(scope="module")
def site(server):
    return server.tap_config()["calltouch"]["sites"][0]


def get(server, path: str, **params) -> requests.Response:
    return requests.get(f"{server.url}/calltouch{path}", params=params, timeout=10)


def calls(server, site, **params) -> requests.Response:
    return get(server, f"{API}/{site['site_id']}/calls-diary/calls",
               clientApiId=site["api_token"], **params)


def test_calls_paged_envelope_and_last_page(server, site):
    world = World()
    expected = world.calls_between("calltouch", str(site["site_id"]), dt.date(2024, 1, 1),
                                   dt.date(2024, 1, 7))
    body = calls(server, site, dateFrom="01/01/2024", dateTo="07/01/2024", page=1,
                 limit=10).json()
    assert set(body) == {"page", "pageTotal", "pageSize", "recordsTotal", "records"}
    assert body["recordsTotal"] == len(expected) and body["pageSize"] == 10
    assert body["pageTotal"] == -(-len(expected) // 10)
    last = calls(server, site, dateFrom="01/01/2024", dateTo="07/01/2024",
                 page=body["pageTotal"], limit=10).json()
    assert 0 < len(last["records"]) <= 10
    empty = calls(server, site, dateFrom="01/06/2023", dateTo="07/06/2023", page=1).json()
    assert empty["records"] == [] and empty["pageTotal"] == 0


def test_calls_without_page_is_a_bare_array_for_one_day_only(server, site):
    one_day = calls(server, site, dateFrom="03/01/2024", dateTo="03/01/2024")
    assert isinstance(one_day.json(), list)
    several = calls(server, site, dateFrom="03/01/2024", dateTo="05/01/2024")
    assert several.status_code == 400 and "one day" in several.json()["message"]


def test_enrichments_appear_only_when_asked(server, site):
    plain = calls(server, site, dateFrom="03/01/2024", dateTo="03/01/2024").json()[0]
    rich = calls(server, site, dateFrom="03/01/2024", dateTo="03/01/2024", withCallTags="true",
                 withYandexDirect="true").json()[0]
    assert "callTags" not in plain and "yandexDirect" not in plain
    assert "callTags" in rich and "yandexDirect" in rich


def test_filters_of_capture_calls(server, site):
    params = {"dateFrom": "01/01/2024", "dateTo": "14/01/2024", "page": 1}
    everything = calls(server, site, **params).json()["records"]
    target = calls(server, site, targetOnly="true", **params).json()["records"]
    assert 0 < len(target) < len(everything)
    assert all(str(r["targetCall"]).lower() == "true" for r in target)


@pytest.mark.parametrize(("params", "status", "fragment"), [
    ({"clientApiId": "wrong"}, 401, "token"),
    ({"dateFrom": "2024-01-01"}, 400, "dd/mm/yyyy"),
    ({"dateFrom": "13/13/2024"}, 400, "dd/mm/yyyy"),
    ({"dateFrom": "10/01/2024", "dateTo": "01/01/2024"}, 400, "less than"),
    ({"limit": 5000}, 400, "limit"),
])
def test_calls_rejections_have_the_error_shape(server, site, params, status, fragment):
    query = {"clientApiId": site["api_token"], "dateFrom": "01/01/2024", "dateTo": "07/01/2024",
             "page": 1, **params}
    answer = get(server, f"{API}/{site['site_id']}/calls-diary/calls", **query)
    assert answer.status_code == status
    body = answer.json()
    assert set(body) == {"timestamp", "status", "error", "message", "path"}
    assert body["status"] == status and fragment in body["message"]


def test_unknown_site_and_foreign_site(server, site):
    other = server.tap_config()["calltouch"]["sites"][1]
    assert get(server, f"{API}/999/calls-diary/calls", clientApiId=site["api_token"],
               dateFrom="01/01/2024", dateTo="01/01/2024").status_code == 404
    assert get(server, f"{API}/{other['site_id']}/calls-diary/calls",
               clientApiId=site["api_token"], dateFrom="01/01/2024",
               dateTo="01/01/2024").status_code == 403


def test_leads_take_mm_dd_yyyy_and_answer_a_bare_array(server, site):
    query = {"clientApiId": site["api_token"], "siteId": site["site_id"]}
    leads = get(server, f"{API}/requests", dateFrom="01/02/2024", dateTo="01/03/2024", **query)
    expected = World().calls_between("calltouch-leads", str(site["site_id"]),
                                     dt.date(2024, 1, 2), dt.date(2024, 1, 3))
    assert isinstance(leads.json(), list) and len(leads.json()) == len(expected)
    swapped = get(server, f"{API}/requests", dateFrom="02/01/2024", dateTo="03/01/2024", **query)
    assert swapped.status_code == 200 and len(swapped.json()) != len(expected)  # other rows
    assert get(server, f"{API}/requests", dateFrom="13/01/2024", dateTo="14/01/2024",
               **query).status_code == 400


def test_deals_need_page_over_a_day_and_all_origins(server, site):
    path = f"{API}/{site['site_id']}/orders-diary/orders"
    query = {"clientApiId": site["api_token"], "dateFrom": "01/01/2024", "dateTo": "07/01/2024"}
    assert get(server, path, **query).status_code == 400
    api_only = get(server, path, page=1, **query).json()["recordsTotal"]
    everything = get(server, path, page=1, withAllOrderOrigins="true", **query).json()
    assert 0 < api_only < everything["recordsTotal"]
    assert isinstance(everything["records"][0]["client"]["phones"], str)


def test_statistics_take_access_token_and_one_site_lacks_them(server, site):
    path = f"{API}/statistics/{site['site_id']}/calls/total-count"
    dates = {"dateFrom": "01/01/2024", "dateTo": "07/01/2024"}
    assert get(server, path, clientApiId=site["api_token"], **dates).status_code == 401
    total = get(server, path, access_token=site["api_token"], **dates).json()
    assert total == len(World().calls_between("calltouch", str(site["site_id"]),
                                              dt.date(2024, 1, 1), dt.date(2024, 1, 7)))
    third = server.tap_config()["calltouch"]["sites"][2]
    gone = get(server, f"{API}/statistics/{third['site_id']}/calls/count-by-date",
               access_token=third["api_token"], **dates)
    assert gone.status_code == 404 and gone.text.startswith("<!DOCTYPE html>")


def test_record_download_and_missing_record(server, site):
    facts = World().calls_between("calltouch", str(site["site_id"]), dt.date(2024, 1, 1),
                                  dt.date(2024, 1, 14))
    with_record = next(f for f in facts if f.has_record)
    without = next(f for f in facts if not f.has_record)
    path = f"{API}/{site['site_id']}/calls-diary/calls/{{}}/download"
    audio = get(server, path.format(with_record.call_id), clientApiId=site["api_token"])
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/mpeg"
    assert audio.content.startswith(b"ID3")
    assert get(server, path.format(without.call_id),
               clientApiId=site["api_token"]).status_code == 404


def test_unknown_paths_answer_html(server):
    answer = get(server, "/calls-service/RestAPI/sites")
    assert answer.status_code == 200 and "html" in answer.headers["Content-Type"]


def test_rate_limit_answers_429_above_the_ceiling():
    with SandboxServer(SandboxOptions(port=0, rate_limit=5)) as limited:
        site = limited.tap_config()["calltouch"]["sites"][0]
        statuses = [calls(limited, site, dateFrom="01/01/2024", dateTo="01/01/2024").status_code
                    for _ in range(8)]
        assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
        time.sleep(1.1)
        assert calls(limited, site, dateFrom="01/01/2024", dateTo="01/01/2024").ok
        stats = requests.get(f"{limited.url}/_sandbox/stats", timeout=5).json()
        assert stats["429"] >= 1 and stats["requests"] == 9

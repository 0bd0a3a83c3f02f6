"""The Comagic emulator answers the documented requests and refuses the documented bad ones
(called in-process, no HTTP)."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest

from calltrack_sandbox.comagic.accounts import BIG_DAY
from calltrack_sandbox.comagic.app import ComagicApp
from calltrack_sandbox.comagic.methods import METHODS
from calltrack_sandbox.protocol import SandboxOptions, SandboxRequest
from calltrack_sandbox.world import World


@pytest.fixture
def app() -> ComagicApp:
    return ComagicApp(SandboxOptions())


def post(app: ComagicApp, body: Any, raw: bytes | None = None) -> dict[str, Any]:
    response = app.handle(SandboxRequest(
        method="POST", path="/v2.0", raw_query="", query={}, headers={},
        body=raw if raw is not None else json.dumps(body).encode(), client="127.0.0.1",
        base_url="http://sandbox"))
    assert response.status == 200  # JSON-RPC errors too (an assumption, see docs)
    return json.loads(response.body)


def call(app: ComagicApp, method: str, **params: Any) -> dict[str, Any]:
    return post(app, {"jsonrpc": "2.0", "id": 7, "method": method, "params": params})


def token(app: ComagicApp, role: str = "direct") -> str:
    value = app.accounts[role].token
    assert value
    return value


def mnemonic(answer: dict[str, Any]) -> str:
    return answer["error"]["data"]["mnemonic"]


DAY = {"date_from": "2024-01-03 00:00:00", "date_till": "2024-01-03 23:59:59"}


def test_envelope_errors(app):
    no_id = post(app, {"jsonrpc": "2.0", "method": "get.account", "params": {}})
    assert no_id["error"]["code"] == -32099 and mnemonic(no_id) == "notifications_not_supported"
    batch = post(app, [{"jsonrpc": "2.0", "id": 1, "method": "get.account", "params": {}}])
    assert mnemonic(batch) == "batch_opreations_not_supported"  # sic, as documented
    assert post(app, None, raw=b"{broken")["error"]["code"] == -32700
    assert post(app, {"id": 1, "method": "get.account"})["error"]["code"] == -32600
    unknown = call(app, "get.everything", access_token=token(app))
    assert unknown["error"]["code"] == -32601 and unknown["id"] == 7


def test_auth_errors(app):
    wrong = call(app, "get.account", access_token="nope")
    assert wrong["error"]["code"] == -32001 and mnemonic(wrong) == "access_token_invalid"
    assert mnemonic(call(app, "get.account", access_token=token(app, "blocked"))) == \
        "access_token_blocked"
    denied = call(app, "get.account", access_token=token(app, "ip_denied"))
    assert denied["error"]["code"] == -32003 and mnemonic(denied) == "ip_not_whitelisted"
    assert "127.0.0.1" in denied["error"]["message"]
    disabled = call(app, "get.chats_report", access_token=login(app), **DAY)
    assert disabled["error"]["code"] == -32008
    assert mnemonic(disabled) == "method_component_disabled"
    assert mnemonic(call(app, "login.user", login="okna_api", password="wrong")) == "auth_error"


def login(app: ComagicApp) -> str:
    account = app.accounts["login"]
    answer = call(app, "login.user", login=account.login, password=account.password)
    data = answer["result"]["data"]
    assert data["app_id"] == account.app_id
    lifetime = app.controls.token_lifetime_s
    assert data["expire_at"] == pytest.approx(time.time() + lifetime, abs=1.5)
    return data["access_token"]


def test_sessions_expire_and_log_out(app):
    app.controls.token_lifetime_s = 0.2
    session = login(app)
    assert "result" in call(app, "get.account", access_token=session)
    time.sleep(0.3)
    assert mnemonic(call(app, "get.account", access_token=session)) == "access_token_expired"
    fresh = login(app)
    assert call(app, "logout.user", access_token=fresh)["result"] == {"data": {}}
    assert mnemonic(call(app, "get.account", access_token=fresh)) == "access_token_invalid"
    assert app.counts["login_ok"] == 2 and app.counts["logout_ok"] == 1


def test_default_fields_without_fields_and_unknown_fields_refused(app):
    default = call(app, "get.goals_report", access_token=token(app), **DAY)["result"]["data"]
    assert default and set(default[0]) == set(METHODS["get.goals_report"].defaults)
    assert "id" not in default[0]  # goals do not even return id by default (quirk 15)
    chosen = call(app, "get.goals_report", access_token=token(app), fields=["id", "name"],
                  **DAY)["result"]["data"]
    assert set(chosen[0]) == {"id", "name"}
    unknown = call(app, "get.goals_report", access_token=token(app), fields=["id", "nope"],
                   **DAY)
    assert mnemonic(unknown) == "unexpected_parameters"
    assert unknown["error"]["data"]["value"] == "nope"
    assert mnemonic(call(app, "get.tags", access_token=token(app), colour="red")) == \
        "unexpected_parameters"
    assert app.last_params["get.tags"] == {"colour": "red"}  # the token is never kept


def test_paging_caps_and_metadata(app):
    too_many = call(app, "get.calls_report", access_token=token(app), limit=10_001, **DAY)
    assert mnemonic(too_many) == "invalid_parameter_value"
    assert too_many["error"]["data"]["field"] == "limit"
    too_far = call(app, "get.calls_report", access_token=token(app), offset=100_001, **DAY)
    assert too_far["error"]["data"]["field"] == "offset"
    assert too_far["error"]["data"]["metadata"]["limits"]["day_limit"] > 0
    answer = call(app, "get.calls_report", access_token=token(app), limit=2, offset=1,
                  fields=["id", "start_time"], **DAY)["result"]
    expected = World().calls_on("comagic", "10501", dt.date(2024, 1, 3))
    assert answer["metadata"]["total_items"] == len(expected) > 3
    assert [row["id"] for row in answer["data"]] == [f.call_id for f in expected[1:3]]
    limits = answer["metadata"]["limits"]
    assert limits["day_remaining"] == limits["day_limit"] - 1
    assert limits["minute_remaining"] == limits["minute_limit"] - 1


def test_dates_and_the_three_month_limit(app):
    three_months = {"date_from": "2024-01-01 00:00:00", "date_till": "2024-03-31 23:59:59"}
    assert "result" in call(app, "get.calls_report", access_token=token(app), fields=["id"],
                            **three_months)
    longer = {"date_from": "2023-02-01 00:00:00", "date_till": "2023-05-01 00:00:01"}
    refused = call(app, "get.calls_report", access_token=token(app), fields=["id"], **longer)
    assert refused["error"]["code"] == -32602
    assert mnemonic(refused) == "date_interval_limit_reached"
    iso = call(app, "get.calls_report", access_token=token(app),
               date_from="2024-01-03T00:00:00Z", date_till="2024-01-04 00:00:00")
    assert mnemonic(iso) == "invalid_parameter_value"
    assert mnemonic(call(app, "get.calls_report", access_token=token(app),
                         date_from="2024-01-03 00:00:00")) == "required_parameter_missing"


def test_date_till_is_inclusive_to_the_second(app):
    facts = World().calls_on("comagic", "10501", dt.date(2024, 1, 3))[0]
    moment = facts.started_local.strftime("%Y-%m-%d %H:%M:%S")
    rows = call(app, "get.calls_report", access_token=token(app), fields=["id"],
                date_from=moment, date_till=moment)["result"]["data"]
    assert [row["id"] for row in rows] == [facts.call_id]


def test_agency_clients_have_their_own_data(app):
    agency = token(app, "agency")
    clients = call(app, "get.customer_users", access_token=agency)["result"]["data"]
    assert [c["id"] for c in clients] == [7001, 7002]
    assert call(app, "get.customer_users", access_token=token(app))["result"]["data"] == []
    one, two = (call(app, "get.calls_report", access_token=agency, user_id=user, fields=["id"],
                     **DAY)["result"]["data"] for user in (7001, 7002))
    assert one and two and not {r["id"] for r in one} & {r["id"] for r in two}
    assert mnemonic(call(app, "get.sites", access_token=agency, user_id=1)) == "forbidden"
    assert call(app, "get.sites", access_token=agency)["result"]["data"] == []


def test_vendor_shapes(app):
    account = call(app, "get.account", access_token=token(app))["result"]
    assert account["data"] == [{"app_id": 10501, "name": "okna-direct",
                                "timezone": "Europe/Moscow"}]
    assert "meta_data" in account  # as the doc's example spells it (quirk 21)
    site = call(app, "get.sites", access_token=token(app), fields=["id"])["result"]["data"][0]
    stat = call(app, "get.campaign_daily_stat", access_token=token(app), site_id=site["id"],
                fields=["date", "campaign_id", "cost_sum"], **DAY)["result"]
    assert isinstance(stat, list) and stat  # a bare result (quirk 23)
    assert set(stat[0]) == {"date", "campain_id", "cost_sum"}  # sic (quirk 21)
    assert isinstance(stat[0]["cost_sum"], str)
    assert mnemonic(call(app, "get.campaign_daily_stat", access_token=token(app), **DAY)) == \
        "required_parameter_missing"
    calls = call(app, "get.calls_report", access_token=token(app),
                 fields=["visitor_type", "tags", "employees", "utm_source", "call_records"],
                 **DAY)["result"]["data"]
    assert {row["visitor_type"] for row in calls} <= {"Новый", "Вернувшийся", "Не заполнен"}
    assert any(row["tags"] and isinstance(row["tags"][0], dict) for row in calls)
    assert any(row["call_records"] for row in calls)
    assert None in {row["utm_source"] for row in calls}  # nulls, never placeholders


def test_minute_and_day_quota(app):
    app.controls.minute_limit, app.controls.minute_seconds = 2, 0.5
    for _ in range(2):
        assert "result" in call(app, "get.tags", access_token=token(app))
    spent = call(app, "get.tags", access_token=token(app))
    assert spent["error"]["code"] == -32029 and mnemonic(spent) == "limit_exceeded"
    assert "minute" in spent["error"]["message"]
    limits = spent["error"]["data"]["metadata"]["limits"]
    assert limits["minute_remaining"] == 0 and limits["minute_reset"] >= 1
    time.sleep(0.6)
    assert "result" in call(app, "get.tags", access_token=token(app))
    app.controls.day_limit = 3
    day = call(app, "get.tags", access_token=token(app))
    assert "day" in day["error"]["message"]
    assert day["error"]["data"]["metadata"]["limits"]["day_remaining"] == 0
    assert "result" in call(app, "get.tags", access_token=token(app, "agency"))  # per account


def test_injected_errors_and_unknown_fields(app):
    app.controls.inject = [{"mnemonic": "internal_error", "count": 1, "method": "get.tags"}]
    assert call(app, "get.tags", access_token=token(app))["error"]["code"] == -32603
    assert "result" in call(app, "get.tags", access_token=token(app))
    app.controls.unknown_fields = {"get.tags": ["is_system"]}
    refused = call(app, "get.tags", access_token=token(app), fields=["id", "is_system"])
    assert refused["error"]["data"]["value"] == "is_system"


def test_big_account_is_cheap_and_exact(app):
    big = token(app, "big")
    whole_day = {"date_from": f"{BIG_DAY} 00:00:00", "date_till": f"{BIG_DAY} 23:59:59"}
    started = time.monotonic()
    answer = call(app, "get.calls_report", access_token=big, fields=["id", "start_time"],
                  limit=10_000, offset=100_000, **whole_day)["result"]
    assert answer["metadata"]["total_items"] == 120_000
    assert len(answer["data"]) == 10_000 and time.monotonic() - started < 2
    halves = [call(app, "get.calls_report", access_token=big, fields=["id"], limit=1,
                   date_from=f"{BIG_DAY} {a}", date_till=f"{BIG_DAY} {b}")
              ["result"]["metadata"]["total_items"]
              for a, b in (("00:00:00", "11:59:59"), ("12:00:00", "23:59:59"))]
    assert sum(halves) == 120_000 and halves[0] == 60_000


def test_record_links_serve_audio_or_404(app):
    rows = call(app, "get.calls_report", access_token=token(app, "agency"), user_id=7002,
                fields=["communication_id", "call_records"], **DAY)["result"]["data"]
    row = next(r for r in rows if r["call_records"])

    def get(path: str) -> Any:
        return app.handle(SandboxRequest("GET", path, "", {}, {}, b"", "127.0.0.1", "x"))

    found = get(f"/media/system/media/talk/{row['communication_id']}/{row['call_records'][0]}/")
    assert found.status == 200 and found.content_type == "audio/mpeg"
    assert found.body.startswith(b"ID3")
    missing = get(f"/media/system/media/talk/{row['communication_id']}/1/")
    assert missing.status == 404

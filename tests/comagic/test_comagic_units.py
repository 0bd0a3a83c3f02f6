"""Comagic pieces without processes: settings, error mapping, sessions, paging plans."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from calltrack_sandbox.comagic.methods import METHODS
from tap_calltrack.comagic.client import ReportPage, ReportWalk, Slice, refused_fields
from tap_calltrack.comagic.rpc import (
    Answer,
    Limits,
    MinuteLimit,
    TokenRejected,
    error_for,
    parse_answer,
    request_body,
)
from tap_calltrack.comagic.session import SESSION_S, session_lifetime
from tap_calltrack.comagic.settings import parse_accounts
from tap_calltrack.comagic.streams import STREAMS, CallsStream
from tap_calltrack.http import (
    AuthError,
    FatalError,
    QuotaExhausted,
    RetryableError,
    StreamUnavailable,
)
from tap_calltrack.schema_files import load
from tap_calltrack.settings import Account, ConfigError, fingerprint
from tap_calltrack.windows import Window

TOKEN = "0123456789abcdef-secret"


def accounts(*entries: dict[str, Any], **section: Any) -> list[Account]:
    return parse_accounts({"comagic": {"accounts": list(entries), **section}})


def test_labels_contexts_and_secrets():
    direct, session, named = accounts({"access_token": TOKEN},
                                      {"login": "okna_api", "password": "pw-secret"},
                                      {"name": "Агентство", "access_token": "other-token",
                                       "user_ids": [7001, 7002],
                                       "api_url": "https://dataapi.uiscom.ru/v2.0/"})
    assert direct.label == fingerprint(TOKEN) and direct.context == {"account": direct.label}
    assert session.label == "okna_api" and session.secrets["password"] == "pw-secret"
    assert named.options["user_ids"] == (7001, 7002)
    assert named.options["api_url"] == "https://dataapi.uiscom.ru/v2.0"
    assert direct.options["api_url"] == "https://dataapi.comagic.ru/v2.0"
    assert direct.options["media_url"] == "https://app.comagic.ru"
    assert TOKEN not in repr(direct)


@pytest.mark.parametrize(("entries", "section", "setting"), [
    ([{"login": "x"}], {}, "comagic.accounts[0].password"),
    ([{}], {}, "comagic.accounts[0].access_token"),
    ([{"access_token": TOKEN, "login": "x", "password": "y"}], {}, "comagic.accounts[0]"),
    ([{"access_token": TOKEN, "user_ids": [0]}], {}, "comagic.accounts[0].user_ids"),
    ([{"access_token": TOKEN, "user_ids": [5, 5]}], {}, "comagic.accounts[0].user_ids"),
    ([{"access_token": TOKEN, "timezone": "Mars/Base"}], {}, "comagic.accounts[0].timezone"),
    ([{"access_token": TOKEN, "name": "a"}, {"access_token": "t2-secret", "name": "a"}], {},
     "comagic.accounts[1].name"),
    ([{"access_token": TOKEN}], {"window_days": 91}, "comagic.window_days"),
    ([{"access_token": TOKEN}], {"page_size": 10_001}, "comagic.page_size"),
    ([{"access_token": TOKEN}], {"media_url": "ftp://x"}, "comagic.media_url"),
])
def test_bad_config_names_the_setting_never_the_value(entries, section, setting):
    with pytest.raises(ConfigError) as error:
        accounts(*entries, **section)
    assert error.value.setting == setting
    assert TOKEN not in str(error.value) and "Mars" not in str(error.value)


def answer(mnemonic: str, message: str = "m", limits: dict[str, Any] | None = None,
           code: int = -32000) -> Answer:
    data = {"mnemonic": mnemonic, "metadata": {"limits": limits} if limits else {}}
    return Answer(requests.Response(), None, {"code": code, "message": message, "data": data},
                  Limits.of(data["metadata"]))


@pytest.mark.parametrize(("mnemonic", "kind"), [
    ("access_token_expired", TokenRejected), ("access_token_invalid", TokenRejected),
    ("access_token_blocked", AuthError), ("auth_error", AuthError), ("forbidden", AuthError),
    ("account_inactive", AuthError), ("ip_not_whitelisted", AuthError),
    ("method_component_disabled", StreamUnavailable),
    ("parameter_component_disabled", StreamUnavailable),
    ("internal_error", RetryableError), ("unexpected_parameters", FatalError),
])
def test_errors_are_acted_on_by_mnemonic(mnemonic, kind):
    error = error_for(answer(mnemonic), "comagic.accounts[0]")
    assert type(error) is kind


def test_whitelist_message_says_what_and_where():
    text = str(error_for(answer("ip_not_whitelisted", "IP 10.1.2.3 is denied"), "x"))
    assert "10.1.2.3" in text and "IP address" in text
    assert "Администратор → Аккаунт → Правила и настройки безопасности → API" in text


def test_limit_exceeded_minute_waits_day_stops():
    minute = answer("limit_exceeded", "Limit per minute has been exceeded",
                    {"minute_remaining": 0, "minute_reset": 12, "day_remaining": 50})
    assert isinstance(error_for(minute, "x"), MinuteLimit)
    day = answer("limit_exceeded", "Limit per day has been exceeded",
                 {"day_remaining": 0, "day_reset": 3600})
    error = error_for(day, "x")
    assert isinstance(error, QuotaExhausted) and "3600 s" in str(error)


def test_answers_are_read_whatever_the_status():
    response = requests.Response()
    response.status_code = 400
    response._content = json.dumps({"jsonrpc": "2.0", "id": 1, "error": {
        "code": -32001, "message": "m", "data": {"mnemonic": "access_token_invalid"}}}).encode()
    assert parse_answer(response).mnemonic == "access_token_invalid"
    response._content = b"<html>502</html>"
    response.status_code = 502
    with pytest.raises(RetryableError):
        parse_answer(response)
    response.status_code = 200
    response._content = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {
        "data": [], "meta_data": {"limits": {"minute_remaining": 3}}}}).encode()
    assert parse_answer(response).limits == Limits(minute_remaining=3)


def test_every_request_has_an_id():
    bodies = [json.loads(request_body("get.account", {"access_token": "t"})) for _ in range(2)]
    assert bodies[0]["jsonrpc"] == "2.0" and bodies[0]["id"] != bodies[1]["id"]


def test_session_lifetime_reads_expire_at_or_expire():
    assert session_lifetime({"expire_at": 1000 + 3500}, now=1000) == 3500
    assert session_lifetime({"expire": 1000 + 60}, now=1000) == 60
    assert session_lifetime({}, now=1000) == SESSION_S
    assert session_lifetime({"expire_at": 10}, now=1000) == SESSION_S


def test_refused_fields_from_value_field_or_message():
    fields = ["id", "employee_raiting", "visitor_ua", "tags"]
    assert refused_fields({"data": {"field": "fields", "value": "employee_raiting"}},
                          fields) == ["employee_raiting"]
    assert refused_fields({"data": {"field": "fields", "value": "employee_raiting, visitor_ua"}},
                          fields) == ["employee_raiting", "visitor_ua"]
    assert refused_fields({"data": {"value": ["tags", "visitor_ua"]}}, fields) == \
        ["tags", "visitor_ua"]
    assert refused_fields({"data": {"field": "visitor_ua"}}, fields) == ["visitor_ua"]
    assert refused_fields({"message": "Unknown field 'employee_raiting'"}, fields) == \
        ["employee_raiting"]
    assert refused_fields({"message": "Unexpected parameters: tags,visitor_ua"}, fields) == \
        ["tags", "visitor_ua"]
    assert refused_fields({"data": {"value": "somethin_else"}, "message": "nothing to see"},
                          fields) == []


def window(hours: int) -> Window:
    start = dt.datetime(2024, 1, 3, tzinfo=ZoneInfo("Europe/Moscow"))
    return Window(start, start + dt.timedelta(hours=hours))


def page(part: Window, total: int | None, rows: int, offset: int = 0) -> ReportPage:
    return ReportPage(requests.Response(), None, [{}] * rows, part, total=total, limit=10,
                      offset=offset)


def test_known_totals_plan_every_page_of_every_part():
    first, second = window(24).halves()
    head = page(first, 25, 10)
    head.plan = [head, page(second, 12, 10)]
    tokens = ReportWalk().remaining(head)
    assert tokens is not None
    assert [(t.piece, t.offset, t.prefetched is not None) for t in tokens] == [
        (first, 10, False), (first, 20, False), (second, 0, True), (second, 10, False)]


def test_bare_answers_are_walked_while_pages_are_full():
    part = window(24)
    head = page(part, None, 10)
    head.plan = [head]
    walk = ReportWalk()
    assert walk.remaining(head) is None
    following = walk.following(None, head)
    assert following == Slice(part, 10)
    assert walk.following(following, page(part, None, 3, offset=10)) is None


def test_schemas_list_what_the_api_knows():
    """Every field the tap requests is one the emulator (and the docs) know."""
    for stream in (s for s in STREAMS if hasattr(s, "method")):  # not the recordings
        schema = load("comagic", stream.name.removeprefix("comagic_"))
        added = {"account", "app_id", "user_id", "record_urls", "dimension_key",
                 getattr(stream, "replication_key", None)}
        vendor = [name for name in schema["properties"] if name not in added]
        known = METHODS[stream.method].fields
        assert set(vendor) <= set(known), stream.name
        assert set(stream.primary_keys) <= set(schema["properties"]), stream.name


def test_recording_refs_of_a_call():
    stream = object.__new__(CallsStream)
    account = accounts({"access_token": TOKEN, "media_url": "http://media.test/x"})[0]
    record = {"app_id": 10, "user_id": None, "id": 5, "communication_id": 77,
              "call_records": [701, 702], "start_time_utc": "2024-01-03T04:00:00+00:00"}
    refs = stream.recording_refs(record, account)
    assert [ref.relative_path for ref in refs] == ["comagic/10/77_701.mp3",
                                                   "comagic/10/77_702.mp3"]
    assert refs[0].url == "http://media.test/x/system/media/talk/77/701/"
    assert refs[0].record == {"app_id": 10, "user_id": None, "id": 5, "communication_id": 77,
                              "record_id": 701, "start_time_utc": "2024-01-03T04:00:00+00:00"}
    assert stream.recording_refs({**record, "call_records": []}, account) == []

"""The tap's side of CallKeeper: route, wire format, answer shapes, errors, records."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from callkeeper_helpers import day

from tap_calltrack.base import Page
from tap_calltrack.callkeeper.client import (
    Answer,
    CallkeeperPaginator,
    decode_answer,
    remaining_pages,
    route,
    route_url,
)
from tap_calltrack.http import (
    ApiRequest,
    AuthError,
    FatalError,
    ProtocolError,
    RetryableError,
    send_exact,
)
from tap_calltrack.recordings import save
from tap_calltrack.settings import Account
from tap_calltrack.tap import TapCalltrack
from tap_calltrack.windows import Window

KEY = "x9xx99xx99xxxx99"
INFO = {"entities": {"call": ["get"]}, "types": ["json"], "versions": ["v1"]}


def response(body: Any, status: int = 200, content_type: str = "application/json",
             **headers: str) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer.headers.update({"Content-Type": content_type, **headers})
    return answer


def error(text: str, status: int = 200) -> requests.Response:
    return response({"inbound": {"error": text}, "info": INFO, "payload": []}, status)


def account(method: str = "get", zone: str = "Europe/Moscow", label: str = "Окна") -> Account:
    return Account("callkeeper", label, {"account": label}, ZoneInfo(zone),
                   secrets={"api_key": KEY}, options={"method": method})


# --- route -------------------------------------------------------------------------------

def test_the_route_is_the_documented_query_string():
    text = route(account("getWithRole"), 2, dt.date(2020, 5, 1), dt.date(2020, 5, 2))
    assert text == f"json/v3/{KEY}/call/getWithRole/2/2020-05-01/2020-05-02"
    assert route_url("https://ckct.ru/api/", text) == f"https://ckct.ru/api/?{text}"
    assert route_url("https://ckct.ru/api/index.php?", text) == \
        f"https://ckct.ru/api/index.php?{text}"


def test_a_failure_that_would_quote_the_url_is_replaced_by_one_without_it():
    with requests.Session() as session, pytest.raises(FatalError) as caught:
        send_exact(session, ApiRequest(
            "GET", f"htp://ckct.ru/api/?json/v3/{KEY}/call/get/0/2024-01-01", exact_url=True),
            1.0)
    assert KEY not in str(caught.value) and "InvalidSchema" in str(caught.value)


# --- answers -----------------------------------------------------------------------------

CALL = {"universalId": "17", "callTime": "2024-03-01 10:00:00"}


def test_a_bare_array_is_a_page_of_calls():
    assert decode_answer(response([CALL]), KEY) == Answer([CALL])


def test_the_legacy_envelope_tells_the_page_count():
    body = {"inbound": {"ofPages": 3, "totalLength": 2100, "pageLength": 1000},
            "info": INFO, "payload": [CALL]}
    assert decode_answer(response(body), KEY) == Answer([CALL], of_pages=3)


@pytest.mark.parametrize("text", ["No rows found", "Incorrect page is set"])
@pytest.mark.parametrize("status", [200, 400, 404])
def test_the_two_end_signals_are_an_empty_page_whatever_the_status(text, status):
    assert decode_answer(error(text, status), KEY) == Answer(end=text)


@pytest.mark.parametrize(("text", "kind", "names"), [
    ("User is not recognized", AuthError, "API key"),
    ("Type to return is not available", FatalError, "format"),
    ("It is wrong API version", FatalError, "version"),
    ("Entity does not exist", FatalError, "entity"),
    ("Method does not exist", FatalError, "method"),
    ("Start date has wrong type. Possible format is 'Y-m-d' or timestamp", FatalError,
     "start date"),
])
@pytest.mark.parametrize("status", [200, 400, 401])
def test_each_documented_error_names_the_wrong_part(text, kind, names, status):
    with pytest.raises(FatalError) as caught:
        decode_answer(error(text, status), KEY)
    assert type(caught.value) is kind and names in str(caught.value)
    assert text in str(caught.value)


def test_an_unknown_error_is_fatal_and_never_quotes_the_key():
    with pytest.raises(FatalError) as caught:
        decode_answer(error(f"Key {KEY} is blocked"), KEY)
    assert type(caught.value) is FatalError
    assert KEY not in str(caught.value) and "blocked" in str(caught.value)


@pytest.mark.parametrize("answer", [
    error("No rows found", 503),
    response(b"<html>502 Bad Gateway</html>", 502, "text/html"),
    response(b"<!DOCTYPE html><html>nginx</html>", 200, "text/html"),
    response(b'[{"universalId": "1", "callTi', 200),
])
def test_server_trouble_and_broken_bodies_are_retried(answer):
    with pytest.raises(RetryableError):
        decode_answer(answer, KEY)


def test_429_is_retried_after_what_the_vendor_says():
    with pytest.raises(RetryableError) as caught:
        decode_answer(response({"inbound": {"error": "Too many requests"}}, 429,
                               **{"Retry-After": "3"}), KEY)
    assert caught.value.retry_after == 3


def test_a_refusal_without_a_body_falls_back_to_the_status():
    with pytest.raises(AuthError):
        decode_answer(response(b"Forbidden", 403, "text/plain"), KEY)


@pytest.mark.parametrize("body", [{"status": "ok"}, ["17"], 17])
def test_an_unknown_shape_is_a_retryable_protocol_error(body):
    with pytest.raises(ProtocolError, match=r"call objects|envelope"):
        decode_answer(response(body), KEY)


def test_v1_rows_are_left_to_the_stream():
    """Rows without universalId (the v1 names) no longer stop the run (streams.py maps them)."""
    assert decode_answer(response([{"callId": 1}]), KEY).rows == [{"callId": 1}]


# --- paging ------------------------------------------------------------------------------

def page_of(answer: Answer) -> Page:
    raw = response([])
    raw.calltrack_answer = answer  # type: ignore[attr-defined]
    return Page(raw, answer, answer.rows)


def test_pages_start_at_0_and_walk_until_a_short_page_or_an_end_signal():
    paginator = CallkeeperPaginator()
    assert paginator.current_value == 0
    paginator.advance(page_of(Answer([CALL] * 1000)).response)
    assert (paginator.current_value, paginator.finished) == (1, False)
    paginator.advance(page_of(Answer([CALL] * 999)).response)
    assert paginator.finished
    for answer in (Answer([]), Answer(end="No rows found"), Answer(end="Incorrect page is set")):
        fresh = CallkeeperPaginator()
        fresh.advance(page_of(answer).response)
        assert fresh.finished


def test_a_told_page_count_plans_the_other_pages():
    assert list(remaining_pages(page_of(Answer([CALL] * 1000, of_pages=3)))) == [1, 2]
    assert list(remaining_pages(page_of(Answer([CALL], of_pages=1)))) == []
    assert remaining_pages(page_of(Answer(end="No rows found"))) is None
    assert remaining_pages(page_of(Answer([CALL] * 1000))) is None


# --- the stream in-process, against the in-process sandbox --------------------------------

@pytest.fixture
def tap(server, monkeypatch) -> TapCalltrack:
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # the tap wraps stderr; undo it after
    config = server.tap_config()
    config.pop("calltouch", None)
    config.pop("comagic", None)
    return TapCalltrack(config=config, validate_config=True)


def window(first: dt.date, last: dt.date, zone: str = "Europe/Moscow") -> Window:
    tz = ZoneInfo(zone)
    return Window(dt.datetime.combine(first, dt.time(0), tz),
                  dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tz))


@pytest.mark.e2e
def test_the_route_goes_on_the_wire_byte_for_byte(tap, app, monkeypatch, expect):
    seen: list[str] = []
    handle = app.handle

    def spy(request):
        seen.append(request.raw_query)
        return handle(request)

    monkeypatch.setattr(app, "handle", spy)
    stream = tap.streams["callkeeper_calls"]
    role = stream.accounts[1]
    page = stream.fetch_page(role, window(day(0), day(6)), 0)
    key = app.by_slug["role-1"].key
    # {to} one day further: the window's last day is in the answer under either reading
    assert seen == [f"json/v3/{key}/call/getByRole/0/{day(0)}/{day(7)}"]
    assert len(page.records) == expect.count("role-1", day(0), day(6))


@pytest.mark.e2e
def test_records_get_the_account_label_and_utc_time_and_keep_every_value(tap):
    stream = tap.streams["callkeeper_calls"]
    ural = next(a for a in stream.accounts if a.label == "Окна-Урал")
    row = {"universalId": "4", "callTime": "2024-03-01 10:00:00", "utm_source": "-",
           "recordUrl": None, "tags": [], "duration": 0, "referrer": ""}
    (normalised,) = stream.normalised([dict(row)], ural)
    assert normalised == {**row, "account": "Окна-Урал",
                          "call_time_utc": "2024-03-01T05:00:00+00:00"}
    assert stream.post_process(dict(normalised), ural.context) == normalised


@pytest.mark.e2e
def test_a_value_quoting_the_key_is_masked(tap):
    stream = tap.streams["callkeeper_calls"]
    user = stream.accounts[0]
    key = user.secrets["api_key"]
    (row,) = stream.normalised([{"universalId": "1", "callTime": "2024-03-01 10:00:00",
                                 "recordUrl": f"https://ckct.ru/rec/{key}/1.mp3"}], user)
    assert key not in json.dumps(row) and row["recordUrl"] == "https://ckct.ru/rec/***/1.mp3"


@pytest.mark.e2e
@pytest.mark.parametrize("url", ["", None, "-"])
def test_a_call_without_a_recording_has_no_ref(tap, url):
    stream = tap.streams["callkeeper_calls"]
    assert stream.recording_refs({"universalId": "1", "recordUrl": url},
                                 stream.accounts[0]) == []


@pytest.mark.e2e
def test_a_recording_ref_names_a_safe_path_and_the_call(tap):
    stream = tap.streams["callkeeper_calls"]
    record = {"universalId": "20000000000000042", "recordUrl": "https://rec.example/42.mp3",
              "call_time_utc": "2024-03-01T07:00:00+00:00"}
    (ref,) = stream.recording_refs(record, account(label="../Дилеры (роль)/x"))
    assert ref.url == "https://rec.example/42.mp3" and ref.params == {}
    assert ref.relative_path == "callkeeper/_Дилеры_роль_x/20000000000000042.mp3"
    assert ref.record == {"account": "../Дилеры (роль)/x", "universalId": "20000000000000042",
                          "call_time_utc": "2024-03-01T07:00:00+00:00"}


@pytest.mark.e2e
def test_the_recording_of_an_emitted_call_downloads_from_its_record_url(tap, tmp_path):
    stream = tap.streams["callkeeper_calls"]
    user = stream.accounts[0]
    page = stream.fetch_page(user, window(day(0), day(0)), 0)
    records = page.records  # normalised by fetch_page
    refs = [ref for record in records for ref in stream.recording_refs(record, user)]
    assert 0 < len(refs) < len(records)
    saved = save(stream.http, refs[0], tmp_path, "test").row
    assert saved is not None and saved["bytes"] > 4096
    assert (tmp_path / refs[0].relative_path).read_bytes().startswith(b"ID3")
    assert refs[0].relative_path.startswith("callkeeper/Окна-Север/")
    tap.close()


@pytest.mark.e2e
def test_incorrect_page_for_page_0_is_said_aloud(tap, monkeypatch):
    """Documented pages start at 0: that answer to page 0 would mean missed data."""
    stream = tap.streams["callkeeper_calls"]
    said: list[tuple[str, tuple]] = []
    monkeypatch.setattr(stream.logger, "warning", lambda *a: said.append(("warning", a)))
    monkeypatch.setattr(stream.logger, "debug", lambda *a: said.append(("debug", a)))
    stream.log_end("w", 0, "Incorrect page is set")
    stream.log_end("w", 2, "Incorrect page is set")
    stream.log_end("w", 0, "No rows found")
    assert [level for level, _ in said] == ["warning", "debug", "debug"]

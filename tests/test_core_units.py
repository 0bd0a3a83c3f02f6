"""Unit tests of the shared core: windows, bookmarks, prefetch order, retries, redaction."""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import itertools
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from tap_calltrack.call_mapping import clean, phone
from tap_calltrack.http import (
    AuthError,
    ExtractionError,
    Pacer,
    RetryableError,
    VendorHttp,
    decode_json,
    retry_after_seconds,
)
from tap_calltrack.prefetch import OrderedPrefetcher
from tap_calltrack.redaction import RedactingStream, Redactor
from tap_calltrack.settings import VendorLimits
from tap_calltrack.windows import (
    Window,
    canonical_utc,
    day_windows,
    extraction_start,
    local_to_utc,
    parse_utc,
)

MSK = ZoneInfo("Europe/Moscow")


# --- windows and bookmarks ------------------------------------------------------------

def test_canonical_utc_is_one_sortable_format():
    moment = dt.datetime(2024, 3, 1, 0, 0, 5, 999, tzinfo=MSK)
    assert canonical_utc(moment) == "2024-02-29T21:00:05+00:00"
    assert local_to_utc("01/03/2024 00:00:05", "%d/%m/%Y %H:%M:%S", MSK) == canonical_utc(moment)
    assert local_to_utc("31/02/2024 00:00:00", "%d/%m/%Y %H:%M:%S", MSK) is None


@given(st.integers(0, 400), st.integers(1, 40), st.integers(1, 31), st.integers(0, 86399))
def test_day_windows_cover_the_range_without_gaps(start_day, length, size, second):
    start = dt.datetime(2024, 1, 1, tzinfo=MSK) + dt.timedelta(days=start_day, seconds=second)
    end = start + dt.timedelta(days=length)
    windows = day_windows(start, end, size)
    assert windows[0].start <= start and windows[-1].end == end
    for before, after in itertools.pairwise(windows):
        assert before.end == after.start and before.end.time() == dt.time(0)
    assert all((w.last_day - w.first_day).days < size for w in windows)


def test_empty_range_has_no_windows_and_halves_cover_a_window():
    now = dt.datetime(2024, 1, 5, 12, tzinfo=MSK)
    assert day_windows(now, now, 7) == []
    window = Window(dt.datetime(2024, 1, 1, tzinfo=MSK), dt.datetime(2024, 1, 2, tzinfo=MSK))
    left, right = window.halves()
    assert left.start == window.start and left.end == right.start and right.end == window.end


def test_resume_starts_at_bookmark_minus_lookback_never_before_start_date():
    configured = dt.datetime(2024, 1, 1, tzinfo=MSK)
    bookmark = "2024-01-10T21:00:00+00:00"
    assert extraction_start(configured, bookmark, 3) == parse_utc(bookmark).astimezone(
        MSK) - dt.timedelta(days=3)
    assert extraction_start(configured, "2024-01-01T00:00:00+00:00", 30) == configured
    assert extraction_start(configured, None, 3) == configured


# --- prefetch order -------------------------------------------------------------------

class FakeWalk:
    """Pages of a window: a known total for even windows, walking for odd ones."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.pages = 1 + window % 4

    def first(self):
        return 1

    def remaining(self, first_page):
        return list(range(2, self.pages + 1)) if self.window % 2 == 0 else None

    def following(self, token, page):
        return token + 1 if token < self.pages else None


@pytest.mark.parametrize("ahead", [1, 3, 8])
def test_prefetcher_hands_out_pages_in_order_whatever_the_timing(ahead):
    rng = random.Random(ahead)
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def fetch(window, token):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(rng.random() / 200)
        with lock:
            in_flight -= 1
        return (window, token)

    with ThreadPoolExecutor(8) as pool:
        prefetcher = OrderedPrefetcher(fetch, pool.submit, FakeWalk, ahead)
        seen = list(prefetcher.run(range(10)))
    expected = [(w, (w, p)) for w in range(10) for p in range(1, 2 + w % 4)]
    assert [(w, page) for w, page, _ in seen] == expected
    completes = [(w, page[1]) for w, page, done in seen if done]
    assert completes == [(w, 1 + w % 4) for w in range(10)]
    assert peak <= ahead


def test_prefetcher_raises_a_failed_page_in_order():
    def fetch(window, token):
        if window == 2:
            raise ValueError("boom")
        return (window, token)

    with ThreadPoolExecutor(4) as pool:
        pages = OrderedPrefetcher(fetch, pool.submit, FakeWalk, 4).run(range(5))
        got = []
        with pytest.raises(ValueError, match="boom"):
            for window, _, _ in pages:
                got.append(window)
    assert set(got) == {0, 1}


# --- retries ----------------------------------------------------------------------------

def response(status: int, body: bytes = b"{}", **headers: str) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = body
    answer.headers.update(headers)
    answer.reason = "X"
    return answer


def http(max_tries: int = 4) -> VendorHttp:
    return VendorHttp("test", VendorLimits(1000, 2, max_tries, 5), "ua")


def test_retry_after_in_seconds_and_as_an_http_date():
    assert retry_after_seconds("3") == 3
    later = email.utils.format_datetime(
        dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30), usegmt=True)
    assert 28 <= retry_after_seconds(later) <= 31
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_429_waits_as_told_then_succeeds(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    answers = iter([response(429, **{"Retry-After": "7"}), response(503), response(200, b'[1]')])
    result = http().call(lambda session: next(answers), decode_json, "test stream [acc]")
    assert result == [1]
    assert slept[0] == 7 and 0 < slept[1] <= 1.0


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b'{"records": [1, 2'])
def test_html_and_truncated_json_are_retried_then_reported(monkeypatch, body):
    monkeypatch.setattr(time, "sleep", lambda s: None)
    with pytest.raises(ExtractionError) as caught:
        http(3).call(lambda session: response(200, body), decode_json,
                     "calltouch calltouch_calls [Окна] window 2024-01-01..2024-01-07")
    message = str(caught.value)
    assert message.startswith("calltouch calltouch_calls [Окна] window 2024-01-01..2024-01-07")
    assert "gave up after 3 tries" in message


def test_connection_resets_and_timeouts_are_retried(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda s: None)
    failures = iter([requests.exceptions.ConnectionError("reset"),
                     requests.exceptions.ReadTimeout("slow")])

    def send(session):
        failure = next(failures, None)
        if failure:
            raise failure
        return response(200, b"[]")

    assert http().call(send, decode_json, "x") == []


def test_auth_errors_fail_fast(monkeypatch):
    calls = []

    def send(session):
        calls.append(1)
        return response(401)

    with pytest.raises(AuthError):
        http().call(send, decode_json, "x")
    assert len(calls) == 1


def test_retryable_error_carries_retry_after():
    assert RetryableError("x", retry_after=2.5).retry_after == 2.5


# --- redaction ----------------------------------------------------------------------------

def test_redactor_masks_secrets_in_every_form():
    redact = Redactor()
    redact.add(["mD4rd.Nc5JINX/jvY", "x9xx99xx99xxxx99"])
    line = ("GET /calls?clientApiId=mD4rd.Nc5JINX%2FjvY&dateFrom=1 "
            "https://ckct.ru/api/?json/v3/x9xx99xx99xxxx99/call/get/0 "
            '{"access_token": "abc123secret", "password": "hunter2"} access_token=zzz')
    masked = redact(line)
    for secret in ("mD4rd", "x9xx99xx99xxxx99", "abc123secret", "hunter2", "zzz"):
        assert secret not in masked
    assert "dateFrom=1" in masked


def test_redacting_stream_masks_whole_lines():
    redact = Redactor()
    redact.add(["TOPSECRET"])
    out = io.StringIO()
    stream = RedactingStream(out, redact)
    stream.write("part TOP")
    stream.write("SECRET end\n")
    stream.flush()
    assert out.getvalue() == "part *** end\n"


# --- unified helpers ----------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("8 (916) 123-45-67", "79161234567"), ("+7 916 123 45 67", "79161234567"),
    ("9161234567", "79161234567"), ("74951234567", "74951234567"), ("", None), (None, None),
])
def test_phones_become_e164_digits(raw, expected):
    assert phone(raw) == expected


@pytest.mark.parametrize("placeholder", ["<не указано>", "(not set)", "-", "", "  "])
def test_placeholders_become_null(placeholder):
    assert clean(placeholder) is None
    assert clean("(direct)") == "(direct)"


def test_the_pacer_spaces_requests_by_when_they_really_left():
    """Each request goes at least an interval after the previous one actually went, from
    any thread; one that was held up delays the next instead of letting it crowd in."""
    pacer = Pacer(requests_per_second=20)  # 52 ms with the margin
    left: list[float] = []
    lock = threading.Lock()

    def request(delay_after: float) -> None:
        pacer.wait()
        with lock:
            left.append(time.monotonic())
        time.sleep(delay_after)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(request, [0.0] * 12))
    gaps = [b - a for a, b in itertools.pairwise(sorted(left))]
    assert min(gaps) >= pacer.interval * 0.98, gaps
    time.sleep(pacer.interval * 3)  # idle, then two at once: still an interval apart
    pacer.wait()
    first = time.monotonic()
    pacer.wait()
    assert time.monotonic() - first >= pacer.interval * 0.98

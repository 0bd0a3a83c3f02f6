"""Item 5: what the vendor controls is bounded: page counts, lying totals, waits, sizes."""

from __future__ import annotations

from collections import Counter

import pytest
import requests
from fake_server import FakeVendor, Reply, Request
from hostile_world import World, calltouch_call, comagic_token, config, error_lines
from support import run_tap

from tap_calltrack.base import MAX_PAGES_PER_WINDOW, Page, PaginatorWalk
from tap_calltrack.callkeeper.client import CallkeeperPaginator
from tap_calltrack.comagic.client import MAX_OFFSET, ReportPage, ReportWalk
from tap_calltrack.http import ApiSession, LimitExceeded
from tap_calltrack.windows import Window


def envelope(site: int, day: str, page: int, total: float, rows: int = 1) -> Reply:
    return Reply(json={"page": page, "pageTotal": total, "records": [
        {**calltouch_call(site, day), "callId": site * 10**6 + page * 100 + i}
        for i in range(rows)]})


@pytest.mark.e2e
def test_a_huge_or_lying_page_total_costs_a_bounded_number_of_requests(tmp_path):
    def lying(request: Request, kind: str) -> Reply | None:
        page = int(request.param("page") or 1)
        day = request.param("dateFrom") or ""
        if kind == "calltouch_calls" and "/41100/" in request.path:
            return envelope(41100, day, page, 1e9 if page == 1 else 1)  # 1e9: not an int
        if kind == "calltouch_calls" and "/52210/" in request.path:
            return envelope(52210, day, page, 10**9)  # a billion pages, every one full
        if kind == "calltouch_orders":  # says 50 pages; rows end after page 2
            return Reply(json={"page": page, "pageTotal": 50, "records": [
                {"orderNumber": f"{day}-{page}", "orderDate": f"{day} 10:00:00"}]
                if page <= 2 else []})
        return None

    with FakeVendor(World(lying)) as fake:
        run = run_tap(config(fake, comagic=None, callkeeper=None), tmp_path, timeout=120,
                      streams={"calltouch_calls", "calltouch_orders"})
        per_kind = Counter(World.kind(r) for r in fake.requests)
    assert run.returncode == 1, run.stderr[-3000:]
    assert "MemoryError" not in run.stderr and "Traceback" not in run.stderr
    line = error_lines(run.stderr, "calltouch_calls [site52210]", "stopped for")
    assert len(line) == 1 and f"more than the {MAX_PAGES_PER_WINDOW}" in line[0], line
    assert error_lines(run.stderr, "calltouch_calls [site41100]", "stopped for")
    assert per_kind["calltouch_calls"] < 30
    # the orders' lying total: stops at the first empty page, every real row arrives
    assert len(run.records["calltouch_orders"]) == 2 * 2 * 3
    assert per_kind["calltouch_orders"] < 2 * 3 * 15  # not 50 pages a window


@pytest.mark.e2e
def test_waits_above_max_wait_seconds_fail_the_stream_instead_of_sleeping(tmp_path):
    def slow_down(request: Request, kind: str) -> Reply | None:
        if kind == "callkeeper_calls" and "ck1ck1" in next(iter(request.query), ""):
            return Reply(status=429, headers={"Retry-After": "99999"})
        if kind == "comagic get.goals_report" and comagic_token(request) == "cm-token-b":
            reply = World().comagic(request, kind)
            reply.json["result"]["metadata"]["limits"].update(minute_remaining=0,
                                                              minute_reset=99999999)
            return reply
        return None

    with FakeVendor(World(slow_down)) as fake:
        run = run_tap(config(fake, calltouch=None, max_wait_seconds=100), tmp_path,
                      timeout=120, streams={"callkeeper_calls", "comagic_goals"})
    assert run.returncode == 1, run.stderr[-3000:]
    ck = error_lines(run.stderr, "callkeeper_calls [ck0]", "stopped for")
    assert len(ck) == 1 and "99999 s" in ck[0] and "max_wait_seconds (100 s)" in ck[0], ck
    cm = error_lines(run.stderr, "comagic_goals [Beta]", "stopped for")
    assert len(cm) == 1 and "max_wait_seconds" in cm[0], cm
    assert {r["account"] for r in run.records["callkeeper_calls"]} == {"ck1"}
    assert {r["account"] for r in run.records["comagic_goals"]} == {"Alpha"}


@pytest.mark.e2e
def test_bodies_above_the_cap_are_refused_while_streaming():
    big = b"[" + b'{"a": 1},' * 20_000 + b'{"a": 1}]'

    def respond(request: Request) -> Reply:
        if request.path == "/chunked":
            return Reply(chunks=[big[i:i + 4096] for i in range(0, len(big), 4096)])
        return Reply(body=big)

    session = ApiSession()
    session.max_body_bytes = 50_000
    with FakeVendor(respond) as fake:
        for path in ("/chunked", "/sized"):
            with pytest.raises(LimitExceeded, match="more than the 50000"):
                session.get(fake.url + path, timeout=5)
        session.max_body_bytes = len(big)
        assert session.get(fake.url + "/chunked", timeout=5).content == big


def full_page(page: int) -> Page:
    response = requests.Response()
    response.calltrack_answer = type("A", (), {"end": None, "rows": [{}] * 1000})()
    return Page(response, None, [{}] * 1000)


def test_always_full_pages_stop_at_the_page_cap():
    walk = PaginatorWalk(CallkeeperPaginator(), max_pages=5)
    token = walk.first()
    with pytest.raises(LimitExceeded, match="still full after 5 pages"):
        for _ in range(10):
            token = walk.following(token, full_page(token))
    assert token == 4


def test_comagic_full_pages_without_a_total_stop_at_the_largest_offset():
    part = Window.__new__(Window)
    walk = ReportWalk()
    page = ReportPage(requests.Response(), None, [{}] * 10_000, part, total=None,
                      limit=10_000, offset=MAX_OFFSET - 10_000)
    walk.plan = [page]
    assert walk.following(None, page).offset == MAX_OFFSET
    page.offset = MAX_OFFSET
    with pytest.raises(LimitExceeded, match="offset 100000"):
        walk.following(None, page)


def test_planned_pages_are_taken_lazily_and_an_empty_one_ends_the_window():
    from concurrent.futures import Future

    from tap_calltrack.prefetch import OrderedPrefetcher

    fetched: list[tuple[str, int]] = []

    class HugePlan:
        stop_on_empty = True

        def first(self) -> int:
            return 1

        def remaining(self, first_page: Page) -> range:
            return range(2, 10**12)  # never listed: a list of it would not fit in memory

        def following(self, token: int, page: Page) -> None:
            return None

    def fetch(window: str, token: int) -> Page:
        fetched.append((window, token))
        rows = [{}] if token <= 5 else []
        return Page(requests.Response(), None, rows)

    def submit(fn, *args) -> Future:
        future: Future = Future()
        future.set_result(fn(*args))
        return future

    prefetcher = OrderedPrefetcher(fetch, submit, lambda window: HugePlan(), ahead=3)
    out = [(window, len(page.records), done) for window, page, done in
           prefetcher.run(["w1", "w2"])]
    assert [row for row in out if row[0] == "w1"][-1][2] is True
    assert sum(rows for window, rows, _ in out if window == "w1") == 5
    assert len([f for f in fetched if f[0] == "w1"]) <= 6 + 3  # pages 1-6, then what was queued

"""Item 3: 429 and 5xx are retried for every vendor whatever the body (JSON, JSON with an
``error`` key, HTML, empty); only then does the vendor's body decide."""

from __future__ import annotations

from collections import Counter

import pytest
from fake_server import FakeVendor, Reply, Request
from hostile_world import World, config, error_lines, rpc_error
from support import run_tap

pytestmark = pytest.mark.e2e

HTML = {"Content-Type": "text/html"}
FIRST_FAILURES = {
    # Comagic: a JSON body with an "error" key is not a JSON-RPC verdict at 500/429
    "comagic get.calls_report": Reply(status=500, json={"error": {"code": -32000,
                                                                  "message": "oops"}}),
    "comagic get.sites": Reply(status=429, json={"error": "Too Many Requests"},
                               headers={"Retry-After": "0"}),
    "comagic get.goals_report": rpc_error("internal_error", "Internal error", -32603,
                                          status=502),
    "calltouch_by_date": Reply(status=503, body="<html>Service Unavailable</html>",
                               headers=HTML),
    "calltouch_keywords": Reply(status=503, body="<html>Service Unavailable</html>",
                                headers=HTML),
    "calltouch_calls": Reply(status=504),
    "calltouch_requests": Reply(status=500, json={"status": 500, "error": "Internal"}),
    "callkeeper_calls": Reply(status=502),
}


def test_retryable_statuses_are_retried_whatever_the_body(tmp_path):
    seen: Counter[str] = Counter()

    def fail_first(request: Request, kind: str) -> Reply | None:
        seen[kind] += 1
        return FIRST_FAILURES.get(kind) if seen[kind] <= 2 else None

    with FakeVendor(World(fail_first)) as fake:
        run = run_tap(config(fake), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    counts = {stream: len(rows) for stream, rows in run.records.items()}
    for stream in ("comagic_calls", "comagic_goals", "calltouch_calls", "calltouch_requests",
                   "callkeeper_calls"):
        assert counts[stream] == 6, (stream, counts)
    assert counts["comagic_sites"] == 2
    assert counts["calltouch_daily_stats"] == 12 and counts["calltouch_keyword_stats"] == 12
    assert "skipping" not in run.stderr
    assert run.stderr.count("retry 1 of 2") >= len(FIRST_FAILURES)


def test_after_the_last_try_the_vendor_body_decides(tmp_path):
    """Statistics answering 503 HTML on every try fail the stream (they are not "not
    available"); a 429 whose JSON-RPC body says the day quota is spent stops Comagic."""
    def always(request: Request, kind: str) -> Reply | None:
        if kind == "calltouch_by_date" and "/41100/" in request.path:
            return Reply(status=503, body="<html>Service Unavailable</html>", headers=HTML)
        if kind == "comagic get.calls_report":
            return rpc_error("limit_exceeded", "Limit per day has been exceeded", -32029,
                             status=429)
        return None

    with FakeVendor(World(always)) as fake:
        run = run_tap(config(fake, callkeeper=None), tmp_path,
                      streams={"calltouch_daily_stats", "calltouch_keyword_stats",
                               "comagic_calls", "comagic_goals"})
    assert run.returncode == 1, run.stderr[-3000:]
    lines = error_lines(run.stderr, "calltouch_daily_stats [site41100]", "stopped for")
    assert len(lines) == 1 and "gave up after 3 tries" in lines[0], lines
    assert "skipping" not in run.stderr
    assert {r["site_id"] for r in run.records["calltouch_daily_stats"]} == {52210}
    assert len(run.records["calltouch_keyword_stats"]) == 12
    assert error_lines(run.stderr, "comagic: quota spent")
    assert "comagic_calls" not in run.records

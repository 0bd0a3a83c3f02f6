"""Item 4: answers of the wrong shape are retried, then fail their stream for their
account: never "no rows" with the bookmark moved past the window."""

from __future__ import annotations

from collections import Counter

import pytest
from fake_server import FakeVendor, Reply, Request
from hostile_world import World, bookmark, comagic_token, config, error_lines, rpc_result
from support import run_tap

pytestmark = pytest.mark.e2e


def wrong_shapes(request: Request, kind: str) -> Reply | None:
    if kind == "calltouch_calls" and "/52210/" in request.path:
        return Reply(json={"data": [], "status": "ok"})  # an object, not the envelope
    if kind == "calltouch_orders" and "/41100/" in request.path:
        return Reply(json={"page": 1, "pageTotal": "3", "records": []})  # a string counter
    if kind == "calltouch_requests" and request.param("siteId") == "41100":
        return Reply(json={"records": []})  # leads are a bare array
    if kind == "comagic get.goals_report" and comagic_token(request) == "cm-token-b":
        return rpc_result(None, 5)  # data null while total_items says 5
    if kind == "callkeeper_calls" and "ck2ck2" in next(iter(request.query), ""):
        return Reply(json={"status": "ok"})
    return None


FAILED = [
    ("calltouch_calls", "site52210", {"site_id": 52210}),
    ("calltouch_orders", "site41100", {"site_id": 41100}),
    ("calltouch_requests", "site41100", {"site_id": 41100}),
    ("comagic_goals", "Beta", {"account": "Beta"}),
    ("callkeeper_calls", "ck1", {"account": "ck1"}),
]


def test_wrong_shapes_fail_their_stream_and_keep_its_bookmark(tmp_path):
    seen: Counter[str] = Counter()

    def count(request: Request, kind: str) -> Reply | None:
        reply = wrong_shapes(request, kind)
        if reply is not None:
            seen[kind] += 1
        return reply

    streams = {"calltouch_calls", "calltouch_orders", "calltouch_requests", "comagic_goals",
               "comagic_chats", "callkeeper_calls"}
    with FakeVendor(World(count)) as fake:
        run = run_tap(config(fake), tmp_path, streams=streams)
    assert run.returncode == 1, run.stderr[-3000:]
    for stream, label, context in FAILED:
        lines = error_lines(run.stderr, f"{stream} [{label}]", "stopped for")
        assert len(lines) == 1 and "gave up after 3 tries" in lines[0], (stream, lines)
        assert bookmark(run.final_state, stream, context) is None, stream
    assert all(count >= 3 for count in seen.values()), seen  # retried as protocol errors
    assert {r["site_id"] for r in run.records["calltouch_calls"]} == {41100}
    assert {r["site_id"] for r in run.records["calltouch_orders"]} == {52210}
    assert {r["account"] for r in run.records["comagic_goals"]} == {"Alpha"}
    assert len(run.records["comagic_chats"]) == 6
    assert {r["account"] for r in run.records["callkeeper_calls"]} == {"ck0"}
    summary = error_lines(run.stderr, "run incomplete")
    assert summary and "5 stream(s) failed" in summary[0], summary

"""Item 7: no API call follows a redirect, for any vendor; the redirect is an error naming
the vendor and account, not retried, and the other streams go on."""

from __future__ import annotations

import pytest
from fake_server import FakeVendor, Reply, Request, redirect
from hostile_world import World, comagic_token, config, error_lines
from support import run_tap

pytestmark = pytest.mark.e2e


def test_api_calls_answered_with_a_redirect_send_nothing_elsewhere(tmp_path):
    with FakeVendor(lambda request: Reply(json={"stolen": True})) as elsewhere:
        target = f"{elsewhere.url}/collect"

        def redirected(request: Request, kind: str) -> Reply | None:
            if kind == "comagic get.calls_report" and comagic_token(request) == "cm-token-a":
                return redirect(target, 307)  # would re-POST the access_token
            if kind == "comagic get.account" and comagic_token(request) == "cm-token-b":
                return redirect(target, 308)
            if kind == "calltouch_calls" and "/41100/" in request.path:
                return redirect(target + "?clientApiId=x", 302)
            if kind == "callkeeper_calls" and "ck1ck1" in next(iter(request.query), ""):
                return redirect(target, 301)
            return None

        with FakeVendor(World(redirected)) as fake:
            run = run_tap(config(fake), tmp_path,
                          streams={"comagic_calls", "comagic_goals", "calltouch_calls",
                                   "calltouch_orders", "callkeeper_calls"})
            kinds = [World.kind(r) for r in fake.requests]
        assert elsewhere.requests == []

    assert run.returncode == 1, run.stderr[-3000:]
    for who in ("comagic comagic_calls [Alpha]", "calltouch calltouch_calls [site41100]",
                "callkeeper callkeeper_calls [ck0]"):
        lines = error_lines(run.stderr, who, "redirect")
        assert len(lines) == 1, (who, lines)
    assert error_lines(run.stderr, "comagic account 'Beta' stopped", "redirect")
    assert "retry" not in run.stderr  # a redirect is never retried
    assert kinds.count("comagic get.account") == 2  # one per account
    assert {r["account"] for r in run.records["comagic_goals"]} == {"Alpha"}
    assert {r["site_id"] for r in run.records["calltouch_calls"]} == {52210}
    assert len(run.records["calltouch_orders"]) == 6
    assert {r["account"] for r in run.records["callkeeper_calls"]} == {"ck1"}

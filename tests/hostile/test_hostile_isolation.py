"""Item 1: one stream of one account fails alone; everything else goes on; a re-run with
the STATE fetches the failed part."""

from __future__ import annotations

import pytest
from fake_server import FakeVendor, Reply, Request
from hostile_world import World, bookmark, comagic_token, config, error_lines, rpc_error
from support import run_tap

pytestmark = pytest.mark.e2e

EVERY_STREAM = {
    "calltouch_calls", "calltouch_requests", "calltouch_orders", "calltouch_daily_stats",
    "calltouch_keyword_stats", "comagic_account", "comagic_sites", "comagic_calls",
    "comagic_call_legs", "comagic_communications", "comagic_goals", "comagic_offline_messages",
    "comagic_chats", "callkeeper_calls", "calls",
}
END_OF_FIRST_WINDOW = "2024-01-02T21:00:00+00:00"  # 2024-01-03 00:00 Moscow
END = "2024-01-06T21:00:00+00:00"


def refuse_beta_calls_after_the_first_window(request: Request, kind: str) -> Reply | None:
    if kind == "comagic get.calls_report" and comagic_token(request) == "cm-token-b":
        since = request.json()["params"]["date_from"]
        if not since.startswith("2024-01-01"):
            return rpc_error("invalid_parameter_value", "The report refuses this request")
    return None


def beta_calls(records: dict) -> list[dict]:
    return [r for r in records["comagic_calls"] if r["account"] == "Beta"]


def test_one_comagic_report_failing_for_one_account_costs_nothing_else(tmp_path):
    with FakeVendor(World(refuse_beta_calls_after_the_first_window)) as fake:
        cfg = config(fake)
        run = run_tap(cfg, tmp_path / "first")

        assert run.returncode == 1, run.stderr[-3000:]
        assert set(run.records) >= EVERY_STREAM, EVERY_STREAM - set(run.records)
        assert len([r for r in run.records["comagic_calls"] if r["account"] == "Alpha"]) == 3
        assert len(beta_calls(run.records)) == 1
        assert len(run.records["callkeeper_calls"]) == 6
        assert len(run.records["calls"]) == 3 * 6 - 2  # Beta's last two windows are missing

        lines = error_lines(run.stderr, "comagic comagic_calls [Beta]", "stopped for")
        assert len(lines) == 1, lines
        assert "window 2024-01-03" in lines[0] and "invalid_parameter_value" in lines[0]
        summary = error_lines(run.stderr, "run incomplete")
        assert len(summary) == 1 and "comagic comagic_calls [Beta]" in summary[0], summary
        assert "Traceback" not in run.stderr

        state = run.final_state
        assert bookmark(state, "comagic_calls", {"account": "Beta"}) == END_OF_FIRST_WINDOW
        assert bookmark(state, "calls", {"vendor": "comagic", "account": "Beta"}) == \
            END_OF_FIRST_WINDOW
        assert bookmark(state, "comagic_calls", {"account": "Alpha"}) == END
        assert bookmark(state, "comagic_chats", {"account": "Beta"}) == END

        fake.respond = World()  # the vendor is fine again
        again = run_tap(cfg, tmp_path / "second", state=state)
        assert again.returncode == 0, again.stderr[-3000:]
        assert sorted(r["start_time"][:10] for r in beta_calls(again.records)) == \
            ["2024-01-03", "2024-01-05"]
        assert bookmark(again.final_state, "comagic_calls", {"account": "Beta"}) == END
        assert bookmark(again.final_state, "calls", {"vendor": "comagic", "account": "Beta"}) \
            == END


def test_a_fetch_failing_under_the_unified_stream_is_the_calls_streams_failure(tmp_path):
    """Whichever participant drives the calls fetch, the failure is reported once, under
    the vendor calls stream, and no participant's bookmark moves past the failed window."""
    def fail_site_b_second_window(request: Request, kind: str) -> Reply | None:
        if kind == "calltouch_calls" and "/52210/" in request.path and \
                request.param("dateFrom") == "03/01/2024":
            return Reply(status=400, json={"status": 400, "message": "bad request"})
        return None

    with FakeVendor(World(fail_site_b_second_window)) as fake:
        run = run_tap(config(fake, comagic=None, callkeeper=None), tmp_path,
                      streams={"calls", "calltouch_calls", "calltouch_orders"})
    assert run.returncode == 1, run.stderr[-3000:]
    lines = error_lines(run.stderr, "[site52210]", "stopped for")
    assert len(lines) == 1 and "calltouch calltouch_calls [site52210]" in lines[0], lines
    for stream, context in (("calltouch_calls", {"site_id": 52210}),
                            ("calls", {"vendor": "calltouch", "account": "site52210"})):
        assert bookmark(run.final_state, stream, context) == END_OF_FIRST_WINDOW
    assert bookmark(run.final_state, "calltouch_calls", {"site_id": 41100}) == END
    assert len(run.records["calltouch_orders"]) == 6

"""Accounts ahead: the next accounts' first pages are fetched while one account is read."""

from __future__ import annotations

from concurrent.futures import Future

import pytest
from support import assert_unique_keys, run_tap

from tap_calltrack.lookahead import Lookahead, page_key


def done(value: object) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def test_sends_each_key_once_within_the_bound_and_hands_it_over():
    sent = []
    lookahead = Lookahead(lambda fetch: sent.append(fetch) or done(fetch()), depth=2)
    for position, key in enumerate(["a", "b", "c"], start=1):
        lookahead.send(key, position, lambda key=key: key.upper())
    lookahead.send("a", 1, lambda: "again")
    assert len(sent) == 2 and lookahead.full
    assert lookahead.take("a").result() == "A"
    assert lookahead.take("a") is None
    lookahead.drop_before(3)  # "b" was never claimed: dropped, a slot again
    assert not lookahead.full and lookahead.take("b") is None


def test_page_key_refuses_what_cannot_be_a_key():
    assert page_key({"site_id": 1}, "w", 1) == ((("site_id", 1),), "w", 1)
    assert page_key({"site_id": 1}, "w", {"offset": 0}) is None


@pytest.mark.e2e
@pytest.mark.parametrize("streams", [{"calltouch_calls"}, {"calltouch_calls", "calls"},
                                     {"callkeeper_calls"}, {"calltouch_requests"},
                                     {"comagic_calls"}, {"comagic_calls", "calls"},
                                     {"comagic_communications"}])
def test_small_accounts_are_fetched_together_each_page_once(start_sandbox, tmp_path, streams):
    sandbox = start_sandbox("--accounts", "8", "--records", "100", "--latency-ms", "200")
    vendors = {stream.split("_")[0] for stream in streams if "_" in stream}
    config = sandbox.config(end_date="2024-01-07", lookback_days=0,
                            **{v: None for v in ("calltouch", "comagic", "callkeeper")
                               if v not in vendors})
    alone = run_tap({**config, **{v: {**config[v], "max_concurrent_requests": 1}
                                  for v in vendors}}, tmp_path / "alone", streams=streams)
    assert alone.returncode == 0, alone.stderr[-2000:]
    requests_alone = sandbox.stats()["requests"]
    sandbox.reset()
    together = run_tap(config, tmp_path / "together", streams=streams)
    assert together.returncode == 0, together.stderr[-2000:]
    stats = sandbox.stats()
    assert stats["requests"] == requests_alone  # nothing fetched twice or for nothing
    assert stats["max_in_flight"] > 1  # accounts overlapped
    assert together.records == alone.records  # same records, same order
    assert together.final_state == alone.final_state
    assert_unique_keys(together)

"""SIGTERM / SIGINT stop a run promptly, even while a worker sleeps in a backoff, with the
STATE of the last complete window and exit 143 / 130."""

from __future__ import annotations

import signal
import time

import pytest
from fake_server import FakeVendor, Reply, Request
from input_fakes import (
    TOKEN,
    TapProcess,
    calls_only,
    calls_page,
    calltouch_call,
    calltouch_config,
    catalog_selecting,
)
from support import write_json

pytestmark = pytest.mark.e2e


def first_window_then_503(request: Request) -> Reply:
    """The first week answers; the second answers 503, Retry-After: 30 (a long backoff)."""
    if request.param("dateFrom") == "01/01/2024":
        return calls_page([calltouch_call(1, "02/01/2024"), calltouch_call(2, "03/01/2024")])
    return Reply(status=503, headers={"Retry-After": "30"}, body=b"busy")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_a_backoff_ends_the_run_with_the_last_complete_state(
        tmp_path, signum, code):
    with FakeVendor(calls_only(first_window_then_503)) as fake:
        config = calltouch_config(fake.url)
        catalog = catalog_selecting(config, tmp_path, {"calltouch_calls"})
        tap = TapProcess(["--config", str(write_json(tmp_path / "config.json", config)),
                          "--catalog", str(catalog)])
        try:
            assert tap.wait_for_state(60), tap.stderr
            deadline = time.monotonic() + 30
            while not any(r.param("dateFrom") == "08/01/2024" for r in fake.requests):
                assert time.monotonic() < deadline, "the second window was never asked"
                time.sleep(0.1)
            time.sleep(0.5)  # the worker is now in its 30 s Retry-After sleep
            complete = tap.states()[-1]
            tap.process.send_signal(signum)
            returncode = tap.finish(timeout=10)  # the bound of the brief, not a measurement
        finally:
            if tap.process.poll() is None:
                tap.process.kill()
    assert returncode == code, tap.stderr.decode()[-2000:]
    messages = tap.messages()  # every line parses
    assert messages[-1]["type"] == "STATE"
    assert messages[-1]["value"] == complete
    bookmark = complete["bookmarks"]["calltouch_calls"]["partitions"][0]
    assert bookmark["replication_key_value"] == "2024-01-07T21:00:00+00:00"
    records = [m["record"]["callId"] for m in messages if m["type"] == "RECORD"]
    assert records == [1, 2]
    stderr = tap.stderr.decode()
    name = signal.Signals(signum).name
    assert f"stopped by {name}" in stderr
    assert "Traceback" not in stderr
    assert TOKEN not in stderr


def test_a_signal_before_any_window_completes_keeps_the_input_state(tmp_path):
    """Nothing completed: the final STATE is the state the run was given, unchanged."""
    given = {"bookmarks": {"calltouch_calls": {"partitions": [
        {"context": {"site_id": 41100}, "replication_key": "date_utc",
         "replication_key_value": "2023-12-31T21:00:00+00:00"}]}}}

    def always_503(request: Request) -> Reply:
        return Reply(status=503, headers={"Retry-After": "30"}, body=b"busy")

    with FakeVendor(calls_only(always_503)) as fake:
        config = calltouch_config(fake.url, lookback_days=0)
        catalog = catalog_selecting(config, tmp_path, {"calltouch_calls"})
        tap = TapProcess(["--config", str(write_json(tmp_path / "config.json", config)),
                          "--catalog", str(catalog),
                          "--state", str(write_json(tmp_path / "state.json", given))])
        try:
            deadline = time.monotonic() + 60
            while not fake.requests:
                assert time.monotonic() < deadline, "no request was made"
                time.sleep(0.1)
            time.sleep(0.5)
            tap.process.send_signal(signal.SIGTERM)
            returncode = tap.finish(timeout=10)
        finally:
            if tap.process.poll() is None:
                tap.process.kill()
    assert returncode == 143, tap.stderr.decode()[-2000:]
    states = tap.states()
    assert states, tap.stderr.decode()
    final = states[-1]["bookmarks"]["calltouch_calls"]["partitions"][0]
    assert final["replication_key_value"] == "2023-12-31T21:00:00+00:00"
    assert not any(m["type"] == "RECORD" for m in tap.messages())


def test_a_signal_during_a_comagic_quota_wait_ends_the_run_promptly(sandbox, tmp_path):
    """The first window's answer says the minute budget is spent for 40 s: every later
    request of the vendor waits (VendorHttp.hold) — and SIGTERM still ends the run."""
    import requests as http

    def respond(request: Request) -> Reply:
        answer = http.post(sandbox.url + request.path, data=request.body,
                           headers={"Content-Type": "application/json"}, timeout=30)
        payload = answer.json()
        params = (request.json() or {}).get("params") or {}
        if str(params.get("date_from", "")).startswith("2024-01-01"):
            metadata = (payload.get("result") or {}).setdefault("metadata", {})
            metadata["limits"] = {"minute_limit": 100, "minute_remaining": 0,
                                  "minute_reset": 40, "day_limit": 10000,
                                  "day_remaining": 9000, "day_reset": 3600}
        return Reply(status=answer.status_code, json=payload)

    config = sandbox.config(start_date="2024-01-01", end_date="2024-01-21", lookback_days=0)
    comagic = config["comagic"]
    comagic["accounts"] = [a for a in comagic["accounts"] if "access_token" in a][:1]
    comagic["max_concurrent_requests"] = 1
    config = {key: config[key] for key in ("start_date", "end_date", "lookback_days")}
    with FakeVendor(respond) as fake:
        comagic["api_url"] = comagic["api_url"].replace(sandbox.url, fake.url)
        config["comagic"] = comagic
        catalog = catalog_selecting(config, tmp_path, {"comagic_calls"})
        tap = TapProcess(["--config", str(write_json(tmp_path / "config.json", config)),
                          "--catalog", str(catalog)])
        try:
            deadline = time.monotonic() + 60
            while "pausing requests" not in tap.stderr_so_far():
                assert time.monotonic() < deadline and tap.process.poll() is None, \
                    tap.stderr_so_far()[-3000:]
                time.sleep(0.1)
            time.sleep(1.0)
            states = tap.states()
            tap.process.send_signal(signal.SIGTERM)
            returncode = tap.finish(timeout=10)
        finally:
            if tap.process.poll() is None:
                tap.process.kill()
    assert returncode == 143, tap.stderr.decode()[-3000:]
    assert states, "the first window completed before the wait"
    assert tap.messages()[-1] == {"type": "STATE", "value": states[-1]}
    partitions = states[-1]["bookmarks"]["comagic_calls"]["partitions"]
    assert [p["replication_key_value"] for p in partitions] == ["2024-01-07T21:00:00+00:00"]
    assert "stopped by SIGTERM" in tap.stderr.decode()


def test_a_failed_run_ends_without_waiting_for_a_worker_in_a_backoff(tmp_path):
    """The first window fails for good (HTTP 400) while the next one sleeps in a 30 s
    Retry-After: the process ends with the failure, not after the sleeps (6 x 30 s)."""

    def respond(request: Request) -> Reply:
        if request.param("dateFrom") == "01/01/2024":
            return Reply(status=400, json={"message": "bad request"}, delay=0.5)
        return Reply(status=503, headers={"Retry-After": "30"}, body=b"busy")

    with FakeVendor(calls_only(respond)) as fake:
        config = calltouch_config(fake.url)
        catalog = catalog_selecting(config, tmp_path, {"calltouch_calls"})
        tap = TapProcess(["--config", str(write_json(tmp_path / "config.json", config)),
                          "--catalog", str(catalog)])
        try:
            returncode = tap.finish(timeout=25)  # far below the sleeps it must not wait for
        finally:
            if tap.process.poll() is None:
                tap.process.kill()
    assert returncode == 1, tap.stderr.decode()[-3000:]
    assert "Traceback" not in tap.stderr.decode()

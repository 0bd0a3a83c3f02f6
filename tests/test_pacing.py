"""Pacing as the vendor sees it: a request waiting for its slot may wake late on a busy
machine; the next slot must then count from when the late one really left, never from when
it was planned (the vendor counts arrivals: two requests closer than the interval make a
sixth within a second, a 429). Only lower bounds on gaps: a slow machine cannot fail them."""

from __future__ import annotations

import itertools
import threading
import time

import pyrate_limiter.limiter
import requests

from tap_calltrack.http import VendorHttp, limiter_rate
from tap_calltrack.settings import VendorLimits

RATE = 5.0
LATE = 0.06  # every other sleep of a waiter overruns this long, as on a loaded machine


def ok(session: requests.Session) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    return response


def sent_times(http: VendorHttp, requests_count: int, workers: int) -> list[float]:
    sent: list[float] = []
    lock = threading.Lock()

    def send(session: requests.Session) -> requests.Response:
        with lock:
            sent.append(time.monotonic())
        return ok(session)

    threads = [threading.Thread(target=lambda: [http.call(send, lambda r: None, "test")
                                                for _ in range(requests_count // workers)])
               for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(sent)


def test_a_late_waker_does_not_bring_the_next_request_closer(monkeypatch):
    real_sleep = time.sleep
    sleeps = iter(range(1_000_000))

    def late_sleep(seconds: float) -> None:
        real_sleep(seconds + (LATE if next(sleeps) % 2 else 0.0))

    monkeypatch.setattr(time, "sleep", late_sleep)
    monkeypatch.setattr(pyrate_limiter.limiter, "sleep", late_sleep)
    http = VendorHttp("test", VendorLimits(RATE, 3, 1, 5), "ua")
    interval = limiter_rate(RATE).interval / 1000
    sent = sent_times(http, requests_count=9, workers=3)
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    # pyrate-limiter counts in whole milliseconds: one of slack
    assert min(gaps) >= interval - 0.001, [round(gap, 3) for gap in gaps]
    # so no five gaps fit in a second: the vendor never sees a sixth request in one
    assert all(sent[i + 5] - sent[i] >= 1.0 for i in range(len(sent) - 5))

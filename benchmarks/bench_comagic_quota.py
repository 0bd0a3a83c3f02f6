"""Comagic: an agency's clients against the account's minute quota.

Comagic budgets requests per account and minute (``metadata.limits``, NOTES 2: points per
minute and day); an agency's clients all spend the agency's budget. The tap reads the
budget from every answer and holds the vendor's requests when it is nearly spent, until the
minute resets. This measures how much of the quota the tap uses and how often the API
refuses it (``limit_exceeded``, -32029) or answers 429.

The sandbox plays one agency with two clients and a minute quota (its "minute" shortened
for the benchmark, the quota a typical tariff's 150 per minute scaled to it). For 20 client
partitions on one budget the agency's token is configured 10 times under 10 names (the
sandbox's agency has two clients, the quota is per agency account either way): 20
partitions of one agency budget, all in flight together within the vendor's limits. The
tap keeps Comagic's default limits (3 requests/s, 3 in flight); answers take 300 ms.

The ceiling is the quota over whole minutes of the run: the requests that arrived in the
first k complete minutes after the first request, over k x the minute limit. Arrival times
are the sandbox's access log, stamped as its lines are read.
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import time

import requests
from common import BIN, tap_command

CLIENTS_PER_AGENCY = 2  # the sandbox's agency account


class LoggedSandbox:
    """``calltrack-sandbox --access-log``; the arrival time of every Comagic API request."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "calltrack-sandbox"), "--port", "0", "--access-log", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        self.url = line.strip().rsplit(" ", 1)[-1]
        self.arrivals: list[float] = []
        threading.Thread(target=self._read_log, daemon=True).start()

    def _read_log(self) -> None:
        for line in self.process.stderr:  # type: ignore[union-attr]
            if "POST /comagic/v2.0" in line:
                self.arrivals.append(time.monotonic())

    def get(self, path: str) -> dict:
        return requests.get(f"{self.url}{path}", timeout=10).json()

    def post(self, path: str, payload: dict | None = None) -> dict:
        return requests.post(f"{self.url}{path}", json=payload, timeout=10).json()

    def __enter__(self) -> LoggedSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def agency_config(sandbox: LoggedSandbox, clients: int, end_date: str) -> dict:
    config = sandbox.get("/_sandbox/config")
    agency = next(account for account in config["comagic"]["accounts"]
                  if account.get("name") == "okna-agency")
    copies = max(1, clients // CLIENTS_PER_AGENCY)
    config["comagic"]["accounts"] = [{**agency, "name": f"agency-{number}"}
                                     for number in range(1, copies + 1)]
    return {"start_date": config["start_date"], "end_date": end_date, "lookback_days": 0,
            "comagic": config["comagic"]}


def achieved(arrivals: list[float], minute_s: float, limit: int) -> tuple[float, int]:
    """(share of the quota used over the run's whole minutes, how many whole minutes)."""
    first = arrivals[0]
    minutes = int((arrivals[-1] - first) // minute_s)
    if minutes == 0:
        raise RuntimeError("the run did not last one whole quota minute: add --days")
    used = sum(1 for moment in arrivals if moment < first + minutes * minute_s)
    return used / (minutes * limit), minutes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--minute-seconds", type=float, default=20.0,
                        help="how long the sandbox's quota minute lasts")
    parser.add_argument("--minute-limit", type=int, default=50,
                        help="requests per quota minute (150/min scaled to the minute)")
    parser.add_argument("--end-date", default="2024-03-24", help="the run reads from Jan 1")
    args = parser.parse_args()
    with LoggedSandbox("--latency-ms", "300") as sandbox:
        sandbox.post("/_sandbox/reset")
        sandbox.post("/comagic/_sandbox/options", {"minute_limit": args.minute_limit,
                                                   "minute_seconds": args.minute_seconds})
        config = agency_config(sandbox, args.clients, args.end_date)
        command = tap_command(config, {"comagic_calls"})
        sandbox.arrivals.clear()  # discovery makes no API request, but to be sure
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        time.sleep(0.5)  # the last log lines
        if result.returncode:
            raise RuntimeError(f"tap-calltrack exited with {result.returncode}: "
                               f"{result.stderr[-1500:]}")
        counts = sandbox.get("/comagic/_sandbox/state")["counts"]
        refused = sandbox.get("/_sandbox/stats").get("429", 0)
        arrivals = list(sandbox.arrivals)
    share, minutes = achieved(arrivals, args.minute_seconds, args.minute_limit)
    limit_errors = counts.get("error_limit_exceeded", 0)
    records = result.stdout.count('"type":"RECORD"')
    partitions = len(config["comagic"]["accounts"]) * CLIENTS_PER_AGENCY
    print(f"{partitions} agency client partitions, quota {args.minute_limit} per "
          f"{args.minute_seconds:g} s minute: {records} records, {len(arrivals)} requests in "
          f"{elapsed:.0f} s; "
          f"over {minutes} whole minutes achieved/ceiling {share:.2f}; limit_exceeded "
          f"answered: {limit_errors}, 429 answered: {refused}")
    print("target: achieved/ceiling >= 0.90 with no limit_exceeded and no 429")


if __name__ == "__main__":
    main()

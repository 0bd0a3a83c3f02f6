"""Peak memory of the tap with 500 accounts, side by side with 50 accounts.

An agency's config may hold hundreds of small accounts. The tap keeps all accounts of a
vendor in flight together, so its memory must be bounded by the in-flight work, not by the
number of accounts: the peak RSS at 500 Calltouch sites (a few calls each) should be close
to the peak at 50. The peak is the kernel's own (``ru_maxrss`` of the tap process, read
with ``os.wait4`` when it ends), so no sampling can miss it. Both runs read the same
sandbox; the ratio is printed with the records and requests of each run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time

from common import Sandbox, tap_command

DAYS = 28


def peak_rss(sandbox: Sandbox, sites: int) -> tuple[float, int, int, float]:
    """(peak RSS in MB, records, requests, seconds) of one run over the first ``sites``."""
    config = sandbox.config(lookback_days=0, end_date=f"2024-01-{DAYS:02d}")
    config = {key: config[key] for key in ("start_date", "end_date", "lookback_days",
                                           "calltouch")}
    config["calltouch"]["sites"] = config["calltouch"]["sites"][:sites]
    config["calltouch"]["max_requests_per_second"] = 1000
    sandbox.reset()
    started = time.perf_counter()
    process = subprocess.Popen(tap_command(config, {"calltouch_calls"}),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    records = sum(1 for line in process.stdout  # type: ignore[union-attr]
                  if line.startswith(b'{"type":"RECORD"'))
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if process.returncode:
        raise RuntimeError(f"tap-calltrack exited with {process.returncode} at {sites} sites")
    return usage.ru_maxrss / 1024, records, sandbox.stats()["requests"], elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--many", type=int, default=500)
    parser.add_argument("--few", type=int, default=50)
    parser.add_argument("--calls-per-site", type=int, default=60,
                        help="calls of each site over the sandbox's 91 days (~20 in the run)")
    args = parser.parse_args()
    with Sandbox("--accounts", str(args.many), "--records", str(args.calls_per_site),
                 "--days", "91") as sandbox:
        figures = {}
        for sites in (args.few, args.many):
            figures[sites] = peak_rss(sandbox, sites)
            rss, records, requests, elapsed = figures[sites]
            print(f"{sites} sites: {records} records, {requests} requests in {elapsed:.0f} s; "
                  f"peak RSS {rss:.1f} MB", flush=True)
    ratio = figures[args.many][0] / figures[args.few][0]
    print(f"peak RSS at {args.many} sites / at {args.few} sites: {ratio:.2f} "
          "(bounded by the work in flight: close to 1)")


if __name__ == "__main__":
    main()

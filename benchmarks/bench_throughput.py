"""Tap records/s vs a plain requests loop over the same pages (no latency), side by side.

Target: the tap is at least 0.8x the loop (SDK defaults measure about 0.3x here).
Both run as processes reading the same sandbox, interleaved and repeated after a warm-up
(so the sandbox's caches favour neither); the median ratio is printed.
"""

from __future__ import annotations

import argparse
import sys

from common import ROOT, Sandbox, median, tap_command, timed, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=60_000, help="calls per site")
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with Sandbox("--records", str(args.records), "--days", str(args.days),
                 "--accounts", "2") as sandbox:
        config = sandbox.config(lookback_days=0)
        config = {key: config[key] for key in ("start_date", "end_date", "lookback_days",
                                               "calltouch")}
        config["calltouch"]["max_requests_per_second"] = 1000
        tap = tap_command(config, {"calltouch_calls"})
        loop = [sys.executable, str(ROOT / "benchmarks" / "plain_loop.py"),
                write_json(config), "7"]
        timed(loop)  # warm-up
        ratios = []
        for attempt in range(1, args.repeat + 1):
            loop_s, loop_lines = timed(loop)
            tap_s, tap_lines = timed(tap)  # RECORD lines dominate: a few dozen are STATE
            ratio = (tap_lines / tap_s) / (loop_lines / loop_s)
            ratios.append(ratio)
            print(f"run {attempt}: plain loop {loop_lines} lines in {loop_s:.2f} s "
                  f"({loop_lines / loop_s:,.0f}/s); tap {tap_lines} lines in {tap_s:.2f} s "
                  f"({tap_lines / tap_s:,.0f}/s); ratio {ratio:.2f}", flush=True)
        print(f"throughput: tap / plain loop records per second, median {median(ratios):.2f} "
              f"(target >= 0.80)")


if __name__ == "__main__":
    main()

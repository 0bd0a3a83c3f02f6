"""Peak memory of the tap while extracting 1,000,000 calls across 10 sites.

Memory must stay flat as records grow: the tap's RSS is sampled while it runs and
printed at each tenth of the records, with the peak and its ratio to the RSS at the
first tenth (flat: close to 1).
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import time
from pathlib import Path

from common import Sandbox, tap_command


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--calls-per-site", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    total = args.sites * args.calls_per_site
    with Sandbox("--accounts", str(args.sites), "--records", str(args.calls_per_site),
                 "--days", str(args.days)) as sandbox:
        config = sandbox.config(lookback_days=0)
        config = {key: config[key] for key in ("start_date", "end_date", "lookback_days",
                                               "calltouch")}
        config["calltouch"]["max_requests_per_second"] = 1000
        process = subprocess.Popen(tap_command(config, {"calltouch_calls"}),
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        samples: list[float] = []
        sampler = threading.Thread(target=sample, args=(process, samples), daemon=True)
        sampler.start()
        records, marks, started = 0, [], time.perf_counter()
        for line in process.stdout:  # type: ignore[union-attr]
            if line.startswith(b'{"type":"RECORD"'):
                records += 1
                if records % max(1, total // 10) == 0:
                    marks.append((records, rss_mb(process.pid)))
        process.wait()
        elapsed = time.perf_counter() - started
    for count, rss in marks:
        print(f"{count:>9,} records: RSS {rss:6.1f} MB")
    peak = max(samples)
    first = marks[0][1] if marks else peak
    print(f"{records:,} records in {elapsed:.0f} s; peak RSS {peak:.1f} MB; "
          f"peak / RSS at the first tenth {peak / first:.2f} (flat: close to 1)")


def sample(process: subprocess.Popen[bytes], samples: list[float]) -> None:
    while process.poll() is None:
        try:
            samples.append(rss_mb(process.pid))
        except (FileNotFoundError, ProcessLookupError):
            return
        time.sleep(0.5)


if __name__ == "__main__":
    main()

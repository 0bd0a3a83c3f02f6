"""Run every benchmark in turn (`make bench`); each prints its own ratios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHMARKS = ("bench_ceiling.py", "bench_accounts.py", "bench_comagic_quota.py",
              "bench_throughput.py", "bench_excel.py", "bench_memory.py", "bench_rss_accounts.py")
for name in BENCHMARKS:
    print(f"== {name}", flush=True)
    subprocess.run([sys.executable, str(HERE / name)], cwd=HERE, check=False)

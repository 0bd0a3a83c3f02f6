"""`make demo`: sandbox up, the Meltano demo pipeline, sandbox down, the workbook's path.

Runs `meltano run tap-calltrack target-calltrack-excel` in the `demo` environment of
meltano.yml, which points the tap at calltrack-sandbox: no credentials, no network.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKBOOK = ROOT / "output" / "calltrack-demo.xlsx"


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    sandbox = Path(sys.executable).parent / "calltrack-sandbox"
    process = subprocess.Popen([str(sandbox), "--port", "0"], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline() if process.stdout else ""
    if "listening on" not in line:
        process.kill()
        sys.exit(f"demo: the sandbox did not start ({line.strip()})")
    return process, line.strip().rsplit(" ", 1)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meltano", default="meltano", help="the meltano executable")
    args = parser.parse_args()
    WORKBOOK.parent.mkdir(exist_ok=True)  # the target writes into an existing folder
    process, url = start_sandbox()
    print(f"demo: calltrack-sandbox at {url}", flush=True)
    env = {**os.environ, "CALLTRACK_SANDBOX_URL": url,
           "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    try:
        result = subprocess.run(
            [args.meltano, "--environment", "demo", "run", "--full-refresh",
             "tap-calltrack", "target-calltrack-excel"], cwd=ROOT, env=env)
    finally:
        process.terminate()
        process.wait(timeout=10)
    if result.returncode != 0 or not WORKBOOK.exists():
        sys.exit(f"demo: the pipeline failed (exit {result.returncode})")
    print(f"demo: workbook written to {WORKBOOK}")


if __name__ == "__main__":
    main()

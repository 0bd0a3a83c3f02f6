"""The README's commands work as written: its Meltano block against the sandbox, and the
Quickstart's `make demo` (its `make test` is the command that runs this very test)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest
from test_meltano import ROOT  # skips this module too when meltano is missing

pytestmark = [pytest.mark.e2e, pytest.mark.meltano]
README = (ROOT / "README.md").read_text()


def block(name: str) -> str:
    match = re.search(rf"<!-- {name}:start -->\n```bash\n(.*?)```\n<!-- {name}:end -->",
                      README, re.S)
    assert match, f"README has no {name} block"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_meltano_block_runs_as_written_against_the_sandbox(tmp_path: Path):
    # Only the sandbox's port changes (8765 may be taken on a shared machine), and Meltano's
    # state goes to a database of the test's own.
    script = block("meltano-sandbox").replace("8765", str(free_port()))
    assert script.count("meltano") >= 5
    result = subprocess.run(
        ["bash", "-e", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
             "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "start_date" in result.stdout  # --about
    state_ids = set(re.findall(r"demo:tap-calltrack-to-[\w-]+", result.stdout))
    assert state_ids == {"demo:tap-calltrack-to-target-jsonl",
                         "demo:tap-calltrack-to-target-calltrack-excel"}, result.stdout
    assert list((ROOT / "output" / "jsonl").glob("calls*.jsonl"))


def test_quickstart_make_demo_ends_with_the_workbook_path():
    # As from a user's shell: not as a sub-make of `make test` (which prints its
    # "Entering/Leaving directory" lines around the output).
    env = {key: value for key, value in os.environ.items()
           if key not in {"MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"}}
    result = subprocess.run(["make", "demo"], cwd=ROOT, capture_output=True, text=True,
                            timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last == f"demo: workbook written to {ROOT / 'output' / 'calltrack-demo.xlsx'}"
    assert (ROOT / "output" / "calltrack-demo.xlsx").stat().st_size > 10_000

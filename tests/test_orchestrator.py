"""The Dagster example: one partition per account, each with its own Meltano state and output."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from test_meltano import MELTANO, ROOT  # skips this module too when meltano is missing

pytestmark = [pytest.mark.e2e, pytest.mark.meltano]


def load_example():
    path = ROOT / "examples" / "dagster" / "calltrack_dagster.py"
    spec = importlib.util.spec_from_file_location("calltrack_dagster", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def jsonl_rows(folder: Path, stream: str) -> list[dict]:
    return [json.loads(line) for path in folder.glob(f"{stream}*.jsonl")
            for line in path.read_text().splitlines() if line.strip()]


def meltano_state(state_id: str, env: dict[str, str]) -> dict:
    result = subprocess.run([MELTANO, "state", "get", state_id], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_two_partitions_have_their_own_state_and_output(sandbox, tmp_path):
    example = load_example()
    sites = sandbox.config()["calltouch"]["sites"]
    accounts = [site["name"] for site in sites]
    env = {"CALLTRACK_SANDBOX_URL": sandbox.url, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
           "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
           # one vendor keeps the test short; the selection is the tap's own setting
           "TAP_CALLTRACK_COMAGIC": "null", "TAP_CALLTRACK_CALLKEEPER": "null",
           "TAP_CALLTRACK_SELECT_FILTER": json.dumps(["calltouch_calls.*"])}

    def output_of(account: str) -> dict[str, str]:
        folder = tmp_path / example.state_id_suffix(account)
        folder.mkdir(exist_ok=True)
        return {"TARGET_JSONL_DESTINATION_PATH": str(folder)}

    project = example.MeltanoProject(root=ROOT, meltano=MELTANO, environment="demo",
                                     loader="target-jsonl", env=env, account_env=output_of)
    asset = example.account_asset(accounts, project)
    instance = dg.DagsterInstance.ephemeral()
    for account in accounts:
        result = dg.materialize([asset], partition_key=account, instance=instance)
        assert result.success

    for site in sites:
        suffix = example.state_id_suffix(site["name"])
        rows = jsonl_rows(tmp_path / suffix, "calltouch_calls")
        assert rows and {row["site_id"] for row in rows} == {site["site_id"]}
        state = meltano_state(project.state_id(site["name"]), {**os.environ, **env})
        partitions = state["singer_state"]["bookmarks"]["calltouch_calls"]["partitions"]
        assert [p["context"] for p in partitions] == [{"site_id": site["site_id"]}]


def test_a_failing_partition_fails_alone_with_the_taps_line(sandbox, tmp_path):
    example = load_example()
    env = {"CALLTRACK_SANDBOX_URL": sandbox.url, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
           "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}"}
    project = example.MeltanoProject(root=ROOT, meltano=MELTANO, environment="demo", env=env)
    asset = example.account_asset(["no-such-client"], project)
    with pytest.raises(dg.Failure, match="only_accounts"):
        dg.materialize([asset], partition_key="no-such-client",
                       instance=dg.DagsterInstance.ephemeral())

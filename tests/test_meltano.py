"""Real Meltano (installed by `make test`) with real loaders, offline against the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from support import console_script

ROOT = Path(__file__).resolve().parent.parent
# A relative CALLTRACK_MELTANO (the Makefile's) is relative to the repository: tests run
# Meltano from other folders too (tests/test_shared_state.py).
MELTANO = str(ROOT / os.environ.get("CALLTRACK_MELTANO", ".venv-meltano/bin/meltano"))

if not Path(MELTANO).exists():
    if os.environ.get("CALLTRACK_REQUIRE_MELTANO"):
        raise RuntimeError(f"meltano is required but missing at {MELTANO}")
    pytest.skip("meltano is not installed (run `make test`)", allow_module_level=True)

pytestmark = [pytest.mark.e2e, pytest.mark.meltano]


def meltano(*args: str, tmp: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MELTANO, *args], cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
             # state of test runs stays out of the project's own system database
             "MELTANO_DATABASE_URI": f"sqlite:///{tmp / 'meltano.db'}", **(env or {})},
    )


def tap_settings() -> dict:
    out = subprocess.run([console_script("tap-calltrack"), "--about", "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["settings"]["properties"]


def test_meltano_yml_declares_every_tap_setting_and_marks_secrets():
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    extractor = project["plugins"]["extractors"][0]
    declared = {s["name"]: s for s in extractor["settings"]}
    expected: dict[str, bool] = {}
    for name, prop in tap_settings().items():
        if name in {"stream_maps", "stream_map_config", "faker_config", "flattening_enabled",
                    "flattening_max_depth", "batch_config"}:
            continue
        if "properties" in prop:
            for sub, sub_prop in prop["properties"].items():
                expected[f"{name}.{sub}"] = '"secret": true' in json.dumps(sub_prop)
        else:
            expected[name] = bool(prop.get("secret"))
    assert set(declared) == set(expected)
    for name, secret in expected.items():
        assert bool(declared[name].get("sensitive")) == secret, name
        assert declared[name].get("description"), name
    assert project["send_anonymous_usage_stats"] is False


def test_meltano_invoke_about_works_offline(tmp_path):
    result = meltano("invoke", "tap-calltrack", "--about", "--format", "json", tmp=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "start_date" in json.loads(result.stdout)["settings"]["properties"]


def test_meltano_run_demo_to_jsonl_and_excel(sandbox, tmp_path):
    env = {"CALLTRACK_SANDBOX_URL": sandbox.url,
           "TARGET_JSONL_DESTINATION_PATH": str(tmp_path / "jsonl"),
           "TARGET_CALLTRACK_EXCEL_OUTPUT_PATH": str(tmp_path / "report.xlsx")}
    (tmp_path / "jsonl").mkdir()
    jsonl = meltano("--environment", "demo", "run", "--full-refresh", "tap-calltrack",
                    "target-jsonl", env=env, tmp=tmp_path)
    assert jsonl.returncode == 0, jsonl.stderr[-3000:]
    files = {path.name.split("-")[0] for path in (tmp_path / "jsonl").glob("*.jsonl")}
    assert {"calltouch_calls", "calltouch_requests", "calltouch_orders", "calls"} <= files
    excel = meltano("--environment", "demo", "run", "--full-refresh", "tap-calltrack",
                    "target-calltrack-excel", env=env, tmp=tmp_path)
    assert excel.returncode == 0, excel.stderr[-3000:]
    from openpyxl import load_workbook

    workbook = load_workbook(tmp_path / "report.xlsx", read_only=True)
    assert "calls" in workbook.sheetnames and "Summary" in workbook.sheetnames

"""Workers on several machines: two shards as two `meltano run` jobs, each with its own state
id, sharing one Meltano system database on a real PostgreSQL server (README: One job per
client or shard). The jobs run at the same time, as separate machines would; the test then
reads Meltano's own `state` table and checks that each state id holds its shard's
partitions only, and that a second run of each shard resumes from its own state.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_meltano import MELTANO, ROOT  # skips this module too when meltano is missing

pytestmark = [pytest.mark.e2e, pytest.mark.meltano]


def meltano_has_psycopg() -> bool:
    python = Path(MELTANO).parent / "python"
    return subprocess.run([str(python), "-c", "import psycopg"], capture_output=True,
                          timeout=60).returncode == 0


if not meltano_has_psycopg():
    if os.environ.get("CALLTRACK_REQUIRE_MELTANO"):
        raise RuntimeError(f"Meltano at {MELTANO} has no PostgreSQL driver: install "
                           "meltano[postgres] (make test does)")
    pytest.skip("Meltano has no PostgreSQL driver (run `make test`)", allow_module_level=True)

SHARDS = ("1/2", "2/2")
SITES = 6
PIPELINE = "demo:tap-calltrack-to-target-jsonl"


def state_id(shard: str) -> str:
    return f"{PIPELINE}:shard-{shard.replace('/', '-of-')}"


def worker_project(folder: Path) -> Path:
    """A machine's copy of the project: its own meltano.yml and run files (catalog, config),
    the plugins `meltano install` built in the clone (so the copy needs no install)."""
    if not (folder / "meltano.yml").exists():
        (folder / ".meltano").mkdir(parents=True)
        shutil.copy(ROOT / "meltano.yml", folder / "meltano.yml")
        for plugins in ("extractors", "loaders"):
            (folder / ".meltano" / plugins).symlink_to(ROOT / ".meltano" / plugins)
    return folder


def start_job(shard: str, env: dict[str, str], output: Path, machine: Path
              ) -> subprocess.Popen:
    """One worker: the shard's `meltano run` with its own state id suffix and output."""
    output.mkdir(parents=True)
    return subprocess.Popen(
        [MELTANO, "--environment", "demo", "run", "--state-id-suffix",
         state_id(shard).rsplit(":", 1)[-1], "tap-calltrack", "target-jsonl"],
        cwd=worker_project(machine), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **env, "TAP_CALLTRACK_SHARD": shard,
             "TARGET_JSONL_DESTINATION_PATH": str(output)})


def run_both(env: dict[str, str], folder: Path) -> None:
    """Both shards at once, each on its own "machine" (project folder)."""
    jobs = {shard: start_job(shard, env, folder / shard.replace("/", "-of-"),
                             folder.parent / f"machine-{number}")
            for number, shard in enumerate(SHARDS, 1)}
    for shard, job in jobs.items():
        _, stderr = job.communicate(timeout=900)
        assert job.returncode == 0, f"shard {shard}: {stderr[-3000:]}"


def records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in folder.glob("calltouch_calls*.jsonl")
            for line in path.read_text().splitlines() if line.strip()]


def stored_states(database: str) -> dict[str, dict[str, Any]]:
    """Meltano's `state` table, read with our own driver: state id -> its singer_state."""
    import psycopg

    with psycopg.connect(database) as connection:
        rows = connection.execute("SELECT state_id, completed_state FROM state").fetchall()
    return {state: (json.loads(value) if isinstance(value, str) else value)["singer_state"]
            for state, value in rows}


def bookmarks(singer_state: dict[str, Any]) -> dict[int, str]:
    """Site id -> the calls bookmark of that site's partition."""
    partitions = singer_state["bookmarks"]["calltouch_calls"]["partitions"]
    return {p["context"]["site_id"]: p["replication_key_value"] for p in partitions}


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_two_shards_share_one_postgresql_system_database(start_sandbox, postgres_server,
                                                         tmp_path):
    sandbox = start_sandbox("--accounts", str(SITES))
    sites = sandbox.config()["calltouch"]["sites"]
    database = postgres_server.create_database("meltano_shared")
    env = {"CALLTRACK_SANDBOX_URL": sandbox.url, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
           # the form the README gives (Meltano's postgres extra brings psycopg 3)
           "MELTANO_DATABASE_URI": database.replace("postgresql://", "postgresql+psycopg://"),
           "TAP_CALLTRACK_CALLTOUCH_SITES": json.dumps(sites),
           "TAP_CALLTRACK_COMAGIC": "null", "TAP_CALLTRACK_CALLKEEPER": "null",
           "TAP_CALLTRACK_SELECT_FILTER": json.dumps(["calltouch_calls.*"])}

    # Workers started together on a fresh database race on its migrations ("Cannot upgrade
    # the system database"): it is created once, before them, as the README says.
    upgrade = subprocess.run([MELTANO, "upgrade", "database"], cwd=ROOT, capture_output=True,
                             text=True, timeout=300, env={**os.environ, **env})
    assert upgrade.returncode == 0, upgrade.stderr[-3000:]
    run_both({**env, "TAP_CALLTRACK_END_DATE": "2024-01-15"}, tmp_path / "first")
    first = stored_states(database)
    assert set(first) == {state_id(shard) for shard in SHARDS}
    owned = {shard: bookmarks(first[state_id(shard)]) for shard in SHARDS}
    assert all(owned.values()), owned  # both shards hold sites (the hash split 6 sites)
    assert not set(owned["1/2"]) & set(owned["2/2"])
    assert set(owned["1/2"]) | set(owned["2/2"]) == {site["site_id"] for site in sites}
    for shard in SHARDS:
        rows = records(tmp_path / "first" / shard.replace("/", "-of-"))
        assert {row["site_id"] for row in rows} == set(owned[shard])

    # Second runs, to the end of January: each resumes from its own bookmarks (the other
    # shard's would not cover its sites, and no state would re-read January from the 1st).
    run_both(env, tmp_path / "second")
    second = stored_states(database)
    assert set(second) == set(first)
    for shard in SHARDS:
        rows = records(tmp_path / "second" / shard.replace("/", "-of-"))
        assert rows and {row["site_id"] for row in rows} == set(owned[shard])
        for row in rows:
            assert instant(row["date_utc"]) >= instant(owned[shard][row["site_id"]]), row
        advanced = bookmarks(second[state_id(shard)])
        assert set(advanced) == set(owned[shard])
        assert all(instant(advanced[site]) > instant(owned[shard][site]) for site in advanced)

"""Every stream into a real PostgreSQL through meltanolabs-target-postgres (README: Warehouse).

The server is a throwaway one (tests/postgres.py, zone Europe/Moscow); the loader is the one
`meltano install` built from meltano.yml. Tables are read back and compared, row by row and
value by value, with the RECORD messages of the real tap run against the sandbox.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support import SandboxProcess, TapRun, assert_unique_keys, discover, run_tap
from warehouse import (
    assert_tables_equal,
    expected_rows,
    load,
    query,
    readme_queries,
    target_postgres,
)

TARGET = target_postgres()
if TARGET is None:
    if os.environ.get("CALLTRACK_REQUIRE_MELTANO"):
        raise RuntimeError("target-postgres is missing (make test runs meltano install)")
    pytest.skip("target-postgres is not installed (run `make test`)", allow_module_level=True)

pytestmark = [pytest.mark.e2e, pytest.mark.meltano]

FIRST = {"start_date": "2024-01-01", "end_date": "2024-02-10", "lookback_days": 0}
# The second run: later end, and a lookback that re-reads the last days of the first.
SECOND = {"start_date": "2024-01-01", "end_date": "2024-02-20", "lookback_days": 5}
# The same seed with more calls per account: the same accounts and credentials, but the
# vendor's rows of every day change (and some appear), as late edits and attribution do.
CHANGED_DATA = ("--records", "360")


def key_properties(*runs: TapRun) -> dict[str, list[str]]:
    return {stream: message["key_properties"]
            for run in runs for stream, message in run.schemas().items()}


def final_records(*runs: TapRun) -> dict[str, list[dict[str, Any]]]:
    """The raw records a table should hold after the runs: the last of each key."""
    keys = key_properties(*runs)
    merged: dict[str, dict[tuple, dict[str, Any]]] = defaultdict(dict)
    for run in runs:
        for stream, records in run.records.items():
            for record in records:
                merged[stream][tuple(str(record.get(k)) for k in keys[stream])] = record
    return {stream: list(rows.values()) for stream, rows in merged.items()}


@pytest.fixture(scope="module")
def loaded(postgres_server, tmp_path_factory) -> dict[str, Any]:
    """Two runs loaded into one database: the first, then an incremental one with the
    loader's state, a lookback and changed vendor data."""
    tmp = tmp_path_factory.mktemp("warehouse")
    dsn = postgres_server.create_database("warehouse")
    recordings = str(tmp / "recordings")
    sandboxes = [SandboxProcess(), SandboxProcess(*CHANGED_DATA)]
    try:
        catalog = discover(sandboxes[0].config(**FIRST, recordings_dir=recordings), tmp)
        # every stream, the opt-in recordings streams included
        every = {entry["tap_stream_id"] for entry in catalog["streams"]}
        first = run_tap(sandboxes[0].config(**FIRST, recordings_dir=recordings), tmp / "first",
                        streams=every)
        assert first.returncode == 0, first.stderr[-3000:]
        states = load(TARGET, first, dsn, tmp / "first")
        assert states, "target-postgres emitted no STATE"
        second = run_tap(sandboxes[1].config(**SECOND, recordings_dir=recordings),
                         tmp / "second", streams=every, state=states[-1])
        assert second.returncode == 0, second.stderr[-3000:]
        states_after = load(TARGET, second, dsn, tmp / "second")
    finally:
        for sandbox in sandboxes:
            sandbox.stop()
    return {"dsn": dsn, "first": first, "second": second, "state": states_after[-1],
            "streams": every}


def test_first_run_emits_every_stream_with_unique_keys(loaded):
    first: TapRun = loaded["first"]
    assert_unique_keys(first)
    schemas = first.schemas()
    assert set(schemas) == loaded["streams"], loaded["streams"] ^ set(schemas)
    empty = [stream for stream in schemas if not first.records.get(stream)]
    assert not empty, f"streams without records: {empty}"
    assert {"calls", "calltouch_recordings", "comagic_recordings",
            "callkeeper_recordings"} <= set(schemas)


def test_every_table_equals_the_distinct_keys_and_values_of_both_runs(loaded):
    first, second = loaded["first"], loaded["second"]
    assert_unique_keys(second)
    assert_tables_equal(loaded["dsn"], expected_rows([first, second]),
                        key_properties(first, second))


def test_second_run_rereads_and_changes_rows_that_the_table_then_holds(loaded):
    """The lookback re-reads keys of the first run, some with other values: the table holds
    the second run's values for them (checked value by value above), no key twice."""
    first, second = loaded["first"], loaded["second"]
    before, after = expected_rows([first]), expected_rows([second])
    for stream in ("calls", "calltouch_calls", "comagic_calls", "callkeeper_calls"):
        reread = set(before[stream]) & set(after[stream])
        changed = [key for key in reread if before[stream][key] != after[stream][key]]
        assert reread, f"{stream}: the lookback re-read nothing"
        assert changed, f"{stream}: no re-read row changed"
        assert set(after[stream]) - set(before[stream]), f"{stream}: no new rows"
    # incremental: the second run did not start again from start_date
    # the loader confirmed the tap's last state (it wrote every row before it)
    assert loaded["state"] == second.final_state
    earliest = min(dt.datetime.fromisoformat(r["started_at"]) for r in second.records["calls"])
    assert earliest >= dt.datetime(2024, 2, 1, tzinfo=dt.timezone.utc), earliest


def expected_calls_per_day(records: list[dict[str, Any]]) -> list[tuple]:
    moscow = ZoneInfo("Europe/Moscow")
    counts: dict[tuple, Counter] = defaultdict(Counter)
    for call in records:
        day = dt.datetime.fromisoformat(call["started_at"]).astimezone(moscow).date()
        group = counts[(day, call["vendor"], call["account"])]
        group["calls"] += 1
        for flag in ("is_unique", "is_target", "answered"):
            group[flag] += call.get(flag) is True
    return [(*key, c["calls"], c["is_unique"], c["is_target"], c["answered"])
            for key, c in sorted(counts.items())]


def campaign(value: Any) -> str:
    """The README funnel's grouping: no campaign, empty or the placeholder is '(none)'."""
    return "(none)" if value in (None, "", "<не указано>") else value


def source(value: Any) -> str:
    return value or "(none)"


def expected_funnel(records: dict[str, list[dict[str, Any]]]) -> list[tuple]:
    rows: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, Decimal(0)])
    for call in records["calls"]:
        if call["vendor"] == "calltouch":
            rows[(source(call.get("source")), campaign(call.get("utm_campaign")))][0] += 1
    for lead in records["calltouch_requests"]:
        session = lead.get("session") or {}
        rows[(source(session.get("source")), campaign(session.get("utmCampaign")))][1] += 1
    for deal in records["calltouch_orders"]:
        if str(deal.get("isDeleted")).lower() == "true":
            continue
        visit = deal.get("visit") or {}
        row = rows[(source(visit.get("source")), campaign(visit.get("utmCampaign")))]
        row[2] += 1
        row[3] += Decimal(str(deal.get("completedAmount") or 0))
    return sorted((*key, *values) for key, values in rows.items())


def test_readme_analyst_sql_matches_the_records(loaded):
    queries = readme_queries()
    assert {"calls-per-day", "funnel"} <= set(queries), set(queries)
    records = final_records(loaded["first"], loaded["second"])
    per_day = query(loaded["dsn"], queries["calls-per-day"])
    assert per_day == expected_calls_per_day(records["calls"])
    assert {vendor for _, vendor, *_ in per_day} == {"calltouch", "comagic", "callkeeper"}
    funnel = query(loaded["dsn"], queries["funnel"])
    assert sorted(funnel) == expected_funnel(records)
    assert sum(row[5] for row in funnel) > 0 and sum(row[3] for row in funnel) > 0


def test_meltano_run_demo_loads_every_stream(sandbox, postgres_server, tmp_path):
    """`meltano run tap-calltrack target-postgres` of the demo project (README: Warehouse)."""
    from test_meltano import meltano

    dsn = postgres_server.create_database("demo")
    env = {"CALLTRACK_SANDBOX_URL": sandbox.url,
           "TARGET_POSTGRES_SQLALCHEMY_URL": dsn.replace("postgresql://", "postgresql+psycopg://"),
           "TAP_CALLTRACK_RECORDINGS_DIR": str(tmp_path / "recordings"),
           "TAP_CALLTRACK__SELECT": '["*.*"]'}
    result = meltano("--environment", "demo", "run", "warehouse", env=env, tmp=tmp_path)
    (tmp_path / "meltano.log").write_text(result.stderr)
    loader = [line for line in result.stderr.splitlines() if "target-postgres" in line]
    assert result.returncode == 0, "\n".join(loader[-40:]) + result.stderr[-1500:]
    catalog = discover({**sandbox.config(), "start_date": "2024-01-01",
                        "recordings_dir": str(tmp_path / "recordings")}, tmp_path)
    streams = {entry["tap_stream_id"] for entry in catalog["streams"]}
    counts = dict(query(dsn, "SELECT table_name, (xpath('/row/n/text()', query_to_xml("
                              "format('SELECT count(*) AS n FROM calltrack.%I', table_name),"
                              " false, true, '')))[1]::text::int FROM information_schema.tables"
                              " WHERE table_schema = 'calltrack'"))
    assert streams <= set(counts), streams - set(counts)
    assert all(counts[stream] > 0 for stream in streams), counts


def test_readme_shows_the_warehouse_run():
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "meltano --environment demo run warehouse" in text
    assert "meltano run tap-calltrack target-postgres" in text


# Every reading the sandbox can play of what the vendors' documents leave open
# (docs/fidelity.md), split where two readings exclude each other.
READINGS = {
    "documented": ("--quirks", "comagic-documented-fields,comagic-stat-data,"
                   "comagic-stat-campaign-id,comagic-numeric-record-ids,calltouch-strict-flags",
                   "--callkeeper-to", "exclusive"),
    "campain-only": ("--quirks", "comagic-stat-campain-only", "--callkeeper-v1-null-times"),
}


@pytest.mark.parametrize("reading", sorted(READINGS))
def test_every_stream_loads_exactly_under_each_reading_of_the_docs(
        reading, start_sandbox, postgres_server, tmp_path):
    sandbox = start_sandbox(*READINGS[reading])
    config = sandbox.config(**FIRST, recordings_dir=str(tmp_path / "recordings"))
    every = {entry["tap_stream_id"] for entry in discover(config, tmp_path)["streams"]}
    run = run_tap(config, tmp_path / "run", streams=every)
    assert run.returncode == 0, run.stderr[-3000:]
    assert set(run.schemas()) == every
    assert_unique_keys(run)
    dsn = postgres_server.create_database(f"reading_{reading.replace('-', '_')}")
    load(TARGET, run, dsn, tmp_path)
    assert_tables_equal(dsn, expected_rows([run]), key_properties(run))

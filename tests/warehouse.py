"""Helpers of the warehouse tests: run the real target-postgres, read the tables back and
compare them with the Singer messages the tap emitted."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from support import TapRun, write_json

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "calltrack"


def target_postgres() -> Path | None:
    """The loader Meltano installed from meltano.yml (`meltano install`, run by `make test`)."""
    override = os.environ.get("CALLTRACK_TARGET_POSTGRES")
    path = Path(override) if override else (
        ROOT / ".meltano" / "loaders" / "target-postgres" / "venv" / "bin" / "target-postgres")
    return path if path.exists() else None


def load(executable: Path, run: TapRun, dsn: str, tmp: Path) -> list[dict[str, Any]]:
    """Pipe the tap's output into target-postgres; returns the STATE values it emitted."""
    config = {"sqlalchemy_url": dsn.replace("postgresql://", "postgresql+psycopg://"),
              "default_target_schema": SCHEMA, "load_method": "upsert"}
    result = subprocess.run(
        [str(executable), "--config", str(write_json(tmp / "target-postgres.json", config))],
        input=run.stdout, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PGTZ": "UTC"})
    assert result.returncode == 0, result.stderr[-4000:]
    # an SDK target prints each state it reached as a bare JSON object, one a line
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def types_of(prop: dict[str, Any]) -> set[str]:
    kinds = prop.get("type", [])
    kinds = {kinds} if isinstance(kinds, str) else set(kinds)
    for option in prop.get("anyOf", []) + prop.get("oneOf", []):
        kinds |= types_of(option)
    return kinds - {"null"}


def normalise(value: Any, prop: dict[str, Any]) -> Any:
    """A record's JSON value as target-postgres should store it (and psycopg reads it back)."""
    if value is None:
        return None
    kinds = types_of(prop)
    if kinds == {"string"} and prop.get("format") == "date-time":
        moment = dt.datetime.fromisoformat(value)
        if moment.tzinfo is not None:  # timestamp without time zone, written in UTC
            moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return moment
    if kinds == {"string"} and prop.get("format") == "date":
        return dt.date.fromisoformat(value)
    if kinds == {"number"} or kinds == {"integer", "number"}:
        return Decimal(str(value))
    if "string" in kinds and len(kinds) > 1 and not kinds & {"object", "array"}:
        # a scalar that may be a string or not is a text column: other values as JSON text
        return value if isinstance(value, str) else json.dumps(value)
    return value


def normalise_db(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def expected_rows(runs: list[TapRun]) -> dict[str, dict[tuple, dict[str, Any]]]:
    """Per stream, the last record of each primary key over the runs, in order (an upsert)."""
    rows: dict[str, dict[tuple, dict[str, Any]]] = {}
    for run in runs:
        schemas = run.schemas()
        for stream, records in run.records.items():
            message = schemas[stream]
            keys, props = message["key_properties"], message["schema"]["properties"]
            table = rows.setdefault(stream, {})
            for record in records:
                key = tuple(normalise(record.get(name), props[name]) for name in keys)
                table[key] = {name: normalise(record.get(name), prop)
                              for name, prop in props.items()}
    return rows


def table_rows(dsn: str, stream: str, keys: list[str]) -> tuple[Counter, dict[tuple, dict]]:
    """The table's key counts and its rows by key (every column but the loader's _sdc_*)."""
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(SCHEMA, stream)))
        names = [column.name for column in cursor.description]
        counts: Counter = Counter()
        rows: dict[tuple, dict] = {}
        for values in cursor.fetchall():
            row = {name: normalise_db(value) for name, value in zip(names, values, strict=True)
                   if not name.startswith("_sdc_")}
            key = tuple(row[name] for name in keys)
            counts[key] += 1
            rows[key] = row
    return counts, rows


def tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as connection:
        found = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (SCHEMA,)).fetchall()
    return {name for (name,) in found}


def assert_tables_equal(dsn: str, expected: dict[str, dict[tuple, dict[str, Any]]],
                        key_properties: dict[str, list[str]]) -> None:
    """Every stream's table holds exactly its distinct keys, once each, with the values."""
    assert set(expected) <= tables(dsn), set(expected) - tables(dsn)
    for stream, want in expected.items():
        counts, got = table_rows(dsn, stream, key_properties[stream])
        duplicates = [key for key, count in counts.items() if count > 1]
        assert not duplicates, f"{stream}: duplicate keys {duplicates[:3]}"
        assert set(got) == set(want), (
            f"{stream}: missing {list(set(want) - set(got))[:3]}, "
            f"unexpected {list(set(got) - set(want))[:3]}")
        for key, record in want.items():
            differing = {name: (value, got[key].get(name)) for name, value in record.items()
                         if got[key].get(name) != value}
            assert not differing, f"{stream} {key}: (record, table) {differing}"


def readme_queries() -> dict[str, str]:
    """The README's analyst SQL: each ```sql block, named by its first `-- name:` line."""
    text = (ROOT / "README.md").read_text()
    queries = {}
    for block in re.findall(r"```sql\n(.*?)```", text, flags=re.S):
        named = re.match(r"-- ([\w-]+):", block)
        if named:
            queries[named.group(1)] = block
    return queries


def query(dsn: str, text: str) -> list[tuple]:
    with psycopg.connect(dsn) as connection:
        return [tuple(normalise_db(value) for value in row)
                for row in connection.execute(text).fetchall()]

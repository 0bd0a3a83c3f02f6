"""Every record of every stream, of every vendor, validates against its stream's SCHEMA
with a strict JSON Schema validator (Draft 7 with format checking), as a validating
loader such as meltanolabs-target-postgres would; under each reading of what the vendors'
documents leave open (sandbox ``--quirks``, docs/fidelity.md). Also: no two properties of a
schema collide once snake-cased, as target-sqlite and target-postgres name columns."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from support import every_stream, run_tap

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
#: Streams that may legitimately have no rows in a short range (none, today).
MAY_BE_EMPTY: frozenset[str] = frozenset()
MODES = {
    "default": (),
    "documented-only": ("--quirks", "comagic-documented-fields,comagic-stat-data,"
                        "comagic-stat-campaign-id,comagic-numeric-record-ids,"
                        "calltouch-strict-flags"),
    "campain-only": ("--quirks", "comagic-stat-campain-only"),
}


def validator(schema: dict) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator
                                      .FORMAT_CHECKER)


def test_the_format_checker_really_checks_date_times():
    """Without rfc3339-validator jsonschema would accept any string as a date-time."""
    check = validator({"type": "string", "format": "date-time"})
    assert check.is_valid("2024-03-31T21:00:00+00:00")
    assert not check.is_valid("2024-03-31 21:00:00")


@pytest.mark.e2e
@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_record_of_every_stream_validates_strictly(mode, start_sandbox, tmp_path):
    sandbox = start_sandbox("--records", "60", "--days", "14", *MODES[mode])
    config = sandbox.config(start_date="2024-01-02", end_date="2024-01-08",
                            lookback_days=0, recordings_dir=str(tmp_path / "rec"))
    run = run_tap(config, tmp_path, streams=every_stream(config, tmp_path))
    assert run.returncode == 0, run.stderr[-3000:]
    # the tap asks only documented fields: none is refused, except campaign_id by an API
    # that knows only the example's campain_id (then asked instead)
    assert not re.search(r"does not know field '(?!campaign_id')", run.stderr), \
        run.stderr[-3000:]
    assert all(row["campaign_id"] is not None
               for row in run.records["comagic_campaign_daily_stat"])
    schemas = run.schemas()
    assert len(schemas) >= 20, sorted(schemas)
    empty = sorted(name for name in schemas if not run.records.get(name))
    assert set(empty) <= MAY_BE_EMPTY, empty
    failures = []
    for stream, records in run.records.items():
        check = validator(schemas[stream]["schema"])
        for record in records:
            columns = [snake_case(name) for name in record]
            if len(set(columns)) < len(columns):
                failures.append(f"{stream}: record keys collide snake-cased: {sorted(record)}")
            for error in check.iter_errors(record):
                failures.append(f"{stream}.{'.'.join(map(str, error.absolute_path))}: "
                                f"{error.message[:160]}")
    assert not failures, f"{len(failures)} failures, e.g.:\n" + "\n".join(
        sorted(set(failures))[:40])


def snake_case(name: str) -> str:
    """As target-sqlite / target-postgres turn property names into column names."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def test_snake_case_helper_matches_the_loaders():
    assert snake_case("siteId") == "site_id"
    assert snake_case("RequestTags") == "request_tags"
    assert snake_case("googleAdWords") == "google_ad_words"


@pytest.mark.parametrize("path", sorted(SCHEMAS.rglob("*.json")), ids=lambda p: p.stem)
def test_no_two_properties_collide_once_snake_cased(path):
    def walk(schema: dict, where: str) -> list[str]:
        problems = []
        properties = schema.get("properties") or {}
        seen: dict[str, str] = {}
        for name, sub in properties.items():
            column = snake_case(name)
            if column in seen:
                problems.append(f"{where}: {seen[column]!r} and {name!r} are both {column!r}")
            seen[column] = name
            problems += walk(sub, f"{where}.{name}")
        items = schema.get("items")
        if isinstance(items, dict):
            problems += walk(items, f"{where}[]")
        return problems

    schema = json.loads(path.read_text(encoding="utf-8"))
    assert walk(schema, path.stem) == []

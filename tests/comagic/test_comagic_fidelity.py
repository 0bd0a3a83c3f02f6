"""Comagic as its documents show it: field lists per method from the Data API's own tables
(tests/fixtures/comagic_documented_fields.json, extracted from comagic/comagic.github.io),
the sandbox's tables equal to them, both readings of get.campaign_daily_stat's answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support import SandboxProcess, run_tap

from calltrack_sandbox.comagic.methods import METHODS
from tap_calltrack.comagic.client import TAP_FIELDS
from tap_calltrack.comagic.streams import STREAMS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "comagic_documented_fields.json"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "comagic"
DOCUMENTED: dict[str, dict[str, dict]] = json.loads(FIXTURE.read_text(encoding="utf-8"))[
    "methods"]
REPORTS = [stream for stream in STREAMS if getattr(stream, "method", None) in DOCUMENTED]


def vendor_properties(stream: type) -> set[str]:
    own = TAP_FIELDS | stream.own_fields | {stream.replication_key}
    schema = json.loads((SCHEMAS / f"{stream.name.removeprefix('comagic_')}.json").read_text(
        encoding="utf-8"))
    return set(schema["properties"]) - own


@pytest.mark.parametrize("stream", REPORTS, ids=lambda s: s.name)
def test_a_report_stream_asks_exactly_the_fields_its_method_documents(stream):
    """The schema's vendor properties are what the tap requests (comagic/client.py)."""
    assert vendor_properties(stream) == set(DOCUMENTED[stream.method])


def test_chats_and_campaign_statistics_ask_no_invented_field():
    by_name = {stream.name: stream for stream in REPORTS}
    chats = vendor_properties(by_name["comagic_chats"])
    assert not chats & {"visitor_name", "visitor_email"}  # documented for offline messages only
    stat = vendor_properties(by_name["comagic_campaign_daily_stat"])
    assert not stat & {"banner_group_ext_id", "keyword_ext_id", "keyword_name",
                       "current_banner_ext_id", "current_banner_title", "banner_id",
                       "banner_name"}
    assert stat >= {"keyword", "current_banner_name", "campaign_ext_name", "site_domain_name"}


def test_only_the_key_and_the_bookmark_are_needed():
    by_name = {stream.name: stream for stream in REPORTS}
    assert by_name["comagic_calls"].needed_fields == {"id", "start_time"}
    assert by_name["comagic_campaign_daily_stat"].needed_fields == {
        "date", "site_id", "campaign_id", "banner_group_id", "keyword_id", "current_banner_id"}


@pytest.mark.parametrize("method", sorted(DOCUMENTED))
def test_the_sandbox_field_tables_are_the_documented_ones(method):
    spec = METHODS[method]
    documented = DOCUMENTED[method]
    assert set(spec.fields) == set(documented)
    assert {name for name in spec.defaults} == {n for n, f in documented.items() if f["default"]}
    assert not set(spec.extras) & set(documented)  # extras: public clients' readings only


def stat_records(start_sandbox: Callable[..., SandboxProcess], tmp_path: Path, *quirks: str
                 ) -> list[dict]:
    sandbox = start_sandbox("--records", "30", "--days", "7", *quirks)
    config = sandbox.config(calltouch=None, callkeeper=None, start_date="2024-01-02",
                            end_date="2024-01-04", lookback_days=0)
    run = run_tap(config, tmp_path, streams={"comagic_campaign_daily_stat"})
    assert run.returncode == 0, run.stderr[-2000:]
    return sorted(run.records["comagic_campaign_daily_stat"],
                  key=lambda r: (r["app_id"], r["site_id"], r["date"], r["dimension_key"]))


@pytest.mark.e2e
def test_campaign_statistics_read_the_same_under_both_envelopes_and_spellings(start_sandbox,
                                                                              tmp_path):
    """Bare list + ``campain_id`` (the docs' example), ``result.data`` + ``campaign_id``
    (the docs' table and envelope), and an API knowing only ``campain_id``: same records."""
    example = stat_records(start_sandbox, tmp_path / "a")
    table = stat_records(start_sandbox, tmp_path / "b", "--quirks",
                         "comagic-stat-data,comagic-stat-campaign-id")
    only = stat_records(start_sandbox, tmp_path / "c", "--quirks", "comagic-stat-campain-only")
    assert example and example == table == only
    assert all(row["campaign_id"] is not None and "campain_id" not in row for row in example)
    assert {type(row["banner_group_id"]) for row in example} <= {str, type(None)}

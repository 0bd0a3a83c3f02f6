"""Bad input files and settings: one line naming the file or setting (never its value),
exit 2, in a sync, --discover and --test alike; odd but valid ranges say so in one line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fake_server import FakeVendor, Reply, Request
from input_fakes import (
    TOKEN,
    calls_only,
    calls_page,
    calltouch_call,
    calltouch_config,
    catalog_selecting,
)
from support import console_script, write_json

pytestmark = pytest.mark.e2e
MODES = [[], ["--discover"], ["--test"]]
UNUSED_URL = "http://127.0.0.1:9"  # these runs must stop before any request


def tap(tmp: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([console_script("tap-calltrack"), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=tmp)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *names: str,
                          hidden: tuple[str, ...] = ()) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    for name in names:
        assert name in errors[0], errors[0]
    for value in (TOKEN, *hidden):
        assert value not in result.stderr
    assert result.stdout == ""
    return errors[0]


@pytest.mark.parametrize("mode", MODES, ids=["sync", "discover", "test"])
@pytest.mark.parametrize(("text", "problem"), [
    ('{"start_date": "2024-01-01",', "is not valid JSON"),
    ('["start_date", "2024-01-01"]', "is not a JSON object"),
    ("", "is not valid JSON"),
    ("\xff\xfe", "is not valid JSON"),
])
def test_a_config_file_that_is_not_a_json_object(tmp_path, mode, text, problem):
    (tmp_path / "broken.json").write_text(text)
    result = tap(tmp_path, "--config", "broken.json", *mode)
    assert_one_line_error(result, "--config file 'broken.json'", problem)


@pytest.mark.parametrize("mode", MODES, ids=["sync", "discover", "test"])
def test_a_missing_config_file(tmp_path, mode):
    result = tap(tmp_path, "--config", "nowhere.json", *mode)
    assert_one_line_error(result, "--config file 'nowhere.json'", "was not found")


@pytest.mark.parametrize(("state", "place"), [
    ("not json at all", "is not valid JSON"),
    ([1, 2], "is not a JSON object"),
    ({"bookmarks": []}, "bookmarks is not an object"),
    ({"bookmarks": {"calltouch_calls": {"partitions": {"x": 1}}}},
     "bookmarks.calltouch_calls.partitions is not a list"),
    ({"bookmarks": {"calltouch_calls": {"partitions": [
        {"context": {"site_id": 41100}, "replication_key": "date_utc",
         "replication_key_value": 1704067200}]}}},
     "bookmarks.calltouch_calls.partitions[0]: replication_key_value"),
    ({"bookmarks": {"calltouch_calls": {"partitions": [
        {"context": {"site_id": 41100}, "replication_key": "date_utc",
         "replication_key_value": "garbage-bookmark"}]}}},
     "bookmarks.calltouch_calls.partitions[0]: replication_key_value"),
    ({"bookmarks": {"calltouch_calls": {"replication_key_value": "0001-01-01T00:00:00"}}},
     "bookmarks.calltouch_calls: replication_key_value"),
    ({"bookmarks": {"calltouch_calls": {"partitions": ["x"]}}},
     "bookmarks.calltouch_calls.partitions[0] is not an object"),
])
def test_a_state_file_of_the_wrong_shape(tmp_path, state, place):
    write_json(tmp_path / "config.json", calltouch_config(UNUSED_URL))
    path = tmp_path / "state.json"
    path.write_text(state if isinstance(state, str) else json.dumps(state))
    result = tap(tmp_path, "--config", "config.json", "--state", "state.json")
    assert_one_line_error(result, "--state file 'state.json'", place,
                          hidden=("garbage-bookmark", "1704067200"))


@pytest.mark.parametrize("catalog", ["{oops", "[]", '{"streams": {"a": 1}}'])
def test_a_catalog_file_of_the_wrong_shape(tmp_path, catalog):
    write_json(tmp_path / "config.json", calltouch_config(UNUSED_URL))
    (tmp_path / "catalog.json").write_text(catalog)
    result = tap(tmp_path, "--config", "config.json", "--catalog", "catalog.json")
    assert_one_line_error(result, "--catalog file 'catalog.json'")


@pytest.mark.parametrize("mode", MODES, ids=["sync", "discover", "test"])
@pytest.mark.parametrize(("change", "setting", "value"), [
    ({"lookback_days": 1000000}, "lookback_days", "1000000"),
    ({"request_timeout": 1e300}, "request_timeout", "1e+300"),
    ({"max_tries": 10**12}, "max_tries", "1000000000000"),
    ({"start_date": "0001-01-01"}, "start_date", "0001-01-01"),
    ({"end_date": "9999-12-31"}, "end_date", "9999-12-31"),
    ({"start_date": "31/12/2024"}, "start_date", "31/12/2024"),
    # end before start in every combination of forms (date / local / aware date-time)
    ({"start_date": "2024-01-05", "end_date": "2024-01-04"}, "end_date", "2024-01-04"),
    ({"start_date": "2024-01-05", "end_date": "2024-01-04T23:00:00"}, "end_date", "2024-01-04T"),
    ({"start_date": "2024-01-05", "end_date": "2024-01-04T20:30:00+00:00"}, "end_date",
     "2024-01-04T"),  # 23:30 Moscow on the 4th
    ({"start_date": "2024-01-05T10:00:00", "end_date": "2024-01-05T09:00:00"}, "end_date",
     "09:00"),
    ({"start_date": "2024-01-05T10:00:00+03:00", "end_date": "2024-01-05T06:00:00Z"},
     "end_date", "06:00"),
])
def test_a_setting_that_overflows_or_contradicts_is_a_config_error(tmp_path, mode, change,
                                                                   setting, value):
    write_json(tmp_path / "config.json", calltouch_config(UNUSED_URL, **change))
    result = tap(tmp_path, "--config", "config.json", *mode)
    assert_one_line_error(result, f"setting '{setting}'", hidden=(value,))


def test_an_end_date_time_after_a_start_date_is_accepted(tmp_path):
    """Mixed forms compare as instants in the account's zone (Moscow: +03:00)."""
    config = calltouch_config(UNUSED_URL, start_date="2024-01-05",
                              end_date="2024-01-04T22:30:00+00:00")  # 01:30 on the 5th
    write_json(tmp_path / "config.json", config)
    result = tap(tmp_path, "--config", "config.json", "--discover")
    assert result.returncode == 0, result.stderr


def test_a_window_setting_of_a_million_days_reads_the_range_in_one_window(tmp_path):
    asked: list[tuple[str | None, str | None]] = []

    def respond(request: Request) -> Reply:
        asked.append((request.param("dateFrom"), request.param("dateTo")))
        return calls_page([])

    with FakeVendor(calls_only(respond)) as fake:
        config = calltouch_config(fake.url)
        config["calltouch"]["calls_window_days"] = 1000000
        catalog = catalog_selecting(config, tmp_path, {"calltouch_calls"})
        write_json(tmp_path / "config.json", config)
        result = tap(tmp_path, "--config", "config.json", "--catalog", str(catalog))
    assert result.returncode == 0, result.stderr[-3000:]
    assert asked == [("01/01/2024", "14/01/2024")]


def run_against_empty_vendor(tmp_path: Path, config: dict[str, Any],
                             state: dict[str, Any] | None = None
                             ) -> tuple[subprocess.CompletedProcess[str], list[Request]]:
    with FakeVendor(calls_only(lambda request: calls_page([]))) as fake:
        config = {**config, "calltouch": {**config["calltouch"], "api_url": fake.url}}
        catalog = catalog_selecting(config, tmp_path, {"calltouch_calls"})
        args = ["--config", str(write_json(tmp_path / "config.json", config)),
                "--catalog", str(catalog)]
        if state is not None:
            args += ["--state", str(write_json(tmp_path / "state.json", state))]
        return tap(tmp_path, *args), list(fake.requests)


def test_a_bookmark_past_the_end_date_is_a_warning_naming_stream_and_account(tmp_path):
    state = {"bookmarks": {"calltouch_calls": {"partitions": [
        {"context": {"site_id": 41100}, "replication_key": "date_utc",
         "replication_key_value": "2024-06-01T00:00:00+00:00"}]}}}
    result, requests = run_against_empty_vendor(tmp_path, calltouch_config(""), state)
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = [line for line in result.stderr.splitlines() if "later than end_date" in line]
    assert len(warnings) == 1, result.stderr
    assert "calltouch_calls [shop]" in warnings[0]
    assert requests == []


def test_a_bookmark_in_the_future_is_a_warning(tmp_path):
    state = {"bookmarks": {"calltouch_calls": {"partitions": [
        {"context": {"site_id": 41100}, "replication_key": "date_utc",
         "replication_key_value": "2099-01-01T00:00:00+00:00"}]}}}
    config = calltouch_config("")
    config.pop("end_date")
    result, _ = run_against_empty_vendor(tmp_path, config, state)
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = [line for line in result.stderr.splitlines() if "later than now" in line]
    assert len(warnings) == 1 and "calltouch_calls [shop]" in warnings[0], result.stderr


def test_a_start_date_in_the_future_says_so(tmp_path):
    config = calltouch_config("", start_date="2099-01-01")
    config.pop("end_date")
    result, requests = run_against_empty_vendor(tmp_path, config)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if "start_date is in the future" in line]
    assert len(lines) == 1, result.stderr
    assert requests == []


def test_an_account_that_gets_no_records_is_named_in_one_line(tmp_path):
    def respond(request: Request) -> Reply:
        if "/41100/" in request.path:
            return calls_page([calltouch_call(1, "02/01/2024")])
        return calls_page([])

    config = calltouch_config("")
    config["calltouch"]["sites"].append({"site_id": 41200, "api_token": TOKEN + "-2",
                                         "name": "quiet"})
    with FakeVendor(calls_only(respond)) as fake:
        config["calltouch"]["api_url"] = fake.url
        catalog = catalog_selecting(config, tmp_path, {"calltouch_calls"})
        result = tap(tmp_path, "--config", str(write_json(tmp_path / "c.json", config)),
                     "--catalog", str(catalog))
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if "no records extracted" in line]
    assert len(lines) == 1, result.stderr
    assert "calltouch account 'quiet'" in lines[0]
    assert '"callId":1' in result.stdout


def test_discovery_needs_no_start_date_but_checks_every_setting_it_is_given(tmp_path):
    config = calltouch_config(UNUSED_URL)
    config.pop("start_date")
    config.pop("end_date")
    write_json(tmp_path / "config.json", config)
    result = tap(tmp_path, "--config", "config.json", "--discover")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["streams"]
    config["calltouch"]["sites"][0].pop("api_token")
    write_json(tmp_path / "config.json", config)
    result = tap(tmp_path, "--config", "config.json", "--discover")
    assert_one_line_error(result, "setting 'calltouch.sites[0].api_token'")

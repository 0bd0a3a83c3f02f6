"""The config contract: every setting documented; bad config stops with one clear line."""

from __future__ import annotations

import json
import subprocess

import pytest
from support import console_script, write_json

from tap_calltrack.settings import ConfigError
from tap_calltrack.tap import TapCalltrack

SECRET = "SUPER-SECRET-token-123456"
GOOD = {"start_date": "2024-01-01",
        "calltouch": {"sites": [{"site_id": 1, "api_token": SECRET}]}}


def about() -> dict:
    out = subprocess.run([console_script("tap-calltrack"), "--about", "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.mark.e2e
def test_about_lists_every_contract_setting_with_a_description():
    settings = about()["settings"]["properties"]
    for key in ("start_date", "end_date", "lookback_days", "recordings_dir"):
        assert settings[key].get("description"), key
    vendors = {
        "calltouch": ("api_url", "sites"),
        "comagic": ("api_url", "accounts"),
        "callkeeper": ("api_url", "accounts"),
    }
    for vendor, keys in vendors.items():
        if vendor not in settings:
            pytest.fail(f"the {vendor} section is missing from --about")
        section = settings[vendor]["properties"]
        for key in (*keys, "max_requests_per_second"):
            assert section[key].get("description"), f"{vendor}.{key}"
    site = settings["calltouch"]["properties"]["sites"]["items"]["properties"]
    assert site["api_token"].get("secret") is True
    assert settings["calltouch"]["properties"]["api_url"]["default"] == "https://api.calltouch.ru"
    assert settings["start_date"] and "start_date" in about()["settings"]["required"]


@pytest.mark.parametrize(("change", "setting"), [
    ({"start_date": None}, "start_date"),
    ({"start_date": "2024-13-45"}, "start_date"),
    ({"end_date": "yesterday"}, "end_date"),
    ({"end_date": "2023-01-01"}, "end_date"),
    ({"lookback_days": -1}, "lookback_days"),
    ({"calltouch": {"sites": [{"api_token": SECRET}]}}, "calltouch.sites[0].site_id"),
    ({"calltouch": {"sites": [{"site_id": 1}]}}, "calltouch.sites[0].api_token"),
    ({"calltouch": {"sites": [{"site_id": 1, "api_token": SECRET, "timezone": "Mars/Olympus"}]}},
     "calltouch.sites[0].timezone"),
    ({"calltouch": {"sites": [{"site_id": "x1", "api_token": SECRET}]}},
     "calltouch.sites[0].site_id"),
    ({"calltouch": {"api_url": "ftp://x", "sites": []}}, "calltouch.api_url"),
    ({"calltouch": {"call_enrichments": ["withEverything"], "sites": []}},
     "calltouch.call_enrichments"),
    ({"calltouch": {"max_requests_per_second": 0, "sites": []}},
     "calltouch.max_requests_per_second"),
])
def test_bad_config_names_the_setting(change, setting):
    config = {**GOOD, **change}
    config = {k: v for k, v in config.items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        TapCalltrack(config=config, validate_config=True)
    assert f"'{setting}'" in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.e2e
def test_cli_stops_with_one_line_and_no_traceback(tmp_path):
    config = {**GOOD, "calltouch": {"sites": [{"site_id": 1, "api_token": SECRET,
                                               "timezone": "Nowhere/Land"}]}}
    for args in ([], ["--test"], ["--discover"]):
        result = subprocess.run(
            [console_script("tap-calltrack"), "--config",
             str(write_json(tmp_path / "c.json", config)), *args],
            capture_output=True, text=True)
        assert result.returncode == 2, args
        errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
        assert errors == ["tap-calltrack: config error: setting "
                          "'calltouch.sites[0].timezone' is not a known IANA time zone "
                          "(e.g. Europe/Moscow)"], result.stderr
        assert "Traceback" not in result.stderr
        assert SECRET not in result.stderr + result.stdout


def test_a_vendor_without_accounts_contributes_no_streams():
    tap = TapCalltrack(config=GOOD, validate_config=True)
    names = set(tap.streams)
    assert "calltouch_calls" in names and "calls" in names
    assert not any(name.startswith(("comagic_", "callkeeper_")) for name in names)


def test_discovery_without_config_lists_every_stream():
    tap = TapCalltrack(config={}, validate_config=False)
    names = set(tap.streams)
    for vendor_stream in ("calltouch_calls", "calltouch_requests", "calltouch_orders",
                          "calltouch_daily_stats", "calltouch_keyword_stats",
                          "calltouch_recordings", "calls"):
        assert vendor_stream in names
    for stream in tap.streams.values():
        assert stream.schema["properties"], stream.name
        assert stream.primary_keys, stream.name

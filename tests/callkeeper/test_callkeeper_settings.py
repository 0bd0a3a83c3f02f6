"""The ``callkeeper`` config section: defaults, and errors naming the setting, never the value."""

from __future__ import annotations

import subprocess

import pytest
from callkeeper_helpers import fingerprint
from support import console_script, write_json

from tap_calltrack.callkeeper.settings import parse_accounts
from tap_calltrack.settings import ConfigError
from tap_calltrack.tap import TapCalltrack

KEY = "x9xx99xx99xxxx99"
OTHER = "a1bb22cc33dd44ee"


def config(*accounts: dict, **section: object) -> dict:
    return {"start_date": "2024-01-01", "callkeeper": {"accounts": list(accounts), **section}}


def test_defaults_method_zone_and_a_fingerprint_label():
    (account,) = parse_accounts(config({"api_key": KEY}))
    assert account.label == fingerprint(KEY) and account.context == {"account": account.label}
    assert account.options == {"method": "get"} and str(account.timezone) == "Europe/Moscow"
    assert account.secrets == {"api_key": KEY}
    assert KEY not in repr(account) and KEY not in str(account) and KEY not in account.label


def test_a_name_is_the_label_and_every_method_is_accepted():
    accounts = parse_accounts(config(
        {"api_key": KEY, "method": "getWithRole", "name": "Окна", "timezone": "Asia/Omsk"},
        {"api_key": OTHER, "method": "getByRole"},
        {"api_key": KEY, "method": "get", "name": "Окна-свои"},
    ))
    assert [a.label for a in accounts] == ["Окна", fingerprint(OTHER), "Окна-свои"]
    assert [a.options["method"] for a in accounts] == ["getWithRole", "getByRole", "get"]
    assert str(accounts[0].timezone) == "Asia/Omsk"


def test_no_section_means_no_accounts():
    assert parse_accounts({"start_date": "2024-01-01"}) == []


@pytest.mark.parametrize(("bad", "setting"), [
    (config({"method": "get"}), "callkeeper.accounts[0].api_key"),
    (config({"api_key": ""}), "callkeeper.accounts[0].api_key"),
    (config({"api_key": f"{KEY}/x"}), "callkeeper.accounts[0].api_key"),
    (config({"api_key": f"{KEY}?"}), "callkeeper.accounts[0].api_key"),
    (config({"api_key": KEY, "method": "getAll"}), "callkeeper.accounts[0].method"),
    (config({"api_key": KEY, "method": "call"}), "callkeeper.accounts[0].method"),
    (config({"api_key": KEY, "timezone": "Mars/Olympus"}), "callkeeper.accounts[0].timezone"),
    (config({"api_key": KEY}, {"api_key": KEY, "method": "getWithRole"}),
     "callkeeper.accounts[1].name"),
    (config({"api_key": KEY, "name": "A"}, {"api_key": OTHER, "name": "A"}),
     "callkeeper.accounts[1].name"),
    (config({"api_key": KEY}, api_url="ftp://ckct.ru/api/"), "callkeeper.api_url"),
    (config({"api_key": KEY}, api_url="https://ckct.ru/api/?json"), "callkeeper.api_url"),
    (config({"api_key": KEY}, calls_window_days=0), "callkeeper.calls_window_days"),
    (config({"api_key": KEY}, max_requests_per_second=0), "callkeeper.max_requests_per_second"),
    (config({"api_key": KEY}, max_concurrent_requests=0), "callkeeper.max_concurrent_requests"),
    (config(KEY), "callkeeper.accounts[0]"),
    ({"start_date": "2024-01-01", "callkeeper": {"accounts": KEY}}, "callkeeper.accounts"),
])
def test_bad_config_names_the_setting_never_the_value(bad, setting):
    with pytest.raises(ConfigError) as caught:
        parse_accounts(bad)
    assert caught.value.setting == setting
    assert KEY not in str(caught.value) and "getAll" not in str(caught.value)


def test_an_api_url_ending_in_a_question_mark_is_accepted():
    assert parse_accounts(config({"api_key": KEY}, api_url="https://ckct.ru/api/index.php?"))


@pytest.mark.e2e
def test_the_cli_stops_with_one_line_naming_the_setting(tmp_path):
    path = write_json(tmp_path / "config.json", config({"api_key": KEY, "method": "getAll"}))
    result = subprocess.run([console_script("tap-calltrack"), "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "config error: setting 'callkeeper.accounts[0].method' must be one of get, " \
           "getByRole, getWithRole" in result.stderr
    assert KEY not in result.stderr + result.stdout and "Traceback" not in result.stderr


def test_about_documents_the_section():
    section = TapCalltrack.config_jsonschema["properties"]["callkeeper"]["properties"]
    account = section["accounts"]["items"]["properties"]
    assert section["api_url"]["default"] == "https://ckct.ru/api/"
    assert account["api_key"]["secret"] is True
    assert account["method"]["enum"] == ["get", "getByRole", "getWithRole"]
    assert account["method"]["default"] == "get"
    assert account["timezone"]["default"] == "Europe/Moscow"
    for key in ("max_requests_per_second", "max_concurrent_requests", "calls_window_days"):
        assert section[key]["description"], key

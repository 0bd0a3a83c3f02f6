"""only_accounts and shard: a run extracts a subset of the configured accounts."""

from __future__ import annotations

import subprocess
from zoneinfo import ZoneInfo

import pytest
from support import console_script, discover, run_tap, write_json

from tap_calltrack.settings import Account, ConfigError
from tap_calltrack.shards import parse_selection, selected, shard_of


def account(vendor: str, key: str, value: object, label: str) -> Account:
    return Account(vendor, label, {key: value}, ZoneInfo("UTC"))


ACCOUNTS = [account("calltouch", "site_id", 41100 + n, f"site-{n}") for n in range(40)]


def test_shards_partition_the_accounts_stably():
    chosen = [selected(ACCOUNTS, parse_selection({"shard": f"{i}/4"})) for i in (1, 2, 3, 4)]
    assert sorted(a.label for shard in chosen for a in shard) == sorted(a.label for a in ACCOUNTS)
    assert all(chosen), "40 accounts over 4 shards: every shard has some"
    # the hash depends on the account only, not on its position or the other accounts
    assert [shard_of(a, 4) for a in ACCOUNTS] == [shard_of(a, 4) for a in reversed(ACCOUNTS)][::-1]
    assert shard_of(ACCOUNTS[0], 4) == shard_of(account("calltouch", "site_id", 41100, "x"), 4)


def test_only_accounts_by_label_or_id_and_with_a_shard():
    pick = parse_selection({"only_accounts": ["site-3", "41105"]})
    assert [a.label for a in selected(ACCOUNTS, pick)] == ["site-3", "site-5"]
    both = parse_selection({"only_accounts": ["site-3", "41105"], "shard": "1/1"})
    assert [a.label for a in selected(ACCOUNTS, both)] == ["site-3", "site-5"]


@pytest.mark.parametrize("value", ["0/2", "3/2", "a/b", "1", "1/0", "-1/2"])
def test_bad_shard_names_the_setting(value):
    with pytest.raises(ConfigError, match="setting 'shard'"):
        parse_selection({"shard": value})


@pytest.mark.e2e
def test_two_shards_extract_disjoint_accounts_and_discovery_is_whole(sandbox, tmp_path):
    config = sandbox.config(callkeeper=None, comagic=None, end_date="2024-01-10")
    full = run_tap(config, tmp_path / "full", streams={"calltouch_calls"})
    assert full.returncode == 0, full.stderr[-2000:]
    sites = {r["site_id"] for r in full.records["calltouch_calls"]}
    assert len(sites) == 2

    per_shard = []
    for index in (1, 2):
        run = run_tap({**config, "shard": f"{index}/2"}, tmp_path / f"s{index}",
                      streams={"calltouch_calls"})
        assert run.returncode == 0, run.stderr[-2000:]
        per_shard.append(run)
    rows = [r for run in per_shard for r in run.records["calltouch_calls"]]
    assert sorted(r["callId"] for r in rows) == sorted(r["callId"] for r in
                                                       full.records["calltouch_calls"])
    for run in per_shard:  # each shard's state holds only its own accounts
        partitions = run.final_state["bookmarks"].get("calltouch_calls", {}).get("partitions", [])
        own = {r["site_id"] for r in run.records["calltouch_calls"]}
        assert {p["context"]["site_id"] for p in partitions} == own

    # discovery lists the same streams whatever the selection
    nobody = {**config, "only_accounts": [config["calltouch"]["sites"][0]["name"]], "shard": "1/1"}
    assert [s["tap_stream_id"] for s in discover(nobody, tmp_path)["streams"]] == \
        [s["tap_stream_id"] for s in discover(config, tmp_path)["streams"]]


@pytest.mark.e2e
def test_only_accounts_naming_no_account_is_a_config_error(sandbox, tmp_path):
    config = sandbox.config(only_accounts=["no-such-client"])
    result = subprocess.run([console_script("tap-calltrack"), "--config",
                             str(write_json(tmp_path / "c.json", config))],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "tap-calltrack: config error: setting 'only_accounts' names 1 account(s) that are "
        "not configured")
    assert "no-such-client" not in result.stderr


@pytest.mark.e2e
def test_one_account_of_one_vendor_leaves_the_other_vendors_quiet(sandbox, tmp_path):
    config = sandbox.config(end_date="2024-01-05",
                            only_accounts=[str(sandbox.config()["calltouch"]["sites"][1]["site_id"])])
    run = run_tap(config, tmp_path, streams={"calltouch_calls", "comagic_calls",
                                             "callkeeper_calls", "calls"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert set(run.records) == {"calltouch_calls", "calls"}
    assert {r["site_id"] for r in run.records["calltouch_calls"]} == {
        config["calltouch"]["sites"][1]["site_id"]}
    assert {r["vendor"] for r in run.records["calls"]} == {"calltouch"}

"""Which of the configured accounts this run extracts: by label or id, or a shard of them.

An agency runs one job per client (or per group of clients) with a state of its own; the
config can stay the same for every job, with only ``only_accounts`` or ``shard`` set per
job. Discovery is unaffected: the catalog always lists every configured vendor's streams.

A shard is chosen by a stable hash of the vendor and the account's partition context (the
Calltouch site id, the Comagic/CallKeeper account label), never by position, so adding an
account to the config moves no other account to another shard.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from singer_sdk import typing as th

from tap_calltrack.settings import Account, ConfigError

PROPERTIES = [
    th.Property(
        "only_accounts",
        th.ArrayType(th.StringType),
        description="Extract only these accounts: labels (`name`) or ids (Calltouch "
        "site_id). Unset: every configured account. Discovery is unaffected.",
    ),
    th.Property(
        "shard",
        th.StringType,
        description="Extract only shard i of N of the configured accounts, as \"i/N\" "
        "(1 <= i <= N), chosen by a stable hash of each account's id; one job per shard "
        "with its own state. Combines with only_accounts.",
        examples=["1/4"],
    ),
]


@dataclass(frozen=True)
class AccountSelection:
    names: frozenset[str] | None
    shard: tuple[int, int] | None  # (index from 1, count)

    def selects(self, account: Account) -> bool:
        if self.names is not None and not self.names & account_names(account):
            return False
        return self.shard is None or shard_of(account, self.shard[1]) == self.shard[0]


def account_names(account: Account) -> frozenset[str]:
    """What ``only_accounts`` may call an account: its label and its partition ids."""
    return frozenset({account.label, *(str(value) for value in account.context.values())})


def shard_of(account: Account, count: int) -> int:
    """The account's shard, 1..count: stable across runs, machines and config order."""
    key = json.dumps([account.vendor, sorted(account.context.items())], default=str)
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % count + 1


def parse_selection(config: Mapping[str, Any]) -> AccountSelection:
    names = config.get("only_accounts")
    if names is not None and (not isinstance(names, list)
                              or not all(isinstance(name, str | int) for name in names)):
        raise ConfigError("only_accounts", "must be a list of account labels or ids")
    return AccountSelection(
        names=None if names is None else frozenset(str(name) for name in names),
        shard=parse_shard(config.get("shard")),
    )


def parse_shard(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    index, _, count = str(value).partition("/")
    if not (index.strip().isdigit() and count.strip().isdigit()):
        raise ConfigError("shard", "must be \"i/N\" with whole numbers, e.g. \"1/4\"")
    shard = int(index), int(count)
    if not 1 <= shard[0] <= shard[1]:
        raise ConfigError("shard", "must be \"i/N\" with 1 <= i <= N")
    return shard


def selected(accounts: list[Account], selection: AccountSelection) -> list[Account]:
    return [account for account in accounts if selection.selects(account)]

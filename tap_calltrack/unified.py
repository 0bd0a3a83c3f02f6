"""The unified ``calls`` stream: every call of every vendor in one documented shape (the
mapping is :mod:`tap_calltrack.call_mapping`; the README's table documents it)."""

from __future__ import annotations

from typing import Any

from singer_sdk import SchemaDirectory, StreamSchema

from tap_calltrack import schema_files
from tap_calltrack.call_mapping import to_unified_row
from tap_calltrack.fanout import CallParticipant, CallsFeed
from tap_calltrack.runtime import VendorRuntime
from tap_calltrack.settings import Account


class UnifiedCallsStream(CallParticipant):
    """``calls``: one row per call of every configured vendor."""

    name = "calls"
    vendor = "unified"
    primary_keys = ("vendor", "account", "call_id")
    replication_key = "started_at"
    schema = StreamSchema(SchemaDirectory(schema_files.root()), key="calls")

    def __init__(self, tap: Any, runtime: VendorRuntime, vendors: list[VendorRuntime],
                 **kwargs: Any) -> None:
        self._feeds = [vendor.shared(CallsFeed) for vendor in vendors]
        super().__init__(tap, runtime, **kwargs)

    def feeds(self) -> list[CallsFeed]:
        """Every configured vendor's calls."""
        return self._feeds

    @property
    def url_base(self) -> str:
        return ""

    @property
    def accounts(self) -> list[Account]:
        return [account for feed in self._feeds if feed.source is not None
                for account in feed.source.call_accounts()]

    def call_accounts(self) -> list[Account]:
        return self.accounts

    def context_for(self, account: Account) -> dict[str, Any]:
        return {"vendor": account.vendor, "account": account.label}

    @property
    def partitions(self) -> list[dict[str, Any]] | None:
        return [self.context_for(account) for account in self.accounts]

    def account_for(self, context: Any) -> Account:
        for account in self.accounts:
            if self.context_for(account) == dict(context or {}):
                return account
        raise LookupError(f"calls: no configured account matches {context}")

    def rows_from_calls(self, calls: list[dict[str, Any]], account: Account
                        ) -> list[dict[str, Any]]:
        stream = f"{account.vendor}_calls"
        return [row for row in (to_unified_row(stream, call, account.label) for call in calls)
                if row is not None]

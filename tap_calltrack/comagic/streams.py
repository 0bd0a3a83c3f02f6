"""Comagic / UIS streams: mostly declarations over the bases of client.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from tap_calltrack.base import vendor_schema
from tap_calltrack.comagic.accounts import CUSTOMER_USER_FIELDS, Scope
from tap_calltrack.comagic.client import (
    ClientReportStream,
    ComagicStream,
    DimensionStream,
    Task,
    refused_fields,
)
from tap_calltrack.fanout import CallSource
from tap_calltrack.recordings import RecordingRef, recording_path, safe_name, url_part
from tap_calltrack.recordings import RecordingsStream as RecordingsStreamBase
from tap_calltrack.settings import Account
from tap_calltrack.windows import Window, canonical_utc, local_midnight


class AccountStream(ComagicStream):
    """get.account of each configured account (asked once per run, shared with the others)."""

    name = "comagic_account"
    method = "get.account"
    primary_keys = ("app_id",)
    schema = vendor_schema("comagic", "account")

    def records_for(self, account: Account, context: Mapping[str, Any] | None
                    ) -> Iterator[dict[str, Any]]:
        yield {**self.comagic.account_info(account), "account": account.label}


class CustomerUsersStream(ComagicStream):
    """An agency's clients (the old getClients); nothing for a direct account."""

    name = "comagic_customer_users"
    method = "get.customer_users"
    primary_keys = ("app_id", "id")
    schema = vendor_schema("comagic", "customer_users")

    def records_for(self, account: Account, context: Mapping[str, Any] | None
                    ) -> Iterator[dict[str, Any]]:
        app_id = self.comagic.account_info(account).get("app_id")
        for row in self.comagic.customer_users(account) or []:
            yield {"account": account.label, "app_id": app_id,
                   **{key: row.get(key) for key in CUSTOMER_USER_FIELDS}}


class SitesStream(DimensionStream):
    name = "comagic_sites"
    method = "get.sites"
    primary_keys = ("app_id", "id")
    schema = vendor_schema("comagic", "sites")


class TagsStream(DimensionStream):
    name = "comagic_tags"
    method = "get.tags"
    primary_keys = ("app_id", "id")
    schema = vendor_schema("comagic", "tags")


class CampaignsStream(DimensionStream):
    name = "comagic_campaigns"
    method = "get.campaigns"
    primary_keys = ("app_id", "id")
    schema = vendor_schema("comagic", "campaigns")


def talk_url(media_url: str, communication_id: Any, record_id: Any) -> str:
    """An mp3 record's link (docs/notes.md 2.5)."""
    ids = (url_part(value) for value in (communication_id, record_id))
    return f"{media_url}/system/media/talk/{'/'.join(ids)}/"


class CallsStream(CallSource, ClientReportStream):
    """Call sessions (the old getCallStats) with links to their mp3 records.

    The vendor's call source for the unified ``calls`` stream and the recordings (see
    fanout.py): its partitions, each direct account and each agency client, are the
    fan-out's units, so every participant keeps a bookmark per client too."""

    name = "comagic_calls"
    method = "get.calls_report"
    primary_keys = ("app_id", "id")
    schema = vendor_schema("comagic", "calls")
    own_fields = frozenset({"record_urls"})
    needed_fields = frozenset({"id", "start_time"})  # the key and the bookmark

    def wants_every_field(self) -> bool:
        """The unified and recordings streams map more than this stream's selection."""
        others = [stream for stream in self.feed_of(self.vendor).participants()
                  if stream is not self]
        return bool(others) or not self.selected

    def call_accounts(self) -> list[Account]:
        """Each direct account and each agency client, in its own zone."""
        runtime = self.comagic
        return [scope.account for account in self.accounts
                for scope in runtime.partition_scopes(account)]

    def media_url(self, account: Account) -> str:
        return str(account.options.get("media_url") or self.setting("media_url")).rstrip("/")

    def normalise(self, row: dict[str, Any], scope: Scope) -> None:
        super().normalise(row, scope)
        record_ids_as_text(row)
        media = self.media_url(scope.account)
        row["record_urls"] = [talk_url(media, row.get("communication_id"), record_id)
                              for record_id in row.get("call_records") or []]

    def recording_refs(self, record: dict[str, Any], account: Account) -> list[RecordingRef]:
        """The mp3 records of one emitted comagic_calls record, to download."""
        communication_id, record_ids = record.get("communication_id"), record.get("call_records")
        if communication_id is None or not isinstance(record_ids, list):
            return []
        media = self.media_url(account)
        app_id = record.get("app_id")
        return [RecordingRef(
            relative_path=recording_path("comagic", safe_name(app_id), communication_id,
                                         record_id),
            url=talk_url(media, communication_id, record_id),
            record={"app_id": app_id, "user_id": record.get("user_id"), "id": record.get("id"),
                    "communication_id": communication_id, "record_id": record_id,
                    "start_time_utc": record.get("start_time_utc")},
        ) for record_id in record_ids if record_id is not None]


def record_ids_as_text(row: dict[str, Any]) -> None:
    """Record ids are strings (hex digests in zfullio/comagic-service's ``[]string``); the
    docs do not type them, so numeric ids become their decimal text: one column type
    (docs/fidelity.md)."""
    for name in ("call_records", "wav_call_records"):
        ids = row.get(name)
        if isinstance(ids, list):
            row[name] = [str(value) if isinstance(value, int) and not isinstance(value, bool)
                         else value for value in ids]


class CallLegsStream(ClientReportStream):
    name = "comagic_call_legs"
    method = "get.call_legs_report"
    primary_keys = ("app_id", "id")
    schema = vendor_schema("comagic", "call_legs")
    needed_fields = frozenset({"id", "start_time"})

    def normalise(self, row: dict[str, Any], scope: Scope) -> None:
        super().normalise(row, scope)
        record_ids_as_text(row)


class DateTimeReport(ClientReportStream):
    date_field = "date_time"
    replication_key = "date_time_utc"
    needed_fields = frozenset({"id", "date_time"})


class CommunicationsStream(DateTimeReport):
    """Every communication; ``id`` is unique only with ``communication_type``
    (docs/notes.md 2.6)."""

    name = "comagic_communications"
    method = "get.communications_report"
    primary_keys = ("app_id", "communication_type", "id")
    schema = vendor_schema("comagic", "communications")
    needed_fields = frozenset({"id", "date_time", "communication_type"})


class GoalsStream(DateTimeReport):
    """Goals; ``id``, ``date_time`` and ``name`` are not even default fields (quirk 15)."""

    name = "comagic_goals"
    method = "get.goals_report"
    primary_keys = ("app_id", "id")
    schema = vendor_schema("comagic", "goals")


def phone_as_text(row: dict[str, Any]) -> None:
    """``visitor_phone_number`` is typed a number in these reports only (docs/notes.md quirk 24)."""
    value = row.get("visitor_phone_number")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        row["visitor_phone_number"] = str(int(value))


class OfflineMessagesStream(DateTimeReport):
    name = "comagic_offline_messages"
    method = "get.offline_messages_report"
    primary_keys = ("app_id", "id")
    schema = vendor_schema("comagic", "offline_messages")

    def normalise(self, row: dict[str, Any], scope: Scope) -> None:
        super().normalise(row, scope)
        phone_as_text(row)


class ChatsStream(DateTimeReport):
    name = "comagic_chats"
    method = "get.chats_report"
    primary_keys = ("app_id", "id")
    schema = vendor_schema("comagic", "chats")

    def normalise(self, row: dict[str, Any], scope: Scope) -> None:
        super().normalise(row, scope)
        phone_as_text(row)


class CampaignDailyStatStream(ClientReportStream):
    """Per site, campaign and day (the old getSummaryStats); ``site_id`` is required, so
    each window is asked once per site of the account or client."""

    name = "comagic_campaign_daily_stat"
    method = "get.campaign_daily_stat"
    primary_keys = ("app_id", "site_id", "date", "dimension_key")
    schema = vendor_schema("comagic", "campaign_daily_stat")
    window_setting = "campaign_stat_window_days"
    window_default_days = 30
    date_field = "date"
    replication_key = "date_utc"
    own_fields = frozenset({"dimension_key"})
    key_parts: ClassVar[tuple[str, ...]] = ("campaign_id", "banner_group_id", "keyword_id",
                                            "current_banner_id")
    #: The key (date, site_id, dimension_key) depends on these; nothing else is needed.
    needed_fields = frozenset({"date", "site_id", *key_parts})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._campain_spelling = False

    def vendor_fields(self) -> list[str]:
        """The docs' table says ``campaign_id``, their example ``campain_id`` (docs/notes.md quirk
        21): once the API refuses the first, the second is asked instead."""
        fields = super().vendor_fields()
        if self._campain_spelling:
            return ["campain_id" if name == "campaign_id" else name for name in fields]
        return fields

    def adjust(self, answer: Any, sent: Mapping[str, Any], what: str) -> None:
        refused = refused_fields(answer.error or {}, list(sent.get("fields") or []))
        if answer.mnemonic == "unexpected_parameters" and "campaign_id" in refused:
            if not self._campain_spelling:  # requests in flight may repeat the refusal
                self._campain_spelling = True
                self.logger.warning("%s: the API does not know field 'campaign_id'; asking "
                                    "'campain_id' (the docs' example spelling)", self.name)
            return
        super().adjust(answer, sent, what)

    def sort_fields(self) -> tuple[str, ...]:
        return ("date",)

    def tasks_for(self, scopes: list[Scope], windows: list[Window]) -> list[Task]:
        tasks = []
        for window in windows:
            per_window = [Task(window, scope, site) for scope in scopes
                          for site in self.comagic.site_ids(scope)]
            for task in per_window[:-1]:
                task.closes_window = False
            tasks += per_window
        return tasks

    def task_params(self, task: Task, piece: Window) -> dict[str, Any]:
        return {**super().task_params(task, piece), "site_id": task.site_id}

    def normalise(self, row: dict[str, Any], scope: Scope) -> None:
        if "campain_id" in row:  # the doc's example spells it so (docs/notes.md quirk 21)
            campaign_id = row.pop("campain_id")
            if row.get("campaign_id") is None:
                row["campaign_id"] = campaign_id
        day = local_date(row.get("date"))
        row["date_utc"] = (canonical_utc(local_midnight(day, scope.account.timezone))
                           if day else None)
        row["dimension_key"] = ":".join("" if row.get(part) is None else str(row[part])
                                        for part in self.key_parts)


def local_date(text: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(text)[:10])
    except ValueError:
        return None


class RecordingsStream(RecordingsStreamBase):
    """Call records of the calls of the run (the old class's record links, downloaded)."""

    name = "comagic_recordings"
    vendor = "comagic"
    primary_keys = ("app_id", "communication_id", "record_id")
    replication_key = "start_time_utc"
    schema = vendor_schema("comagic", "recordings")


STREAMS: list[type] = [
    AccountStream, CustomerUsersStream, SitesStream, TagsStream, CampaignsStream, CallsStream,
    CallLegsStream, CommunicationsStream, GoalsStream, OfflineMessagesStream, ChatsStream,
    CampaignDailyStatStream, RecordingsStream,
]

"""Calltouch streams: mostly declarations over :class:`CalltouchStream`."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from tap_calltrack.base import Page, vendor_schema
from tap_calltrack.calltouch.client import CT_DATETIME, CalltouchStream
from tap_calltrack.calltouch.settings import CALL_FILTERS
from tap_calltrack.fanout import CallSource
from tap_calltrack.http import StreamUnavailable
from tap_calltrack.normalize import coerce, to_int
from tap_calltrack.recordings import RecordingRef, recording_path, safe_name, url_part
from tap_calltrack.recordings import RecordingsStream as RecordingsStreamBase
from tap_calltrack.settings import Account
from tap_calltrack.windows import (
    Window,
    canonical_utc,
    epoch_ms_to_utc,
    iter_days,
    local_midnight,
    local_to_utc,
)

RESTAPI = "/calls-service/RestAPI"


def ct_local_to_utc(value: object, tz: ZoneInfo) -> str | None:
    """A Calltouch local date-time -> canonical UTC; None when missing, not text or unparseable."""
    return local_to_utc(value, CT_DATETIME, tz) if isinstance(value, str) else None


class CallsStream(CallSource, CalltouchStream):
    """Calls journal, paged, with the configured enrichments and filters."""

    name = "calltouch_calls"
    path = RESTAPI + "/{site_id}/calls-diary/calls"
    primary_keys = ("site_id", "callId")
    schema = vendor_schema("calltouch", "calls")
    window_setting = "calls_window_days"

    def extra_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {**self.flags("call_enrichments"), **self.attribution()}
        if self.setting("bind_to"):
            params["bindTo"] = self.setting("bind_to")
        params.update({param: "true" for key, param in CALL_FILTERS.items() if self.setting(key)})
        return params

    def normalise(self, row: dict[str, Any], account: Account) -> None:
        coerce(row, bools=("successful", "uniqueCall", "targetCall", "uniqTargetCall",
                           "callbackCall"),
               ints=("callId", "sessionId", "duration", "waitingConnect", "timestamp",
                     "ctClientId", "ctGlobalId", "attribution"))
        fold_site_id(row)
        row["date_utc"] = ct_local_to_utc(row.get("date"), account.timezone)

    def recording_refs(self, record: dict[str, Any], account: Account) -> list[RecordingRef]:
        """Answered calls with talk time have a recording (others answer 404 anyway)."""
        if record.get("successful") is not True or not to_int(record.get("duration")):
            return []
        site_id, call_id = account.context["site_id"], record.get("callId")
        if call_id is None or call_id == "":
            return []
        return [RecordingRef(
            relative_path=recording_path("calltouch", safe_name(site_id), call_id),
            url=f"{self.url_base.rstrip('/')}{RESTAPI}/{url_part(site_id)}"
                f"/calls-diary/calls/{url_part(call_id)}/download",
            record={"site_id": site_id, "callId": call_id, "date_utc": record.get("date_utc")},
            params={"clientApiId": account.secrets["api_token"]},
        )]


def fold_site_id(row: dict[str, Any]) -> None:
    """The vendor's ``siteId`` becomes the tap's ``site_id``: loaders that snake-case names
    would make both columns ``site_id`` (docs/fidelity.md). The vendor's value wins when it
    is an id (it is the site the row belongs to); the configured site otherwise."""
    if "siteId" not in row:
        return
    vendor = to_int(row.pop("siteId"))
    if isinstance(vendor, int) and not isinstance(vendor, bool):
        row["site_id"] = vendor


class RecordingsStream(RecordingsStreamBase):
    """The original client's captureRecords, for every call of the run."""

    name = "calltouch_recordings"
    vendor = "calltouch"
    primary_keys = ("site_id", "callId")
    replication_key = "date_utc"
    schema = vendor_schema("calltouch", "recordings")


class RequestsStream(CalltouchStream):
    """Leads journal: a bare array per request, no paging, hence small windows."""

    name = "calltouch_requests"
    path = RESTAPI + "/requests"
    primary_keys = ("site_id", "requestId")
    schema = vendor_schema("calltouch", "requests")
    window_setting = "leads_window_days"
    window_default_days = 1
    date_param_format = "%m/%d/%Y"  # leads only: US order (docs/notes.md quirk 1)
    paged = False

    def url_params(self, account: Account, window: Window, page: Any) -> dict[str, Any]:
        return {**super().url_params(account, window, page),
                "siteId": account.context["site_id"]}

    def extra_params(self) -> dict[str, Any]:
        return {**self.flags("lead_enrichments"), **self.attribution()}

    def normalise(self, row: dict[str, Any], account: Account) -> None:
        coerce(row, bools=("uniqueRequest", "targetRequest", "uniqTargetRequest"),
               ints=("requestId", "ctClientId", "ctGlobalId"))
        fold_site_id(row)
        row["date_utc"] = epoch_ms_to_utc(row.get("date"))


class OrdersStream(CalltouchStream):
    """Deals journal, paged, every origin (otherwise only deals made through the API)."""

    name = "calltouch_orders"
    path = RESTAPI + "/{site_id}/orders-diary/orders"
    primary_keys = ("site_id", "orderNumber")
    schema = vendor_schema("calltouch", "orders")
    window_setting = "orders_window_days"

    def extra_params(self) -> dict[str, Any]:
        return {"withOrdersTags": "true", "withAllOrderOrigins": "true"}

    def normalise(self, row: dict[str, Any], account: Account) -> None:
        coerce(row, bools=("isDeleted",))
        if row.get("orderNumber") is not None:
            row["orderNumber"] = str(row["orderNumber"])
        row["date_utc"] = ct_local_to_utc(row.get("orderDate"), account.timezone)


def parse_stat_day(key: str) -> dt.date:
    """Day keys of count-by-date: dd/mm/yyyy (the API's own order) or ISO."""
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(key, fmt).date()
        except ValueError:
            continue
    raise StreamUnavailable(f"count-by-date answered an unknown day format ({key!r})")


class StatisticsStream(CalltouchStream):
    """Base of the legacy aggregate endpoints (the original client's captureStats)."""

    path = RESTAPI + "/statistics/{site_id}/calls/"
    token_param = "access_token"  # these endpoints take the same token under another name
    paged = False
    skip_group = "calltouch_statistics"
    window_setting = "stats_window_days"

    def normalise(self, row: dict[str, Any], account: Account) -> None:
        day = dt.date.fromisoformat(row["date"])
        row["date_utc"] = canonical_utc(local_midnight(day, account.timezone))


class DailyStatsStream(StatisticsStream):
    """Calls and search-engine calls per day; the window's total-count cross-checks them."""

    name = "calltouch_daily_stats"
    primary_keys = ("site_id", "date")
    schema = vendor_schema("calltouch", "daily_stats")
    window_default_days = 7

    def fetch_page(self, account: Account, window: Window, token: Any) -> Page:
        response, by_date = self.statistic(account, window, "count-by-date")
        _, seo_by_date = self.statistic(account, window, "seo/count-by-date")
        _, total = self.statistic(account, window, "total-count")
        calls = {parse_stat_day(k): to_int(v) for k, v in (by_date or {}).items()}
        seo = {parse_stat_day(k): to_int(v) for k, v in (seo_by_date or {}).items()}
        rows = [{"date": day.isoformat(), "calls": calls.get(day, 0), "seo_calls": seo.get(day, 0)}
                for day in iter_days(window.first_day, window.last_day)]
        if isinstance(total, int) and total != sum(calls.values()):
            self.logger.warning("%s: total-count %s differs from the sum by day %s",
                                self.describe(account, window), total, sum(calls.values()))
        return Page(response, by_date, self.normalised(rows, account), window)


class KeywordStatsStream(StatisticsStream):
    """Search-engine calls per phrase, per day."""

    name = "calltouch_keyword_stats"
    primary_keys = ("site_id", "date", "keyword")
    schema = vendor_schema("calltouch", "keyword_stats")
    window_days_fixed: ClassVar[int] = 1

    def window_days(self, account: Account) -> int:
        # One-day windows: the endpoint sums over the requested range, and rows keyed by
        # day stay the same whatever range a run happens to start from.
        return self.window_days_fixed

    def fetch_page(self, account: Account, window: Window, token: Any) -> Page:
        response, counts = self.statistic(account, window, "seo/count-by-keywords")
        rows = [{"date": window.first_day.isoformat(), "keyword": str(keyword),
                 "calls": to_int(calls)} for keyword, calls in (counts or {}).items()]
        return Page(response, counts, self.normalised(rows, account), window)


STREAMS: list[type] = [
    CallsStream, RequestsStream, OrdersStream, DailyStatsStream, KeywordStatsStream,
    RecordingsStream,
]

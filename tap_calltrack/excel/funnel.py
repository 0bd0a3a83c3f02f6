"""The Funnel: calls -> unique-target calls -> leads -> deals -> revenue, per month and campaign.

``funnel_fact`` is the whole rule, one record at a time and free of side effects, so that a
warehouse can compute the same rows in SQL (docs/excel.md, "Funnel" has the rule as a
table): each record of a funnel stream contributes one ``FunnelFact``, and the Funnel rows
are the facts summed per (month, source, medium, campaign).

What each vendor contributes:
- calls and unique-target calls: every vendor, from the unified ``calls`` stream (or, when
  the run has no ``calls`` stream, from the vendor call streams mapped by
  ``tap_calltrack.call_mapping.to_unified_row``);
- leads: Calltouch (``calltouch_requests``);
- deals and revenue: Calltouch deals (``calltouch_orders``: ``completedAmount``; deleted
  deals are left out) and Comagic calls that carry a sale (``comagic_calls``: ``sale_date``
  or ``sale_cost``; revenue ``sale_cost``). CallKeeper has neither leads nor deals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from tap_calltrack.call_mapping import clean, to_unified_row

CALLS_STREAM = "calls"
VENDOR_CALL_STREAMS = ("calltouch_calls", "comagic_calls", "callkeeper_calls")
LEADS_STREAM = "calltouch_requests"
DEALS_STREAM = "calltouch_orders"
SALES_STREAM = "comagic_calls"
FUNNEL_STREAMS = frozenset({CALLS_STREAM, *VENDOR_CALL_STREAMS, LEADS_STREAM, DEALS_STREAM})
MEASURES = ("Calls", "Unique-target calls", "Leads", "Deals", "Revenue")
_UTC = dt.timezone.utc

FunnelKey = tuple[dt.date | None, str | None, str | None, str | None]


@dataclass(frozen=True)
class FunnelFact:
    """One record's contribution to the Funnel row of its month, source, medium, campaign."""

    month: dt.date | None  # the first day of the month in the report's zone
    source: str | None
    medium: str | None
    campaign: str | None
    calls: int = 0
    unique_target_calls: int = 0
    leads: int = 0
    deals: int = 0
    revenue: float = 0.0

    @property
    def key(self) -> FunnelKey:
        """The Funnel row this fact adds to."""
        return (self.month, self.source, self.medium, self.campaign)


def local_day(utc_text: Any, tz: ZoneInfo) -> dt.date | None:
    """The local day in ``tz`` of an ISO-8601 instant (no offset = UTC), or None."""
    if type(utc_text) is not str:
        return None
    try:
        moment = dt.datetime.fromisoformat(utc_text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_UTC)
        return moment.astimezone(tz).date()
    except (ValueError, OverflowError):
        return None


def month_of(utc_text: Any, tz: ZoneInfo) -> dt.date | None:
    """The first day of the local month of an ISO-8601 instant (no offset = UTC), or None."""
    day = local_day(utc_text, tz)
    return None if day is None else day.replace(day=1)


def _label(value: Any) -> str | None:
    value = clean(value)
    return None if value is None else str(value)


def _amount(value: Any) -> float:
    return float(value) if type(value) in (int, float) and value == value else 0.0


def _is_true(value: Any) -> bool:
    return value is True or (type(value) is str and value.strip().lower() == "true")


def _call_fact(row: Mapping[str, Any], tz: ZoneInfo) -> FunnelFact:
    return FunnelFact(
        month_of(row.get("started_at"), tz),
        _label(row.get("source")),
        _label(row.get("medium")),
        _label(row.get("utm_campaign")),
        calls=1,
        unique_target_calls=int(row.get("is_unique_target") is True),
    )


def _nested(record: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = record.get(name)
    return value if isinstance(value, Mapping) else {}


def _attributed_fact(record: Mapping[str, Any], tz: ZoneInfo, attribution: str,
                     **counts: Any) -> FunnelFact:
    """A Calltouch lead or deal, attributed by its ``session`` or ``visit`` object."""
    origin = _nested(record, attribution)
    return FunnelFact(
        month_of(record.get("date_utc"), tz),
        _label(origin.get("source")),
        _label(origin.get("medium")),
        _label(origin.get("utmCampaign")),
        **counts,
    )


def _lead_fact(record: Mapping[str, Any], tz: ZoneInfo) -> FunnelFact:
    return _attributed_fact(record, tz, "session", leads=1)


def _deal_fact(record: Mapping[str, Any], tz: ZoneInfo) -> FunnelFact | None:
    if _is_true(record.get("isDeleted")):
        return None
    return _attributed_fact(record, tz, "visit", deals=1,
                            revenue=_amount(record.get("completedAmount")))


def has_sale(record: Mapping[str, Any]) -> bool:
    """A Comagic call that carries a sale (a deal)."""
    return record.get("sale_cost") is not None or clean(record.get("sale_date")) is not None


def funnel_fact(
    stream: str, record: Mapping[str, Any], tz: ZoneInfo, *, calls_stream_present: bool
) -> FunnelFact | None:
    """What one record adds to the Funnel, or None.

    ``calls_stream_present``: the run carries the unified ``calls`` stream, so vendor call
    records add no calls (they would be counted twice) — a Comagic sale still adds a deal.
    """
    if stream == CALLS_STREAM:
        return _call_fact(record, tz)
    if stream == LEADS_STREAM:
        return _lead_fact(record, tz)
    if stream == DEALS_STREAM:
        return _deal_fact(record, tz)
    if stream not in VENDOR_CALL_STREAMS:
        return None
    if calls_stream_present and not (stream == SALES_STREAM and has_sale(record)):
        return None
    row = to_unified_row(stream, dict(record))
    if row is None:
        return None
    fact = _call_fact(row, tz)
    if stream == SALES_STREAM and has_sale(record):
        revenue = _amount(record.get("sale_cost"))
        if calls_stream_present:
            return FunnelFact(*fact.key, deals=1, revenue=revenue)
        return FunnelFact(*fact.key, calls=1, unique_target_calls=fact.unique_target_calls,
                          deals=1, revenue=revenue)
    return fact


class FunnelCounts:
    """Funnel facts summed per row; vendor calls are held apart until the run shows
    whether a ``calls`` stream carries them (the last word is ``rows``)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.streams: set[str] = set()
        self._with_calls: dict[FunnelKey, list[float]] = {}
        self._without_calls: dict[FunnelKey, list[float]] = {}
        self.calls_stream_present = False

    def add(self, stream: str, record: Mapping[str, Any]) -> None:
        """Count one record of a funnel stream."""
        if stream == CALLS_STREAM:
            self.calls_stream_present = True
        self.streams.add(stream)
        # Both readings are kept until the end: the calls stream may come after the others.
        for present, groups in ((True, self._with_calls), (False, self._without_calls)):
            if stream == CALLS_STREAM and not present:
                continue
            fact = funnel_fact(stream, record, self.tz, calls_stream_present=present)
            if fact is not None:
                _add(groups, fact)

    def groups(self) -> dict[FunnelKey, list[float]]:
        """The summed measures per Funnel row."""
        return self._with_calls if self.calls_stream_present else self._without_calls

    def rows(self) -> Iterator[list[Any]]:
        """Funnel rows sorted by month, source, medium, campaign (unknowns last)."""
        groups = self.groups()
        for key in sorted(groups, key=lambda k: tuple((p is None, p or "") for p in k)):
            calls, unique, leads, deals, revenue = groups[key]
            yield [*key, int(calls), int(unique), int(leads), int(deals), revenue]


def _add(groups: dict[FunnelKey, list[float]], fact: FunnelFact) -> None:
    counts = groups.get(fact.key)
    if counts is None:
        counts = groups[fact.key] = [0, 0, 0, 0, 0.0]
    counts[0] += fact.calls
    counts[1] += fact.unique_target_calls
    counts[2] += fact.leads
    counts[3] += fact.deals
    counts[4] += fact.revenue

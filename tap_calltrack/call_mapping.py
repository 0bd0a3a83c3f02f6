"""The unified call row: every call of every vendor in one documented shape.

One small pure function per vendor maps a (normalised) vendor call record to a row; the
README's mapping table documents each column's source field and rule. Placeholders such
as "<не указано>", "(not set)", "-" and empty strings become null here; the vendor
streams keep them raw.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

PLACEHOLDERS = frozenset({"", "-", "—", "<не указано>", "<не заполнено>", "не указано",
                          "(not set)", "(not provided)", "not set", "n/a", "null"})
_NOT_DIGITS = re.compile(r"\D+")


def clean(value: Any) -> Any:
    """None for placeholders and blank strings; strings trimmed; other values as they are."""
    if isinstance(value, str):
        text = value.strip()
        return None if text.lower() in PLACEHOLDERS else text
    return value


def phone(value: Any) -> str | None:
    """E.164 digits: 8 (916) 123-45-67 -> 79161234567; a 10-digit Russian number gets 7."""
    if value is None or isinstance(value, bool):
        return None
    digits = _NOT_DIGITS.sub("", str(value))
    if len(digits) == 11 and digits[0] == "8":
        digits = "7" + digits[1:]
    elif len(digits) == 10 and digits[0] == "9":
        digits = "7" + digits
    return digits or None


def whole(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def domain_of(url: Any) -> str | None:
    url = clean(url)
    if not url:
        return None
    match = re.match(r"^(?:[a-z]+://)?([^/?#]+)", url)
    return match.group(1) if match else None


def tag_names(groups: Iterable[Any] | None, key: str = "names") -> list[str]:
    names: list[str] = []
    for group in groups or []:
        if isinstance(group, dict):
            value = group.get(key)
            names += [str(n) for n in value] if isinstance(value, list) else [str(value)]
        elif isinstance(group, str):
            names.append(group)
    return [name for name in names if clean(name)]


def calltouch_row(record: dict[str, Any], account: str) -> dict[str, Any]:
    duration, wait = whole(record.get("duration")), whole(record.get("waitingConnect"))
    answered = flag(record.get("successful"))
    talk = None if duration is None else (max(duration - (wait or 0), 0) if answered else 0)
    return {
        "vendor": "calltouch", "account": account, "call_id": str(record["callId"]),
        "started_at": record.get("date_utc"),
        "duration_s": duration, "talk_duration_s": talk, "wait_duration_s": wait,
        "caller_number": phone(record.get("callerNumber")),
        "tracking_number": phone(record.get("phoneNumber")),
        "direction": "in", "answered": answered,
        "is_unique": flag(record.get("uniqueCall")), "is_target": flag(record.get("targetCall")),
        "is_unique_target": flag(record.get("uniqTargetCall")),
        "is_callback": flag(record.get("callbackCall")),
        "source": clean(record.get("source")), "medium": clean(record.get("medium")),
        "utm_source": clean(record.get("utmSource")), "utm_medium": clean(record.get("utmMedium")),
        "utm_campaign": clean(record.get("utmCampaign")),
        "utm_content": clean(record.get("utmContent")), "utm_term": clean(record.get("utmTerm")),
        "keyword": clean(record.get("keyword")), "referrer": clean(record.get("ref")),
        "landing_url": clean(record.get("url")), "city": clean(record.get("city")),
        "region": None, "country": None, "device": clean(record.get("device")),
        "tags": tag_names(record.get("callTags")),
        "record_url": record.get("record_url"),
    }


def comagic_row(record: dict[str, Any], account: str) -> dict[str, Any]:
    attributes = record.get("attributes") or []
    utm_source, utm_medium = clean(record.get("utm_source")), clean(record.get("utm_medium"))
    links = record.get("record_urls") or []
    return {
        "vendor": "comagic", "account": account, "call_id": str(record["id"]),
        "started_at": record.get("start_time_utc"),
        "duration_s": whole(record.get("total_duration")),
        "talk_duration_s": whole(record.get("talk_duration")),
        "wait_duration_s": whole(record.get("wait_duration")),
        "caller_number": phone(record.get("contact_phone_number")),
        "tracking_number": phone(record.get("virtual_phone_number")),
        "direction": clean(record.get("direction")),
        "answered": None if record.get("is_lost") is None else not record["is_lost"],
        "is_unique": "primary" in attributes if attributes else None,
        "is_target": "target" in attributes if attributes else None,
        "is_unique_target": ("primary" in attributes and "target" in attributes)
        if attributes else None,
        "is_callback": record.get("source") == "sitephone" if record.get("source") else None,
        "source": utm_source or clean(record.get("search_engine"))
        or clean(record.get("referrer_domain")) or clean(record.get("source_name")),
        "medium": utm_medium or clean(record.get("channel")),
        "utm_source": utm_source, "utm_medium": utm_medium,
        "utm_campaign": clean(record.get("utm_campaign")),
        "utm_content": clean(record.get("utm_content")), "utm_term": clean(record.get("utm_term")),
        "keyword": clean(record.get("search_query")) or clean(record.get("utm_term")),
        "referrer": clean(record.get("referrer")),
        "landing_url": clean(record.get("entrance_page"))
        or clean(record.get("communication_page_url")),
        "city": clean(record.get("visitor_city")), "region": clean(record.get("visitor_region")),
        "country": clean(record.get("visitor_country")),
        "device": clean(record.get("visitor_device")),
        "tags": tag_names(record.get("tags"), key="tag_name"),
        "record_url": links[0] if links else None,
    }


def callkeeper_row(record: dict[str, Any], account: str) -> dict[str, Any]:
    callback = record.get("serviceType") == "callback"
    duration = whole(record.get("duration"))
    status = record.get("status")
    return {
        "vendor": "callkeeper", "account": account,
        "call_id": str(record.get("universalId") or record.get("callId")),
        "started_at": record.get("call_time_utc"),
        "duration_s": duration, "talk_duration_s": duration, "wait_duration_s": None,
        "caller_number": phone(clean(record.get("clientNumber") or record.get("clientPhone"))),
        "tracking_number": phone(clean(record.get("callerIdToManager")
                                       or record.get("routePhone"))),
        "direction": "out" if callback else "in",
        "answered": status == "success" if status in ("success", "fail") else None,
        "is_unique": flag(record.get("unique")), "is_target": flag(record.get("target")),
        "is_unique_target": flag(record.get("uniqueTarget")),
        "is_callback": callback if record.get("serviceType") else None,
        "source": clean(record.get("utm_source") or record.get("utmSource"))
        or domain_of(record.get("referrer")),
        "medium": clean(record.get("utm_medium") or record.get("utmMedium")),
        "utm_source": clean(record.get("utm_source") or record.get("utmSource")),
        "utm_medium": clean(record.get("utm_medium") or record.get("utmMedium")),
        "utm_campaign": clean(record.get("utm_campaign") or record.get("utmCampaign")),
        "utm_content": clean(record.get("utm_content") or record.get("utmContent")),
        "utm_term": clean(record.get("utm_term") or record.get("utmTerm")),
        "keyword": clean(record.get("utm_term") or record.get("utmTerm")),
        "referrer": clean(record.get("referrer")), "landing_url": clean(record.get("entryPoint")),
        "city": clean(record.get("city")), "region": clean(record.get("region")),
        "country": clean(record.get("country")), "device": clean(record.get("device")),
        "tags": tag_names(record.get("tags")),
        "record_url": clean(record.get("recordUrl") or record.get("record")),
    }


MAPPERS: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "calltouch_calls": calltouch_row,
    "comagic_calls": comagic_row,
    "callkeeper_calls": callkeeper_row,
}


def fallback_account(stream: str, record: dict[str, Any]) -> str:
    """An account label from a vendor record alone (for targets that see only records)."""
    for key in ("account", "site_id", "app_id"):
        if record.get(key) not in (None, ""):
            return str(record[key])
    return stream.split("_", 1)[0]


def to_unified_row(stream: str, record: dict[str, Any], account: str | None = None
                   ) -> dict[str, Any] | None:
    """The unified row of one vendor call record; None for streams that are not calls."""
    mapper = MAPPERS.get(stream)
    if mapper is None:
        return None
    return mapper(record, account if account is not None else fallback_account(stream, record))

"""The ``calltouch`` config section: sites, throttle, windows, filters and enrichments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from singer_sdk import typing as th

from tap_calltrack.settings import (
    Account,
    ConfigError,
    check_bool,
    check_int,
    check_url,
    list_of_objects,
    optional_text,
    parse_timezone,
    require_text,
    section_of,
    vendor_limits_properties,
    window_days_property,
)

DEFAULT_API_URL = "https://api.calltouch.ru"
# 5 requests/s per IP is Calltouch's documented ceiling; 10 in flight keep it busy when
# answers are slow (the limiter, not the pool, sets the pace).
DEFAULT_LIMITS = (5.0, 10)  # requests per second, requests in flight
CALL_ENRICHMENTS = ["withCallTags", "withComments", "withOrders", "withMapVisits",
                    "withYandexDirect", "withGoogleAdwords"]
LEAD_ENRICHMENTS = ["withRequestTags", "withMapVisits", "withYandexDirect", "withGoogleAdwords",
                    "withAttrs", "withWidgetInfo", "withCustomFields", "withDcm"]
# setting -> the calls journal's filter parameter (the original client's captureCalls)
CALL_FILTERS = {"target_only": "targetOnly", "unique_only": "uniqueOnly",
                "unique_target_only": "uniqTargetOnly", "callback_only": "callbackOnly"}

SITE = th.ObjectType(
    th.Property("site_id", th.IntegerType, required=True,
                description="Calltouch site (cabinet) id, from Integrations > API."),
    th.Property("api_token", th.StringType, required=True, secret=True,
                description="The site's API token (clientApiId)."),
    th.Property("timezone", th.StringType, default="Europe/Moscow",
                description="IANA zone of the site's cabinet; the API's dates are in it."),
    th.Property("name", th.StringType,
                description="Label for logs, state and reports (default: the site id)."),
)

SETTINGS = th.Property(
    "calltouch",
    th.ObjectType(
        th.Property("api_url", th.StringType, default=DEFAULT_API_URL,
                    description="Calltouch API base URL."),
        th.Property("sites", th.ArrayType(SITE),
                    description="Calltouch sites to extract, each with its own token."),
        *vendor_limits_properties("Calltouch", *DEFAULT_LIMITS),
        window_days_property("calls_window_days", 7, "the calls journal"),
        window_days_property("leads_window_days", 1,
                             "leads (the leads export has no paging: keep windows small)"),
        window_days_property("orders_window_days", 7, "deals"),
        window_days_property("stats_window_days", 7, "daily and keyword statistics"),
        th.Property("call_enrichments", th.ArrayType(th.StringType), default=CALL_ENRICHMENTS,
                    description="Calls journal flags to request: " + ", ".join(CALL_ENRICHMENTS)
                    + ", withText, withDcm."),
        th.Property("lead_enrichments", th.ArrayType(th.StringType), default=LEAD_ENRICHMENTS,
                    description="Leads flags to request: " + ", ".join(LEAD_ENRICHMENTS) + "."),
        th.Property("attribution", th.IntegerType, allowed_values=[0, 1],
                    description="Attribution model of calls and leads: 0 last interaction, "
                    "1 last indirect (default: the model set in the cabinet)."),
        th.Property("bind_to", th.StringType, allowed_values=["call", "session"],
                    description="Select calls by call date (call) or session date (session)."),
        th.Property("target_only", th.BooleanType, default=False,
                    description="Calls journal: target calls only."),
        th.Property("unique_only", th.BooleanType, default=False,
                    description="Calls journal: unique calls only."),
        th.Property("unique_target_only", th.BooleanType, default=False,
                    description="Calls journal: unique-target calls only."),
        th.Property("callback_only", th.BooleanType, default=False,
                    description="Calls journal: callback calls only."),
    ),
    description="Calltouch: calls journal, leads, deals, statistics and call recordings.",
)

KNOWN_CALL_FLAGS = {*CALL_ENRICHMENTS, "withText", "withDcm"}


def check_flags(section: Mapping[str, Any], key: str, known: set[str]) -> list[str]:
    flags = section.get(key)
    if flags is None:
        return []
    if not isinstance(flags, list) or any(flag not in known for flag in flags):
        raise ConfigError(f"calltouch.{key}", "must list only: " + ", ".join(sorted(known)))
    return flags


def parse_accounts(config: Mapping[str, Any]) -> list[Account]:
    section = section_of(config, "calltouch")
    check_url(section.get("api_url", DEFAULT_API_URL), "calltouch.api_url")
    check_flags(section, "call_enrichments", KNOWN_CALL_FLAGS)
    check_flags(section, "lead_enrichments", set(LEAD_ENRICHMENTS))
    for key in ("calls_window_days", "leads_window_days", "orders_window_days",
                "stats_window_days"):
        if section.get(key) is not None:
            check_int(section[key], f"calltouch.{key}", minimum=1)
    if section.get("attribution") not in (None, 0, 1):
        raise ConfigError("calltouch.attribution", "must be 0 or 1")
    if section.get("bind_to") not in (None, "call", "session"):
        raise ConfigError("calltouch.bind_to", "must be call or session")
    for key in CALL_FILTERS:
        if section.get(key) is not None:
            check_bool(section[key], f"calltouch.{key}")
    accounts = []
    seen: set[int] = set()
    for index, site in enumerate(list_of_objects(section, "sites", "calltouch")):
        where = f"calltouch.sites[{index}]"
        site_text = require_text(site, "site_id", where)
        if not site_text.isdigit():
            raise ConfigError(f"{where}.site_id", "must be a number")
        site_id = int(site_text)
        if site_id in seen:
            raise ConfigError(f"{where}.site_id", "repeats another site")
        seen.add(site_id)
        token = require_text(site, "api_token", where)
        accounts.append(Account(
            vendor="calltouch",
            label=optional_text(site, "name", where) or str(site_id),
            context={"site_id": site_id},
            timezone=parse_timezone(site.get("timezone"), f"{where}.timezone"),
            secrets={"api_token": token},
        ))
    return accounts

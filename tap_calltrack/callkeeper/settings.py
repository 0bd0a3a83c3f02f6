"""The ``callkeeper`` config section: API URL, accounts (key, method, zone, name), throttle,
window size.

An account is identified in logs, state and records by its ``name``, or else by a short
fingerprint of its key: the key itself travels in every request URL and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from singer_sdk import typing as th

from tap_calltrack.settings import (
    Account,
    ConfigError,
    check_int,
    check_url,
    fingerprint,
    list_of_objects,
    optional_text,
    parse_timezone,
    require_text,
    section_of,
    vendor_limits,
    vendor_limits_properties,
    window_days_property,
)

VENDOR_NAME = "callkeeper"
DEFAULT_API_URL = "https://ckct.ru/api/"
METHODS = ("get", "getByRole", "getWithRole")
DEFAULT_LIMITS = (5.0, 4)  # CallKeeper documents no limits: stay modest
WINDOW_SETTING = "calls_window_days"
# The key becomes a segment of the route: anything but letters and digits would change
# the route (or be re-encoded), so it is refused here rather than sent.
KEY_SHAPE = re.compile(r"[A-Za-z0-9]+")

ACCOUNT = th.ObjectType(
    th.Property("api_key", th.StringType, required=True, secret=True,
                description="The 16-character API key: a user's key (from the manager or "
                "the 'Интеграции' tab) for get/getWithRole, the role's key for getByRole."),
    th.Property("method", th.StringType, default="get", allowed_values=list(METHODS),
                description="get: the user's own calls; getByRole: the calls a role grants "
                "(needs the role's key); getWithRole: both (user key)."),
    th.Property("timezone", th.StringType, default="Europe/Moscow",
                description="IANA zone of the cabinet; callTime is read in it."),
    th.Property("name", th.StringType,
                description="Label for logs, state and records (default: a short "
                "fingerprint of the key, never the key)."),
)

SETTINGS = th.Property(
    VENDOR_NAME,
    th.ObjectType(
        th.Property("api_url", th.StringType, default=DEFAULT_API_URL,
                    description="CallKeeper call-tracking API URL; the route "
                    "json/v3/<key>/call/... is appended as its query string."),
        th.Property("accounts", th.ArrayType(ACCOUNT),
                    description="CallKeeper accounts (API keys) to extract."),
        *vendor_limits_properties("CallKeeper", *DEFAULT_LIMITS),
        window_days_property(WINDOW_SETTING, 7, "CallKeeper calls"),
    ),
    description="CallKeeper (ckct.ru): calls, per API key.",
)


def check_api_url(value: Any) -> str:
    setting = f"{VENDOR_NAME}.api_url"
    url = check_url(value, setting)
    if urlparse(url.rstrip("?")).query:
        raise ConfigError(setting, "must not carry a query string (the route is appended "
                                   "as the query string)")
    return url


def parse_method(item: Mapping[str, Any], where: str) -> str:
    method = item.get("method")
    if method is None:
        return "get"
    if method not in METHODS:
        raise ConfigError(f"{where}.method", "must be one of " + ", ".join(METHODS))
    return str(method)


def parse_account(item: Mapping[str, Any], where: str) -> Account:
    key = require_text(item, "api_key", where)
    if not KEY_SHAPE.fullmatch(key):
        raise ConfigError(f"{where}.api_key", "must be the key CallKeeper issues: letters "
                                              "and digits only (16 of them)")
    method = parse_method(item, where)
    label = optional_text(item, "name", where) or fingerprint(key)
    return Account(
        vendor=VENDOR_NAME,
        label=label,
        context={"account": label},
        timezone=parse_timezone(item.get("timezone"), f"{where}.timezone"),
        secrets={"api_key": key},
        options={"method": method},
    )


def parse_accounts(config: Mapping[str, Any]) -> list[Account]:
    section = section_of(config, VENDOR_NAME)
    check_api_url(section.get("api_url") or DEFAULT_API_URL)
    if section.get(WINDOW_SETTING) is not None:
        check_int(section[WINDOW_SETTING], f"{VENDOR_NAME}.{WINDOW_SETTING}", minimum=1)
    vendor_limits(config, VENDOR_NAME, DEFAULT_LIMITS)
    accounts: list[Account] = []
    for index, item in enumerate(list_of_objects(section, "accounts", VENDOR_NAME)):
        where = f"{VENDOR_NAME}.accounts[{index}]"
        account = parse_account(item, where)
        if any(other.label == account.label for other in accounts):
            raise ConfigError(f"{where}.name", "is needed: another account has the same label "
                                               "(the same name, or the same key unnamed)")
        accounts.append(account)
    return accounts

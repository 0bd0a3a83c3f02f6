"""The ``comagic`` config section: accounts (token or login/password), hosts, windows, paging."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

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
    section_of,
    vendor_limits_properties,
    window_days_property,
)

DEFAULT_API_URL = "https://dataapi.comagic.ru/v2.0"
DEFAULT_LIMITS = (3.0, 3)  # requests per second, requests in flight
DEFAULT_MEDIA_URL = "https://app.comagic.ru"
MAX_WINDOW_DAYS = 90  # reports refuse more than 3 months, campaign_daily_stat 90 days
MAX_PAGE_SIZE = 10_000

ACCOUNT = th.ObjectType(
    th.Property("access_token", th.StringType, secret=True,
                description="A permanent API key (Аккаунт → Управление пользователями). "
                "Either this or login and password."),
    th.Property("login", th.StringType,
                description="User login for login.user sessions (a token valid one hour, "
                "renewed as needed, ended with logout.user at the end of the run)."),
    th.Property("password", th.StringType, secret=True, description="Password of `login`."),
    th.Property("name", th.StringType,
                description="Label for logs, state and reports (default: the login, else a "
                "fingerprint of the token)."),
    th.Property("user_ids", th.ArrayType(th.IntegerType),
                description="Agency accounts: the clients (user_id from get.customer_users) "
                "to extract. Unset: every client of an agency."),
    th.Property("timezone", th.StringType,
                description="Fallback IANA zone when get.account tells none (it normally does)."),
    th.Property("client_timezones", th.ObjectType(additional_properties=th.StringType),
                description="Agency accounts: IANA zone per client user_id, e.g. "
                "{\"7001\": \"Asia/Yekaterinburg\"}, used when get.account with the "
                "client's user_id tells no zone (else the agency's zone, with a warning)."),
    th.Property("api_url", th.StringType,
                description="This account's Data API URL, when it differs from comagic.api_url "
                "(UIS portals: https://dataapi.uiscom.ru/v2.0)."),
    th.Property("media_url", th.StringType,
                description="This account's media host, when it differs from comagic.media_url."),
)

SETTINGS = th.Property(
    "comagic",
    th.ObjectType(
        th.Property("api_url", th.StringType, default=DEFAULT_API_URL,
                    description="Data API v2.0 URL: https://dataapi.comagic.ru/v2.0 for Comagic "
                    "portals, https://dataapi.uiscom.ru/v2.0 for UIS portals (credentials of "
                    "one are not valid on the other)."),
        th.Property("media_url", th.StringType, default=DEFAULT_MEDIA_URL,
                    description="Host of the call records: "
                    "{media_url}/system/media/talk/{communication_id}/{record_id}/."),
        th.Property("accounts", th.ArrayType(ACCOUNT),
                    description="Comagic/UIS accounts, each with an access_token or a "
                    "login and password."),
        *vendor_limits_properties("Comagic", *DEFAULT_LIMITS),
        window_days_property("window_days", 7, "the Comagic reports (calls, call legs, "
                             "communications, goals, offline messages, chats); at most 90"),
        window_days_property("campaign_stat_window_days", 30,
                             "campaign daily statistics (per site); at most 90"),
        th.Property("page_size", th.IntegerType, default=MAX_PAGE_SIZE,
                    description="Rows per request (the API's `limit`, at most 10000). A window "
                    "holding more rows than the API can page through (offset 100000 + limit) "
                    "is split in halves until each part fits."),
    ),
    description="Comagic / UIS Data API v2.0: account, agency clients, sites, tags, campaigns, "
    "calls with record links, call legs, communications, goals, offline messages, chats and "
    "campaign daily statistics.",
)


def check_section(section: Mapping[str, Any]) -> None:
    check_url(section.get("api_url", DEFAULT_API_URL), "comagic.api_url")
    check_url(section.get("media_url", DEFAULT_MEDIA_URL), "comagic.media_url")
    for key in ("window_days", "campaign_stat_window_days"):
        if section.get(key) is not None:
            check_range(section[key], f"comagic.{key}", 1, MAX_WINDOW_DAYS)
    if section.get("page_size") is not None:
        check_range(section["page_size"], "comagic.page_size", 1, MAX_PAGE_SIZE)


def check_range(value: Any, setting: str, low: int, high: int) -> int:
    check_int(value, setting, minimum=low)
    if value > high:
        raise ConfigError(setting, f"must be at most {high}")
    return int(value)


def credentials(entry: Mapping[str, Any], where: str) -> dict[str, str]:
    """Exactly one way in: a token, or a login with its password."""
    token = optional_text(entry, "access_token", where)
    login = optional_text(entry, "login", where)
    password = optional_text(entry, "password", where)
    if token and (login or password):
        raise ConfigError(where, "must have either access_token or login/password, not both")
    if token:
        return {"access_token": token}
    if not login:
        raise ConfigError(f"{where}.access_token", "is required (or login and password)")
    if not password:
        raise ConfigError(f"{where}.password", "is required with login")
    return {"login": login, "password": password}


def user_ids(entry: Mapping[str, Any], where: str) -> tuple[int, ...] | None:
    value = entry.get("user_ids")
    if value is None:
        return None
    setting = f"{where}.user_ids"
    if not isinstance(value, list) or not value:
        raise ConfigError(setting, "must be a non-empty list of client user ids")
    for item in value:
        check_int(item, setting, minimum=1)
    if len(set(value)) != len(value):
        raise ConfigError(setting, "lists a client twice")
    return tuple(value)


def client_timezones(entry: Mapping[str, Any], where: str) -> dict[int, ZoneInfo]:
    """``{"<user_id>": "<IANA zone>"}``: the zones of an agency's clients, by user_id."""
    value = entry.get("client_timezones")
    if value is None:
        return {}
    setting = f"{where}.client_timezones"
    if not isinstance(value, Mapping):
        raise ConfigError(setting, 'must be an object {"<user_id>": "<IANA zone>"}')
    zones: dict[int, ZoneInfo] = {}
    for key, zone in value.items():
        user_id = str(key).strip()
        if not user_id.isdigit() or int(user_id) < 1:
            raise ConfigError(setting, "has a key that is not a client user_id")
        if not isinstance(zone, str) or not zone.strip():
            raise ConfigError(f"{setting}.{user_id}", "must be an IANA time zone name")
        zones[int(user_id)] = parse_timezone(zone.strip(), f"{setting}.{user_id}")
    return zones


def parse_account(entry: Mapping[str, Any], index: int, section: Mapping[str, Any]) -> Account:
    where = f"comagic.accounts[{index}]"
    secrets = credentials(entry, where)
    label = (optional_text(entry, "name", where) or secrets.get("login")
             or fingerprint(secrets["access_token"]))
    api_url = check_url(entry.get("api_url") or section.get("api_url") or DEFAULT_API_URL,
                        f"{where}.api_url")
    media_url = check_url(entry.get("media_url") or section.get("media_url")
                          or DEFAULT_MEDIA_URL, f"{where}.media_url")
    return Account(
        vendor="comagic",
        label=label,
        context={"account": label},
        timezone=parse_timezone(entry.get("timezone"), f"{where}.timezone"),
        secrets=secrets,
        options={"setting": where, "api_url": api_url.rstrip("/"),
                 "media_url": media_url.rstrip("/"), "user_ids": user_ids(entry, where),
                 "client_timezones": client_timezones(entry, where)},
    )


def parse_accounts(config: Mapping[str, Any]) -> list[Account]:
    section = section_of(config, "comagic")
    check_section(section)
    accounts: list[Account] = []
    for index, entry in enumerate(list_of_objects(section, "accounts", "comagic")):
        account = parse_account(entry, index, section)
        if any(other.label == account.label for other in accounts):
            raise ConfigError(f"comagic.accounts[{index}].name",
                              "repeats the label of another account (set distinct names)")
        accounts.append(account)
    return accounts

"""The tap's configuration: its JSON Schema (for --about and Meltano) and its validation.

Validation errors name the setting (e.g. ``calltouch.sites[1].api_token``) and never
echo a value: several settings are secrets.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from singer_sdk import typing as th

from tap_calltrack.windows import as_local

DEFAULT_TIMEZONE = "Europe/Moscow"
DEFAULT_LOOKBACK_DAYS = 1
DEFAULT_MAX_TRIES = 6
DEFAULT_REQUEST_TIMEOUT = 120
DEFAULT_MAX_WAIT_SECONDS = 600
DEFAULT_MAX_RECORDING_MB = 500
SECRET_KEYS = ("api_token", "access_token", "password", "api_key")
# Dates outside these years are a typo, and near year 1 or 9999 they overflow the
# calendar once a zone or a window is added to them.
FIRST_YEAR, LAST_YEAR = 1970, 2100
MAX_LOOKBACK_DAYS = 3650
MAX_TRIES_LIMIT = 100
MAX_REQUEST_TIMEOUT = 3600


class ConfigError(ValueError):
    """A bad setting. The message names the setting and never contains its value."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"setting '{setting}' {problem}")
        self.setting = setting


@dataclass(frozen=True)
class Account:
    """One vendor account (a Calltouch site, a Comagic account or agency client, ...)."""

    vendor: str
    label: str  # what logs, state and records show; never a secret
    context: dict[str, Any]  # the SDK partition: stable, secret-free
    timezone: ZoneInfo
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    options: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.vendor} account '{self.label}'"


#: A partition context as a dict key: its items, sorted.
ContextKey = tuple[tuple[str, Any], ...]


def context_key(context: Mapping[str, Any]) -> ContextKey:
    return tuple(sorted(context.items()))


@dataclass(frozen=True)
class VendorLimits:
    """Request budget of one vendor, shared by all its accounts and streams."""

    max_requests_per_second: float
    max_concurrent_requests: int
    max_tries: int
    request_timeout: float
    max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS


def fingerprint(secret: str) -> str:
    """A short label for an account that has no name: not reversible to the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


# --- JSON Schema pieces ----------------------------------------------------------------

def vendor_limits_properties(vendor: str, default_rps: float, default_concurrency: int
                             ) -> list[th.Property[Any]]:
    """Throttle settings every vendor section has."""
    return [
        th.Property(
            "max_requests_per_second",
            th.NumberType,
            default=default_rps,
            description=f"Client-side ceiling on requests per second to {vendor}, shared by "
            "every account and stream of the run.",
        ),
        th.Property(
            "max_concurrent_requests",
            th.IntegerType,
            default=default_concurrency,
            description=f"How many {vendor} requests may be in flight at once (pages and "
            "windows are prefetched up to this bound; records still come out in order).",
        ),
    ]


def window_days_property(name: str, default: int, what: str) -> th.Property[Any]:
    return th.Property(
        name,
        th.IntegerType,
        default=default,
        description=f"Days per request window for {what}. State advances after each "
        "complete window.",
    )


COMMON_PROPERTIES = [
    th.Property(
        "start_date",
        th.StringType,
        required=True,
        description="Earliest date to extract: ISO-8601 date (2024-01-31, midnight in each "
        "account's time zone) or date-time (2024-01-31T08:00:00+03:00).",
        examples=["2024-01-01"],
    ),
    th.Property(
        "end_date",
        th.StringType,
        description="Latest date to extract (ISO-8601 date, inclusive, or date-time). "
        "Default: now.",
    ),
    th.Property(
        "lookback_days",
        th.IntegerType,
        default=DEFAULT_LOOKBACK_DAYS,
        description="Re-read this many days before each bookmark on every run, for "
        "late-arriving changes (ad-platform data, tags, attribution). 30 covers Calltouch's "
        "Yandex.Direct/Google Ads updates.",
    ),
    th.Property(
        "recordings_dir",
        th.StringType,
        description="Folder where call recordings are saved by the *_recordings streams. "
        "Unset: no downloads.",
    ),
    th.Property(
        "max_recording_mb",
        th.NumberType,
        default=DEFAULT_MAX_RECORDING_MB,
        description="Largest recording to download, in MiB; a larger one is skipped with a "
        "warning.",
    ),
    th.Property(
        "max_tries",
        th.IntegerType,
        default=DEFAULT_MAX_TRIES,
        description="Attempts per request on retryable failures (429, 5xx, resets, "
        "timeouts, broken bodies) before that stream fails for that account.",
    ),
    th.Property(
        "request_timeout",
        th.NumberType,
        default=DEFAULT_REQUEST_TIMEOUT,
        description="Seconds to wait for a vendor answer before retrying.",
    ),
    th.Property(
        "max_wait_seconds",
        th.NumberType,
        default=DEFAULT_MAX_WAIT_SECONDS,
        description="Longest pause a vendor may ask for (Retry-After, Comagic minute_reset); "
        "a longer one fails that stream for that account instead of sleeping.",
    ),
]


# --- value checks ------------------------------------------------------------------------

def parse_instant(value: Any, setting: str) -> dt.date | dt.datetime:
    """An ISO-8601 date or date-time from config (a naive date-time is account-local)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(setting, "must be an ISO-8601 date or date-time string")
    text = value.strip()
    try:
        moment: dt.date | dt.datetime = (
            dt.date.fromisoformat(text) if len(text) == 10
            else dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise ConfigError(setting, "is not an ISO-8601 date or date-time "
                                   "(e.g. 2024-01-31 or 2024-01-31T08:00:00+03:00)") from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ConfigError(setting, f"must lie between the years {FIRST_YEAR} and {LAST_YEAR}")
    return moment


def parse_timezone(value: Any, setting: str) -> ZoneInfo:
    if value is None:
        return ZoneInfo(DEFAULT_TIMEZONE)
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(setting, "is not a known IANA time zone (e.g. Europe/Moscow)") from None


def require_text(section: Mapping[str, Any], key: str, setting: str) -> str:
    value = section.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(f"{setting}.{key}", "is required")
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ConfigError(f"{setting}.{key}", "must be a string")
    return str(value).strip()


def optional_text(section: Mapping[str, Any], key: str, setting: str) -> str | None:
    if section.get(key) in (None, ""):
        return None
    return require_text(section, key, setting)


def check_int(value: Any, setting: str, *, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(setting, f"must be an integer >= {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(setting, f"must be an integer <= {maximum}")
    return value


def check_number(value: Any, setting: str, *, minimum: float,
                 maximum: float | None = None) -> float:
    # The SDK reads JSON config numbers as Decimal.
    ok = isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < minimum:
        raise ConfigError(setting, f"must be a number >= {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(setting, f"must be a number <= {maximum}")
    return float(value)


def check_bool(value: Any, setting: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(setting, "must be true or false")
    return value


def check_url(value: Any, setting: str) -> str:
    parsed = urlparse(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(setting, "must be an http(s) URL")
    return str(value)


def section_of(config: Mapping[str, Any], vendor: str) -> Mapping[str, Any]:
    section = config.get(vendor) or {}
    if not isinstance(section, Mapping):
        raise ConfigError(vendor, "must be an object")
    return section


def list_of_objects(section: Mapping[str, Any], key: str, setting: str
                    ) -> list[Mapping[str, Any]]:
    items = section.get(key) or []
    if not isinstance(items, list):
        raise ConfigError(f"{setting}.{key}", "must be a list")
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ConfigError(f"{setting}.{key}[{index}]", "must be an object")
    return items


def retry_policy(config: Mapping[str, Any]) -> tuple[int, float]:
    """``max_tries`` and ``request_timeout``, checked."""
    return (
        check_int(config.get("max_tries", DEFAULT_MAX_TRIES), "max_tries", minimum=1,
                  maximum=MAX_TRIES_LIMIT),
        check_number(config.get("request_timeout", DEFAULT_REQUEST_TIMEOUT),
                     "request_timeout", minimum=0.1, maximum=MAX_REQUEST_TIMEOUT),
    )


def vendor_limits(config: Mapping[str, Any], vendor: str,
                  defaults: tuple[float, int]) -> VendorLimits:
    """A vendor's limits from its section; ``defaults``: requests per second, in flight."""
    section = section_of(config, vendor)
    rps = section.get("max_requests_per_second", defaults[0])
    concurrency = section.get("max_concurrent_requests", defaults[1])
    max_tries, request_timeout = retry_policy(config)
    return VendorLimits(
        max_requests_per_second=check_number(
            rps, f"{vendor}.max_requests_per_second", minimum=0.01),
        max_concurrent_requests=check_int(
            concurrency, f"{vendor}.max_concurrent_requests", minimum=1),
        max_tries=max_tries,
        request_timeout=request_timeout,
        max_wait_seconds=check_number(config.get("max_wait_seconds", DEFAULT_MAX_WAIT_SECONDS),
                                      "max_wait_seconds", minimum=0),
    )


def check_common(config: Mapping[str, Any], *, need_start: bool = True) -> None:
    """Checks of the settings every vendor shares (discovery needs no ``start_date``, but
    checks one it is given)."""
    if config.get("start_date") is None:
        if need_start:
            raise ConfigError("start_date", "is required")
    else:
        parse_instant(config["start_date"], "start_date")
    if config.get("end_date") is not None:
        parse_instant(config["end_date"], "end_date")
    check_range(config, [ZoneInfo(DEFAULT_TIMEZONE)])
    lookback_days(config)
    if config.get("recordings_dir") is not None and not isinstance(config["recordings_dir"], str):
        raise ConfigError("recordings_dir", "must be a folder path")
    check_number(config.get("max_recording_mb", DEFAULT_MAX_RECORDING_MB), "max_recording_mb",
                 minimum=0.001)
    retry_policy(config)


def check_range(config: Mapping[str, Any], zones: list[ZoneInfo]) -> None:
    """``end_date`` after ``start_date`` in every account's zone, whatever their forms (a
    date is local midnight, inclusive as an end; a naive date-time is account-local)."""
    if config.get("end_date") is None or config.get("start_date") is None:
        return
    start = parse_instant(config["start_date"], "start_date")
    end = parse_instant(config["end_date"], "end_date")
    for zone in zones:
        if as_local(end, zone, date_means_end=True) <= as_local(start, zone,
                                                                 date_means_end=False):
            raise ConfigError("end_date", "is not after start_date")


def lookback_days(config: Mapping[str, Any]) -> int:
    return check_int(config.get("lookback_days", DEFAULT_LOOKBACK_DAYS), "lookback_days",
                     minimum=0, maximum=MAX_LOOKBACK_DAYS)


def secret_values(config: Mapping[str, Any]) -> list[str]:
    """Every secret in the config, wherever it sits, for redaction."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key in SECRET_KEYS and isinstance(value, (str, int)) and str(value):
                    found.append(str(value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(config)
    return found


@dataclass(frozen=True)
class Vendor:
    """What a vendor module contributes to the tap."""

    name: str
    settings: th.Property[Any]  # the vendor's config section, e.g. ``calltouch``
    default_limits: tuple[float, int]  # requests per second, concurrent requests
    parse_accounts: Callable[[Mapping[str, Any]], list[Account]]  # raises ConfigError
    stream_classes: tuple[type, ...]  # its singer_sdk Stream classes, in sync order

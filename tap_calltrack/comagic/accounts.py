"""What one run knows about each Comagic account: its session, get.account (app_id, time
zone), its agency clients and sites, and the partitions ("scopes") the streams read.

Asked once per account and shared by every stream of the run; the sessions are ended
(logout.user) when the tap closes the vendor's HTTP layer at the end of the run.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tap_calltrack.comagic.rpc import metadata_of
from tap_calltrack.comagic.session import AccountSession
from tap_calltrack.http import AuthError, FatalError, LimitExceeded, QuotaExhausted
from tap_calltrack.runtime import VendorRuntime
from tap_calltrack.settings import Account, ContextKey, context_key

T = TypeVar("T")
PAGE = 10_000
MAX_LIST_OFFSET = 100_000  # the API's largest offset (docs/notes.md 2.1)
CUSTOMER_USER_FIELDS = ["id", "login", "description", "name", "customer_id"]
# What get.customer_users answers a user that is not an agent is undocumented: read
# these as "no clients" (the sandbox answers an empty list).
NOT_AN_AGENCY = frozenset({"forbidden", "method_component_disabled", "method_not_found"})
# get.account with a client's user_id (as the public comagic-data-api-sdk calls it) tells
# the client's own zone; docs/notes.md 2 lists only access_token for it, so a refusal of user_id is
# plausible: any of these means "the API tells no client zone" (docs/comagic.md, Agencies).
CLIENT_ACCOUNT_REFUSALS = frozenset({"unexpected_parameters", "invalid_parameter_value",
                                     "forbidden", "parameter_component_disabled",
                                     "method_component_disabled"})


@dataclass(frozen=True)
class Scope:
    """One partition of the client-level streams: a direct account or an agency client."""

    account: Account  # label, context and time zone of the partition
    parent: Account  # the configured account (its session and credentials)
    app_id: int | None
    user_id: int | None = None

    def params(self) -> dict[str, Any]:
        """Client methods of an agency name the client (docs/notes.md 2.0, agents)."""
        return {} if self.user_id is None else {"user_id": self.user_id}


class ComagicAccounts:
    """The run's one view of the configured Comagic accounts (``runtime.shared``)."""

    def __init__(self, runtime: VendorRuntime) -> None:
        self.http = runtime.http
        self.run_status = runtime.run.status
        self.logger = logging.getLogger("tap-calltrack.comagic")
        self._sessions: dict[str, AccountSession] = {}
        self._cache: dict[tuple[str, ...], Any] = {}
        self._scopes: dict[ContextKey, Scope] = {}
        self._lock = threading.RLock()
        self.http.on_close(self.close)  # log out at the end of the run

    def close(self) -> None:
        for session in list(self._sessions.values()):
            session.logout()

    # --- cached facts ----------------------------------------------------------------------

    def _cached(self, key: tuple[str, ...], compute: Callable[[], T]) -> T:
        """Compute once per run; a failure is remembered and raised again."""
        with self._lock:
            if key not in self._cache:
                try:
                    self._cache[key] = compute()
                except (FatalError, QuotaExhausted) as exc:
                    self._cache[key] = exc
            value = self._cache[key]
        if isinstance(value, BaseException):
            raise value
        computed: T = value
        return computed

    def session(self, account: Account) -> AccountSession:
        with self._lock:
            if account.label not in self._sessions:
                self._sessions[account.label] = AccountSession(account, self.http, self.logger)
            return self._sessions[account.label]

    def account_info(self, account: Account) -> dict[str, Any]:
        """get.account: ``app_id``, ``name``, ``timezone`` (``data`` is a list of one)."""
        def fetch() -> dict[str, Any]:
            answer = self.session(account).call(
                "get.account", {}, f"comagic get.account [{account.label}]")
            rows = rows_of(answer.result)
            if not rows:
                raise FatalError(f"comagic get.account [{account.label}]: no account in the "
                                 "answer")
            return dict(rows[0])

        return self._cached(("account", account.label), fetch)

    def timezone(self, account: Account) -> ZoneInfo:
        name = self.account_info(account).get("timezone")
        return self.zone_named(name, account.label) or account.timezone

    def zone_named(self, name: Any, label: str) -> ZoneInfo | None:
        try:
            return ZoneInfo(str(name)) if name else None
        except (ZoneInfoNotFoundError, ValueError):
            self.logger.warning("comagic account '%s': unknown time zone %r from get.account",
                                label, name)
            return None

    def client_account_info(self, account: Account, user_id: int) -> dict[str, Any] | None:
        """get.account asked with a client's ``user_id``: the client's own account; None
        when the API refuses ``user_id`` there."""
        def fetch() -> dict[str, Any] | None:
            answer = self.session(account).call(
                "get.account", {"user_id": user_id},
                f"comagic get.account [{account.label}/{user_id}]",
                soft=CLIENT_ACCOUNT_REFUSALS)
            rows = rows_of(answer.result) if answer.error is None else []
            return dict(rows[0]) if rows else None

        return self._cached(("account", account.label, str(user_id)), fetch)

    def client_timezone(self, account: Account, user_id: int, agency_zone: ZoneInfo
                        ) -> ZoneInfo:
        """A client's zone: get.account with its user_id, else ``client_timezones``, else
        the agency's zone (one warning per client)."""
        label = f"{account.label}/{user_id}"
        info = self.client_account_info(account, user_id)
        agency_app_id = self.account_info(account).get("app_id")
        if info is not None and info.get("app_id") != agency_app_id:
            told = self.zone_named(info.get("timezone"), label)
            if told is not None:
                return told
        # No answer, or the agency's own account (the API ignored user_id): no client zone.
        configured: ZoneInfo | None = account.options.get("client_timezones", {}).get(user_id)
        if configured is not None:
            return configured
        self.logger.warning(
            "comagic client '%s': get.account with its user_id tells no time zone and "
            "%s.client_timezones has none for %d; reading it in the agency's zone %s",
            label, account.options.get("setting", "comagic.accounts[]"), user_id, agency_zone)
        return agency_zone

    def customer_users(self, account: Account) -> list[dict[str, Any]] | None:
        """An agency's clients; None when the user may not list them (not an agent)."""
        return self._cached(("customers", account.label), lambda: self.fetch_all(
            account, "get.customer_users", {"fields": CUSTOMER_USER_FIELDS},
            f"comagic get.customer_users [{account.label}]", soft=NOT_AN_AGENCY))

    def site_ids(self, scope: Scope) -> list[int]:
        """The scope's sites (get.campaign_daily_stat requires a site_id)."""
        def fetch() -> list[int]:
            rows = self.fetch_all(scope.parent, "get.sites", {**scope.params(), "fields": ["id"]},
                                  f"comagic get.sites [{scope.account.label}]") or []
            return sorted(int(row["id"]) for row in rows if row.get("id") is not None)

        return self._cached(("sites", scope.account.label), fetch)

    def fetch_all(self, account: Account, method: str, params: Mapping[str, Any], what: str,
                  soft: frozenset[str] = frozenset()) -> list[dict[str, Any]] | None:
        """Every row of a small list method, page by page; None on a ``soft`` error."""
        session = self.session(account)
        rows: list[dict[str, Any]] = []
        while True:
            answer = session.call(method, {**params, "offset": len(rows), "limit": PAGE},
                                  what, soft=soft)
            if answer.error is not None:
                return None
            page = rows_of(answer.result)
            rows.extend(page)
            total = total_of(answer.result)
            if not page or len(page) < PAGE or (total is not None and len(rows) >= total):
                return rows
            if len(rows) > MAX_LIST_OFFSET:  # pages that never end: the API's largest offset
                raise LimitExceeded(f"{what}: pages are still full at offset {MAX_LIST_OFFSET}")

    # --- scopes (partitions) -----------------------------------------------------------

    def scopes(self, account: Account) -> list[Scope]:
        """The account itself, or each client of an agency (configured or listed)."""
        return self._cached(("scopes", account.label), lambda: self._resolve(account))

    def _resolve(self, account: Account) -> list[Scope]:
        info = self.account_info(account)
        app_id = info.get("app_id")
        local = dataclasses.replace(account, timezone=self.timezone(account))
        wanted = account.options.get("user_ids")
        clients = self.customer_users(account)
        if not wanted and not clients:
            return [Scope(local, account, app_id)]
        listed = {int(row["id"]): row for row in clients or [] if row.get("id") is not None}
        if clients is None:
            self.logger.warning("comagic account '%s': get.customer_users is not readable; "
                                "records of its clients carry the agency's app_id",
                                account.label)
        return [self._client(local, account, user_id, listed.get(user_id), app_id,
                             clients is not None)
                for user_id in wanted or sorted(listed)]

    def _client(self, local: Account, account: Account, user_id: int,
                row: Mapping[str, Any] | None, agency_app_id: Any, listed: bool) -> Scope:
        # "agency": the configured account, whose old per-account partitions the client's
        # call partitions resume from (fanout.py, inherit_bookmark).
        client = dataclasses.replace(
            local, label=f"{account.label}/{user_id}",
            context={"account": account.label, "user_id": user_id},
            options={**account.options, "user_id": user_id, "agency": account})
        unknown = listed and row is None
        if unknown:
            self.run_status.fail_account(client, AuthError(
                f"user_id {user_id} is not a client of this agency (get.customer_users does "
                f"not list it); check {account.options['setting']}.user_ids"))
        else:
            try:
                zone = self.client_timezone(account, user_id, local.timezone)
            except AuthError as exc:  # e.g. the client's IP whitelist: that client stops
                self.run_status.fail_account(client, exc)
            else:
                client = dataclasses.replace(client, timezone=zone)
        return Scope(client, account, (row or {}).get("customer_id") or agency_app_id, user_id)

    def partition_scopes(self, account: Account) -> list[Scope]:
        """:meth:`scopes`, or, when the account cannot be read, the account itself (its
        failure is reported once; the streams then skip it)."""
        try:
            scopes = self.scopes(account)
        except FatalError as exc:  # refused, out of quota, or unreadable: reported once
            self._report(account, exc)
            scopes = [Scope(account, account, None)]
        with self._lock:
            for scope in scopes:
                self._scopes[context_key(scope.account.context)] = scope
        return scopes

    def _report(self, account: Account, exc: Exception) -> None:
        run = self.run_status
        if isinstance(exc, QuotaExhausted):
            if "comagic" not in run.exhausted_vendors:
                run.exhaust_vendor("comagic", exc)
        elif (account.vendor, account.label) not in run.failed_accounts:
            run.fail_account(account, exc)

    def scope(self, context: Mapping[str, Any] | None) -> Scope:
        with self._lock:
            scope = self._scopes.get(context_key(context or {}))
        if scope is None:
            raise LookupError(f"comagic: no partition matches {context}")
        return scope


def rows_of(result: Any) -> list[dict[str, Any]]:
    """``result.data``, or ``result`` itself when it is a bare list (docs/notes.md quirk 23)."""
    data = result.get("data") if isinstance(result, Mapping) else result
    if isinstance(data, Mapping):
        return [dict(data)]
    return [dict(row) for row in data if isinstance(row, Mapping)] if isinstance(data, list) \
        else []


def total_of(result: Any) -> int | None:
    metadata = metadata_of(result)
    total = metadata.get("total_items") if isinstance(metadata, Mapping) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None

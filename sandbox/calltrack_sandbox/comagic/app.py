"""The Comagic app: routes, JSON-RPC, authentication, rows of a call, record links and the
test controls (the package's docstring describes the behaviour)."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

from calltrack_sandbox.comagic.accounts import BIG_DAY, Account, Scope, make_accounts
from calltrack_sandbox.comagic.controls import Controls
from calltrack_sandbox.comagic.data import Data, fmt
from calltrack_sandbox.comagic.errors import RpcError
from calltrack_sandbox.comagic.methods import (
    CAMPAIN,
    DATE_FIELD,
    DATETIME,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_OFFSET,
    METHODS,
    REPORTS,
    Method,
)
from calltrack_sandbox.comagic.params import add_months, parse_datetime, sort_key, whole
from calltrack_sandbox.comagic.quotas import Quota
from calltrack_sandbox.protocol import SandboxOptions, SandboxRequest, SandboxResponse
from calltrack_sandbox.world import CallFacts, record_bytes

PREFIX = "/comagic"
API_PATH = "/v2.0"
MEDIA_PATH = re.compile(r"^/media/system/media/talk/(\d+)/(\d+)/?$")
HELP = "https://comagic.github.io/data_api/"
SECRET_PARAMS = frozenset({"access_token", "password"})
MAX_WINDOW_LOG = 10_000


class ComagicApp:
    prefix = PREFIX

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.accounts = make_accounts(options.seed)
        self.by_token = {a.token: a for a in self.accounts.values() if a.token}
        self.data = Data(options)
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.controls = Controls()
            self.quota = Quota()
            self.sessions: dict[str, tuple[Account, float]] = {}
            self.issued: list[str] = []  # session tokens, for tests that look for leaks
            self.counts: Counter[str] = Counter()
            self.last_params: dict[str, Any] = {}
            self.windows: list[dict[str, Any]] = []  # dates of report calls, for tests

    # --- sandbox protocol --------------------------------------------------------------

    def tap_config(self, base_url: str) -> dict[str, Any]:
        accounts = self.accounts
        return {"comagic": {
            "api_url": base_url + PREFIX + API_PATH,
            "media_url": base_url + PREFIX + "/media",
            # the login account has no name: its label is its login
            "accounts": [accounts["direct"].config(), accounts["login"].config(with_name=False),
                         accounts["agency"].config()],
        }}

    def too_many_requests(self, retry_after: str) -> SandboxResponse:
        return SandboxResponse(429, b"Too Many Requests", "text/plain",
                               {"Retry-After": retry_after})

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.path.startswith("/_sandbox/"):
            return self.control(request)
        media = MEDIA_PATH.match(request.path)
        if media:
            return self.media(int(media.group(1)), int(media.group(2)))
        if request.path.rstrip("/") != API_PATH:
            return SandboxResponse.html("404 Not Found", 404)
        if request.method != "POST":
            return SandboxResponse.html("405 Method Not Allowed", 405)
        if self.controls.delay_ms:
            time.sleep(self.controls.delay_ms / 1000)
        return self.rpc(request.body, request.client)

    # --- JSON-RPC ------------------------------------------------------------------------

    def rpc(self, raw: bytes, client: str) -> SandboxResponse:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return self.error(None, RpcError("parse_error"))
        if isinstance(body, list):
            return self.error(None, RpcError("batch_opreations_not_supported"))
        if not isinstance(body, dict) or body.get("jsonrpc") != "2.0" or \
                not isinstance(body.get("method"), str):
            return self.error(None, RpcError("invalid_request"))
        if body.get("id") is None:
            return self.error(None, RpcError("notifications_not_supported"))
        request_id, method, params = body["id"], body["method"], body.get("params", {})
        self.count(f"calls_{method}")
        try:
            if not isinstance(params, dict):
                raise RpcError("invalid_parameter_value", "params")
            self.remember(method, params)
            result = self.dispatch(method, params, client)
        except RpcError as exc:
            self.count(f"error_{exc.mnemonic}")
            return self.error(request_id, exc)
        return SandboxResponse.json({"jsonrpc": "2.0", "id": request_id, "result": result})

    def error(self, request_id: Any, exc: RpcError) -> SandboxResponse:
        # HTTP 200: the status of JSON-RPC errors is undocumented (NOTES 2.1).
        return SandboxResponse.json({"jsonrpc": "2.0", "id": request_id, "error": {
            "code": exc.code, "message": str(exc), "data": {
                "mnemonic": exc.mnemonic, "field": exc.field_name, "value": exc.value,
                "params": {}, "extended_helper": HELP,
                "metadata": {"limits": exc.limits} if exc.limits else {}}}})

    def dispatch(self, method: str, params: dict[str, Any], client: str) -> Any:
        if method == "login.user":
            return self.login(params)
        if method == "logout.user":
            return self.logout(params)
        spec = METHODS.get(method)
        if spec is None:
            raise RpcError("method_not_found", "method", method)
        unexpected = sorted(set(params) - spec.params)
        if method == "get.account" and "user_id" in params and \
                self.controls.account_user_id == "refuse":
            unexpected = ["user_id"]
        if unexpected:
            raise RpcError("unexpected_parameters", unexpected[0], params[unexpected[0]])
        account = self.authenticate(params.get("access_token"), client)
        try:
            return self.answer(method, spec, account, params)
        except RpcError as exc:
            if exc.limits is None:
                with self.lock:
                    exc.limits = self.quota.limits(account.app_id, self.controls)
            raise

    def answer(self, method: str, spec: Method, account: Account, params: dict[str, Any]
               ) -> Any:
        scope = self.scope_of(account, params.get("user_id"))
        if method in account.disabled:
            raise RpcError("method_component_disabled", "method", method)
        self.injected(method, account)
        with self.lock:
            self.quota.check(account.app_id, self.controls)
        rows, total = self.rows(method, spec, scope, params)
        with self.lock:
            self.quota.charge(account.app_id, self.controls)
            limits = self.quota.limits(account.app_id, self.controls)
        if spec.bare and "comagic-stat-data" not in self.options.quirks:
            return rows  # the doc's example of campaign_daily_stat (NOTES quirk 23)
        key = "meta_data" if method in ("get.account", "get.sites") else "metadata"
        return {"data": rows, key: {"total_items": total, "limits": limits}}

    # --- auth ------------------------------------------------------------------------------

    def authenticate(self, token: Any, client: str) -> Account:
        account = self.by_token.get(token) if isinstance(token, str) else None
        if account is None:
            with self.lock:
                session = self.sessions.get(token) if isinstance(token, str) else None
            if session is None:
                raise RpcError("access_token_invalid", "access_token")
            account, expires = session
            if time.monotonic() >= expires:
                raise RpcError("access_token_expired", "access_token")
        if account.role == "blocked":
            raise RpcError("access_token_blocked", "access_token")
        if account.role == "ip_denied":
            raise RpcError("ip_not_whitelisted", ip=client)
        return account

    @staticmethod
    def scope_of(account: Account, user_id: Any) -> Scope:
        if user_id is None:
            return Scope(account)
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            raise RpcError("invalid_parameter_value", "user_id", user_id)
        client = next((c for c in account.clients if c.user_id == user_id), None)
        if client is None:
            raise RpcError("forbidden", "user_id", user_id)
        return Scope(account, client)

    def login(self, params: dict[str, Any]) -> dict[str, Any]:
        unexpected = sorted(set(params) - {"login", "password"})
        if unexpected:
            raise RpcError("unexpected_parameters", unexpected[0])
        for name in ("login", "password"):
            if not params.get(name):
                raise RpcError("required_parameter_missing", name)
        account = next((a for a in self.accounts.values() if a.login and
                        a.login == params["login"] and a.password == params["password"]), None)
        if account is None:
            raise RpcError("auth_error")
        token = secrets.token_hex(20)
        with self.lock:
            lifetime = self.controls.token_lifetime_s
            reported = self.controls.reported_lifetime_s or lifetime
            self.sessions[token] = (account, time.monotonic() + lifetime)
            self.issued.append(token)
        self.count("login_ok")
        return {"data": {"access_token": token, "expire_at": int(time.time() + reported),
                         "app_id": account.app_id}}

    def logout(self, params: dict[str, Any]) -> dict[str, Any]:
        unexpected = sorted(set(params) - {"access_token"})
        if unexpected:
            raise RpcError("unexpected_parameters", unexpected[0])
        token = params.get("access_token")
        with self.lock:
            session = self.sessions.pop(token, None) if isinstance(token, str) else None
        if session is None and token not in self.by_token:
            raise RpcError("access_token_invalid", "access_token")
        if session is not None and time.monotonic() >= session[1]:
            raise RpcError("access_token_expired", "access_token")
        self.count("logout_ok")
        return {"data": {}}

    def injected(self, method: str, account: Account) -> None:
        """Answer the next queued error, if one applies to this method."""
        with self.lock:
            entry = next((e for e in self.controls.inject if e.get("count", 1) > 0
                          and e.get("method") in (None, method)), None)
            if entry is None:
                return
            entry["count"] = entry.get("count", 1) - 1
            kind = entry.get("limit", "minute")
            error = RpcError(entry["mnemonic"], limit=kind, ip="")
            limits = self.quota.limits(account.app_id, self.controls)
        if entry["mnemonic"] == "limit_exceeded":
            limits.update({f"{kind}_remaining": 0, f"{kind}_reset": 1})
            self.count(f"limit_exceeded_{kind}")
        error.limits = limits
        raise error

    # --- rows ------------------------------------------------------------------------------

    def rows(self, method: str, spec: Method, scope: Scope, params: dict[str, Any]
             ) -> tuple[list[dict[str, Any]], int]:
        fields = self.fields(method, spec, params.get("fields"))
        limit = whole(params.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = whole(params.get("offset"), "offset", 0, 0, MAX_OFFSET)
        order = self.sort(method, spec, params.get("sort"))
        if spec.dated:
            first, last = self.dates(spec, params)
            if scope.account.role == "big" and method == "get.calls_report":
                return self.big_calls(first, last, fields, offset, limit)
            full = self.report(method, scope, first, last, params)
        else:
            full = self.listing(method, scope)
        for name, descending in reversed(order):
            full.sort(key=sort_key(name), reverse=descending)
        renamed = self.renamed(method)
        page = full[offset:offset + limit]
        source = {"campain_id": "campaign_id"}
        return [{renamed.get(f, f): row.get(source.get(f, f)) for f in fields}
                for row in page], len(full)

    def renamed(self, method: str) -> dict[str, str]:
        """get.campaign_daily_stat answers ``campain_id`` (the docs' example) whichever
        spelling was asked, unless the quirk ``comagic-stat-campaign-id`` is on."""
        if method != "get.campaign_daily_stat" or \
                "comagic-stat-campaign-id" in self.options.quirks:
            return {}
        return CAMPAIN

    def fields(self, method: str, spec: Method, requested: Any) -> tuple[str, ...]:
        if requested is None:  # only the default set (NOTES quirk 15)
            return spec.defaults
        if not isinstance(requested, list):
            raise RpcError("invalid_parameter_value", "fields", requested)
        hidden = set(self.controls.unknown_fields.get(method, []))
        quirks = self.options.quirks
        if method == "get.campaign_daily_stat" and "comagic-stat-campain-only" in quirks:
            hidden.add("campaign_id")
        known = spec.fields if "comagic-documented-fields" in quirks else \
            spec.fields + spec.extras
        for name in requested:
            if not isinstance(name, str) or name not in known or name in hidden:
                raise RpcError("unexpected_parameters", "fields", name)
        return tuple(requested)

    @staticmethod
    def sort(method: str, spec: Method, requested: Any) -> list[tuple[str, bool]]:
        default = DATE_FIELD.get(method, "date_time") if spec.dated else "id"
        if requested is None:
            return [(default, False)] + ([("id", False)] if "id" in spec.fields else [])
        if not isinstance(requested, list):
            raise RpcError("invalid_parameter_value", "sort", requested)
        order = []
        for item in requested:
            name = item.get("field") if isinstance(item, dict) else None
            direction = item.get("order", "asc") if isinstance(item, dict) else None
            if name not in spec.fields:
                raise RpcError("unexpected_parameters", "sort", name)
            if name not in spec.sortable:
                raise RpcError("sort_prohibited", "sort", name)
            if direction not in ("asc", "desc"):
                raise RpcError("invalid_parameter_value", "sort", direction)
            order.append((name, direction == "desc"))
        return order

    @staticmethod
    def dates(spec: Method, params: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
        first = parse_datetime(params.get("date_from"), "date_from")
        last = parse_datetime(params.get("date_till"), "date_till")
        if last < first:
            raise RpcError("invalid_parameter_value", "date_till", params["date_till"])
        too_long = (last - first > dt.timedelta(days=spec.max_days) if spec.max_days
                    else last > add_months(first, 3))
        if too_long:
            raise RpcError("date_interval_limit_reached", "date_till", params["date_till"])
        return first, last

    def listing(self, method: str, scope: Scope) -> list[dict[str, Any]]:
        account = scope.account
        if method == "get.account":
            client = scope.client
            if client is not None and self.controls.account_user_id == "accept":
                return [{"app_id": client.customer_id, "name": client.name,
                         "timezone": client.timezone}]
            return [{"app_id": account.app_id, "name": account.name,
                     "timezone": account.timezone}]
        if method == "get.customer_users":
            return [{"id": c.user_id, "login": c.login, "name": c.name,
                     "customer_id": c.customer_id, "description": None}
                    for c in account.clients]
        if scope.is_agency_itself:
            return []
        build: dict[str, Callable[[Scope], list[dict[str, Any]]]] = {
            "get.sites": self.data.sites, "get.tags": self.data.tags,
            "get.campaigns": self.data.campaigns}
        return build[method](scope)

    def report(self, method: str, scope: Scope, first: dt.datetime, last: dt.datetime,
               params: dict[str, Any]) -> list[dict[str, Any]]:
        if scope.is_agency_itself:
            return []
        if method == "get.campaign_daily_stat":
            return self.daily_stat(scope, first, last, params.get("site_id"))
        rows: list[dict[str, Any]] = []
        date_field = DATE_FIELD.get(method, "date_time")
        for vendor, builder, kind in REPORTS[method]:
            world = self.data.world if vendor == "comagic" else self.data.others
            for facts in world.calls_between(vendor, scope.key, first.date(), last.date()):
                rows += [row for row in self.build(builder, scope, facts, kind)
                         if first <= dt.datetime.strptime(row[date_field], DATETIME) <= last]
        return rows

    def build(self, builder: str, scope: Scope, facts: CallFacts, kind: str
              ) -> Iterable[dict[str, Any]]:
        data = self.data
        if builder == "legs":
            return data.legs(scope, facts)
        if builder == "communication":
            return [data.communication(scope, facts, kind)]
        return [getattr(data, builder)(scope, facts)]

    def daily_stat(self, scope: Scope, first: dt.datetime, last: dt.datetime,
                   site_id: Any) -> list[dict[str, Any]]:
        if site_id is None:
            raise RpcError("required_parameter_missing", "site_id")
        if site_id not in {site["id"] for site in self.data.sites(scope)}:
            raise RpcError("invalid_parameter_value", "site_id", site_id)
        rows, day = [], max(first.date(), self.options.first_day)
        while day <= min(last.date(), self.data.world.last_day):
            rows += self.data.daily_stat(scope, site_id, day)
            day += dt.timedelta(days=1)
        return rows

    def big_calls(self, first: dt.datetime, last: dt.datetime, fields: tuple[str, ...],
                  offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """``big_rows`` calls spread evenly over BIG_DAY, made only for the page asked."""
        n = self.controls.big_rows
        midnight = dt.datetime.combine(BIG_DAY, dt.time(0))
        low = max(0, int((first - midnight).total_seconds()))
        high = min(86_399, int((last - midnight).total_seconds()))
        if high < low:
            return [], 0
        k_low = -(-low * n // 86_400)  # first k with k * 86400 // n >= low
        k_high = min(n, -(-(high + 1) * n // 86_400)) - 1
        total = max(0, k_high - k_low + 1)
        ks = range(k_low + offset, min(k_high + 1, k_low + offset + limit))
        rows = []
        for k in ks:
            row = {"id": 900_000_000 + k, "communication_id": 1_900_000_000 + k,
                   "start_time": fmt(midnight + dt.timedelta(seconds=k * 86_400 // n)),
                   "communication_type": "call", "direction": "in", "is_lost": False,
                   "call_records": [], "total_duration": 60}
            rows.append({name: row.get(name) for name in fields})
        return rows, total

    # --- record links ----------------------------------------------------------------------

    def scopes(self) -> Iterable[Scope]:
        for account in self.accounts.values():
            yield Scope(account)
            yield from (Scope(account, client) for client in account.clients)

    def is_media(self, path: str) -> bool:
        """A recording download (the sandbox's --faults cut these bodies too)."""
        return MEDIA_PATH.match(path) is not None

    def media(self, communication_id: int, record_id: int) -> SandboxResponse:
        for scope in self.scopes():
            offset = communication_id - 10**9 - self.data.number(scope) * 10**7
            if not 0 <= offset < 10**7:
                continue
            day = self.options.first_day + dt.timedelta(days=offset // 1000)
            calls = self.data.world.calls_on("comagic", scope.key, day)
            facts = calls[offset % 1000] if offset % 1000 < len(calls) else None
            if facts is not None and record_id in self.data.record_ids(facts):
                self.count("media_ok")
                body = record_bytes("comagic", scope.key, record_id, 4096 + facts.talk_s * 16)
                return SandboxResponse(200, body, "audio/mpeg")
        self.count("media_404")
        return SandboxResponse.html("404 Not Found", 404)

    # --- test controls ---------------------------------------------------------------------

    def count(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1

    def remember(self, method: str, params: dict[str, Any]) -> None:
        with self.lock:
            kept = {k: v for k, v in params.items() if k not in SECRET_PARAMS}
            self.last_params[method] = kept
            if "date_from" in params and len(self.windows) < MAX_WINDOW_LOG:
                self.windows.append({"method": method, "user_id": params.get("user_id"),
                                     "date_from": params.get("date_from"),
                                     "date_till": params.get("date_till"),
                                     "offset": params.get("offset")})

    def control(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path.rstrip("/")
        if path == "/_sandbox/accounts":
            return SandboxResponse.json({role: self.describe(account) for role, account
                                         in self.accounts.items()})
        if path == "/_sandbox/state":
            with self.lock:
                return SandboxResponse.json({
                    "counts": dict(self.counts), "last_params": self.last_params,
                    "windows": self.windows,
                    "controls": asdict(self.controls), "sessions": len(self.sessions),
                    "issued_tokens": self.issued})
        if path == "/_sandbox/reset" and request.method == "POST":
            self.reset()
            return SandboxResponse.json({"reset": True})
        if path == "/_sandbox/options" and request.method == "POST":
            return self.set_options(request.body)
        return SandboxResponse.json({"error": "unknown control path"}, 404)

    def set_options(self, body: bytes) -> SandboxResponse:
        try:
            changes = json.loads(body or b"{}")
            assert isinstance(changes, dict)
        except (ValueError, AssertionError):
            return SandboxResponse.json({"error": "a JSON object is expected"}, 400)
        unknown = sorted(set(changes) - set(Controls.__dataclass_fields__))
        if unknown:
            return SandboxResponse.json({"error": f"unknown options: {unknown}"}, 400)
        with self.lock:
            for name, value in changes.items():
                setattr(self.controls, name, value)
            return SandboxResponse.json(asdict(self.controls))

    @staticmethod
    def describe(account: Account) -> dict[str, Any]:
        return {**account.config(), "role": account.role, "app_id": account.app_id,
                "timezone": account.timezone,
                "clients": [asdict(client) for client in account.clients],
                "disabled_methods": sorted(account.disabled)}

"""One account's way in: its token (permanent, or a login.user session renewed before it
expires), the JSON-RPC call with the account's error rules, and pacing from the quota the
API reports in every answer (``metadata.limits``)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import requests

from tap_calltrack.comagic.rpc import (
    Answer,
    Limits,
    MinuteLimit,
    TokenRejected,
    TokenRenewed,
    error_for,
    parse_answer,
    request_body,
)
from tap_calltrack.http import ApiRequest, AuthError, FatalError, VendorHttp
from tap_calltrack.redaction import REDACTOR
from tap_calltrack.settings import Account

HEADERS = {"Content-Type": "application/json; charset=UTF-8"}
SESSION_S = 3600.0  # login.user tokens live one hour (docs/notes.md 2.2)
RENEW_MARGIN_S = 60.0  # renew this long before expiry (the PHP client does: docs/notes.md 2.2)...
RENEW_FRACTION = 0.2  # ... or this share of a shorter lifetime
MAX_RENEWALS = 2  # fresh sessions per request before the account counts as refused
MINUTE_RESET_MARGIN_S = 0.5  # minute_reset is whole seconds: do not arrive a moment early
DAY_WARNING_SHARE = 0.05


class AccountSession:
    """Token, calls and quota pacing of one configured account (shared by its clients)."""

    def __init__(self, account: Account, http: VendorHttp, logger: logging.Logger) -> None:
        self.account = account
        self.http = http
        self.logger = logger
        self.where = account.options["setting"]
        self.url = account.options["api_url"]
        self.renewable = "login" in account.secrets
        self._token: str | None = account.secrets.get("access_token")
        self._renew_at = math.inf
        self._expires_at = math.inf
        self._lock = threading.Lock()
        self._day_warned = False

    # --- calls ---------------------------------------------------------------------------

    def call(self, method: str, params: Mapping[str, Any], what: str, *,
             soft: Collection[str] = ()) -> Answer:
        """Call ``method`` with the account's token. Errors raise, except mnemonics in
        ``soft``, which come back in the answer for the caller to handle.

        Retries are VendorHttp's (http.py); this only classifies: a spent minute quota is
        retried once it resets, a refused session token once a new session is open."""
        sent_token = ""
        renewals = 0

        def request() -> ApiRequest:  # built at each try: the token may have been renewed
            nonlocal sent_token
            sent_token = self.token()
            return self.request(method, {**params, "access_token": sent_token})

        def refused(error: TokenRejected) -> Exception:
            nonlocal renewals
            if not self.renewable or renewals >= MAX_RENEWALS:
                return error
            renewals += 1
            self.forget(sent_token)
            return TokenRenewed(f"{error}; opening a new session", retry_after=0.0)

        return self.http.request(request, self.decoder(soft, refused), what)

    def send(self, method: str, params: Mapping[str, Any], what: str) -> Answer:
        """One JSON-RPC request with the given params (login, logout: no token renewal)."""
        return self.http.request(self.request(method, params), self.decoder(()), what)

    def request(self, method: str, params: Mapping[str, Any]) -> ApiRequest:
        return ApiRequest("POST", self.url, body=request_body(method, params),
                          headers=HEADERS)

    def decoder(self, soft: Collection[str],
                refused: Callable[[TokenRejected], Exception] | None = None
                ) -> Callable[[requests.Response], Answer]:
        def decode(response: requests.Response) -> Answer:
            answer = parse_answer(response)
            self.pace(answer.limits)
            if answer.error is None or answer.mnemonic in soft:
                return answer
            error = error_for(answer, self.where)
            if isinstance(error, MinuteLimit):
                error.retry_after = self.wait_for_minute(answer.limits)
            if isinstance(error, TokenRejected) and refused is not None:
                raise refused(error)
            raise error

        return decode

    # --- quota ---------------------------------------------------------------------------

    def pace(self, limits: Limits | None) -> None:
        """Hold every request of the vendor when the minute budget is nearly spent: the
        requests still in flight may use what is left."""
        if limits is None:
            return
        reserve = self.http.limits.max_concurrent_requests
        remaining = limits.minute_remaining
        if remaining is not None and remaining <= reserve and limits.minute_reset:
            self.http.hold(limits.minute_reset + MINUTE_RESET_MARGIN_S,
                           f"{self.account.label}: {remaining} of {limits.minute_limit} "
                           "requests left this minute")
        day_left, day_limit = limits.day_remaining, limits.day_limit
        if day_left is not None and day_limit and not self._day_warned and \
                day_left <= max(reserve, day_limit * DAY_WARNING_SHARE):
            self._day_warned = True
            self.logger.warning("comagic account '%s': %d of %d requests of today's quota "
                                "left", self.account.label, day_left, day_limit)

    def wait_for_minute(self, limits: Limits | None) -> float:
        """Hold the vendor until the minute quota resets; the wait, in seconds."""
        reset = limits.minute_reset if limits and limits.minute_reset else 1.0
        wait = reset + MINUTE_RESET_MARGIN_S
        self.http.hold(wait, f"{self.account.label}: the minute quota is spent "
                             "(limit_exceeded)")
        return wait

    # --- token -----------------------------------------------------------------------------

    def token(self) -> str:
        """The token to use now; a session is (re)opened when missing or about to expire."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._login()
            assert self._token is not None
            return self._token

    def forget(self, token: str) -> None:
        """The API refused ``token``: the next call opens a new session."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _login(self) -> None:
        if not self.renewable:
            raise AuthError(f"no access_token for {self.where}")
        secrets = self.account.secrets
        answer = self.send("login.user", {"login": secrets["login"],
                                          "password": secrets["password"]},
                           f"comagic login.user [{self.account.label}]")
        data = answer.result.get("data") if isinstance(answer.result, Mapping) else None
        token = data.get("access_token") if isinstance(data, Mapping) else None
        if not isinstance(data, Mapping) or not isinstance(token, str) or not token:
            raise AuthError(f"comagic login.user [{self.account.label}]: the answer has no "
                            "access_token")
        REDACTOR.add([token])
        lifetime = session_lifetime(data)
        now = time.monotonic()
        self._token = token
        self._expires_at = now + lifetime
        self._renew_at = now + lifetime - min(RENEW_MARGIN_S, lifetime * RENEW_FRACTION)
        self.logger.info("comagic account '%s': session opened (login.user), valid %.0f s",
                         self.account.label, lifetime)

    def logout(self) -> None:
        """End a login.user session (the original client's endSession)."""
        with self._lock:
            token = self._token if self.renewable else None
            if token is None or time.monotonic() >= self._expires_at:
                return
            self._token = None
        try:
            self.send("logout.user", {"access_token": token},
                      f"comagic logout.user [{self.account.label}]")
        except FatalError as exc:
            self.logger.info("comagic account '%s': logout.user failed: %s",
                             self.account.label, exc)
            return
        self.logger.info("comagic account '%s': session closed (logout.user)",
                         self.account.label)


def session_lifetime(data: Mapping[str, Any], now: float | None = None) -> float:
    """Seconds the session is valid, from ``expire_at`` (or ``expire``, as the doc's example
    spells it: docs/notes.md quirk 21), a Unix time; one hour when missing or implausible."""
    expire = data.get("expire_at", data.get("expire"))
    if isinstance(expire, bool) or not isinstance(expire, (int, float)):
        return SESSION_S
    lifetime = expire - (time.time() if now is None else now)
    return lifetime if 0 < lifetime <= 2 * SESSION_S else SESSION_S

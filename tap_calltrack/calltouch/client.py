"""Calltouch's protocol, once: token parameter, per-endpoint date order, paged envelope,
errors, and the normalised UTC bookmark field of every record (``date_utc``)."""

from __future__ import annotations

from typing import Any, ClassVar

import requests
from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.pagination import PageNumberPaginator

from tap_calltrack.base import Page, PaginatorWalk, SinglePageWalk, WindowedStream
from tap_calltrack.http import (
    ApiRequest,
    AuthError,
    ProtocolError,
    QuotaExhausted,
    StreamUnavailable,
    decode_json,
    status_error,
)
from tap_calltrack.normalize import to_int
from tap_calltrack.recordings import url_part
from tap_calltrack.settings import Account
from tap_calltrack.windows import DMY_HMS, Window

PAGE_LIMIT = 1000  # the journal's maximum page size
CT_DATETIME = DMY_HMS  # dd/mm/yyyy hh:mm:ss, the site's local time


class CalltouchPaginator(PageNumberPaginator):
    """Pages from 1; the end is ``page >= pageTotal`` or an empty ``records`` (the Go SDK's
    ``until pageTotal == page`` never ends on an empty result: docs/notes.md 1.2)."""

    def __init__(self) -> None:
        super().__init__(start_value=1)

    def has_more(self, response: requests.Response) -> bool:
        body = response.calltrack_body  # type: ignore[attr-defined]
        return bool(body.get("records")) and body.get("page", 0) < body.get("pageTotal", 0)


def remaining_pages(page: Page) -> range | None:
    """All further page numbers, known from the first answer's ``pageTotal`` (a lazy range:
    the walk bounds how many pages a window may take)."""
    body = page.body
    if not isinstance(body, dict) or "pageTotal" not in body:
        return None
    if not body.get("records"):
        return range(0)
    return range(2, body["pageTotal"] + 1)


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_envelope(body: Any) -> None:
    """The paged envelope ``{page, pageTotal, records: [...]}`` with integer counters
    (docs/notes.md 1.2); anything else is a protocol error, never "no rows"."""
    if not isinstance(body, dict):
        raise ProtocolError(f"the answer is a JSON {type(body).__name__}, not the paged "
                            "envelope {page, pageTotal, records}")
    if not is_count(body.get("page")) or not is_count(body.get("pageTotal")):
        raise ProtocolError("the paged envelope has no integer page and pageTotal")
    records = body.get("records")
    if records is None and (body["pageTotal"] == 0 or body.get("recordsTotal") == 0):
        return  # an empty result may come without records (undocumented: docs/notes.md 1.2)
    check_rows(records, "records")


def check_rows(rows: Any, what: str) -> None:
    if not isinstance(rows, list):
        raise ProtocolError(f"the answer's {what} is a JSON {type(rows).__name__}, not an "
                            "array")
    if not all(isinstance(row, dict) for row in rows):
        raise ProtocolError(f"the answer's {what} holds items that are not objects")


def spring_message(response: requests.Response) -> str:
    """The ``message`` of the vendor's JSON error body, if it has one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("message") or body.get("error") or "") if isinstance(body, dict) else ""


def decode_calltouch(response: requests.Response) -> Any:
    """JSON of a successful answer; refused tokens and a spent budget are named as such."""
    error = status_error(response)
    if response.status_code in (401, 403, 404):
        message = spring_message(response)
        if "балл" in message.lower() or "points" in message.lower():
            raise QuotaExhausted(f"the daily API points budget is spent ({message})")
        what = {401: "the API token was refused", 403: "the token has no rights on this site",
                404: "the site does not exist"}[response.status_code]
        raise AuthError(f"HTTP {response.status_code}: {what}" + (f" ({message})" if message
                                                                  else ""))
    if error is not None:
        raise error
    return decode_json(response)


def decode_statistics(response: requests.Response) -> Any:
    """The legacy statistics endpoints are gone for some sites: they answer 404, or an HTML
    page with a success status. A 429/5xx is retried before this is read (whatever its
    body), and stays a failure after the last try."""
    html = response.content[:1] == b"<" or "html" in response.headers.get("Content-Type", "")
    if response.status_code == 404 or (html and response.status_code < 300):
        raise StreamUnavailable(
            f"the legacy statistics endpoints are not available for this site "
            f"(HTTP {response.status_code}{', HTML page' if html else ''}); statistics skipped")
    return decode_calltouch(response)


def checked_statistic(kind: str, body: Any) -> Any:
    """total-count is a bare number, the others an object of counts (docs/notes.md 1.6). An
    empty list is taken for an empty object ("no counts": how many JSON encoders write an
    empty map; the docs show no empty answer), anything else of another shape is refused."""
    if body == [] and kind != "total-count":
        return {}
    if kind == "total-count":
        ok = isinstance(body, (int, float)) and not isinstance(body, bool)
    else:
        ok = isinstance(body, dict) and all(
            isinstance(to_int(value), int) and not isinstance(value, bool)
            for value in body.values())
    if not ok:
        raise ProtocolError(f"{kind} answered a JSON {type(body).__name__} that is not the "
                            "documented " + ("number" if kind == "total-count" else
                                             "object of counts"))
    return body


class CalltouchStream(WindowedStream):
    """A Calltouch endpoint read per site in date windows."""

    vendor = "calltouch"
    replication_key = "date_utc"
    #: Calltouch's query dates are dd/mm/yyyy on every endpoint but leads, which take
    #: mm/dd/yyyy; a wrong order silently returns another range (docs/notes.md quirk 1).
    date_param_format: ClassVar[str] = "%d/%m/%Y"
    token_param: ClassVar[str] = "clientApiId"
    paged: ClassVar[bool] = True

    #: The endpoint under ``api_url``; ``{site_id}`` is the account's site.
    path: ClassVar[str]

    def url_params(self, account: Account, window: Window, page: Any) -> dict[str, Any]:
        params: dict[str, Any] = {
            "dateFrom": window.first_day.strftime(self.date_param_format),
            "dateTo": window.last_day.strftime(self.date_param_format),
        }
        if self.paged:
            params.update(page=page, limit=PAGE_LIMIT)
        params.update(self.extra_params())
        return params

    def api_request(self, account: Account, window: Window, page: Any = None,
                    suffix: str = "") -> ApiRequest:
        """The GET of one page (``suffix``: a statistics kind under the path)."""
        path = self.path.replace("{site_id}", url_part(account.context["site_id"]))
        return ApiRequest("GET", f"{self.url_base.rstrip('/')}{path}{suffix}",
                          params=self.url_params(account, window, page),
                          auth=self.authenticator_for(account))

    def extra_params(self) -> dict[str, Any]:
        return {}

    def setting(self, key: str) -> Any:
        return self.runtime.setting(key)

    def flags(self, key: str) -> dict[str, str]:
        """Enrichment flags from a list setting, as the query strings the API expects."""
        return {flag: "true" for flag in self.setting(key) or []}

    def attribution(self) -> dict[str, Any]:
        """The attribution model setting, when set (else the cabinet's model applies)."""
        value = self.setting("attribution")
        return {} if value is None else {"attribution": value}

    def authenticator_for(self, account: Account) -> APIKeyAuthenticator:
        return APIKeyAuthenticator(key=self.token_param, value=account.secrets["api_token"],
                                   location="params")

    def fetch_page(self, account: Account, window: Window, token: Any) -> Page:
        response, body = self.http.request(self.api_request(account, window, token),
                                           self.decode_page,
                                           self.describe(account, window, token))
        return Page(response, body, self.normalised(self.records_of(body), account), window)

    def statistic(self, account: Account, window: Window, kind: str) -> tuple[Any, Any]:
        """One aggregate of the legacy statistics endpoints (``kind`` under the path)."""
        def decode(response: requests.Response) -> tuple[requests.Response, Any]:
            return response, checked_statistic(kind, decode_statistics(response))

        return self.http.request(self.api_request(account, window, suffix=kind), decode,
                                 self.describe(account, window, kind))

    def decode_page(self, response: requests.Response) -> tuple[requests.Response, Any]:
        body = decode_calltouch(response)
        if self.paged:
            check_envelope(body)
        else:
            check_rows(body, "body")  # leads: a bare array (doc 003)
        # Decoded once: the paginator reads it here instead of parsing the body again.
        response.calltrack_body = body  # type: ignore[attr-defined]
        return response, body

    @staticmethod
    def records_of(body: Any) -> list[dict[str, Any]]:
        """The rows of a checked answer (see :meth:`decode_page`)."""
        if isinstance(body, list):
            return body
        return body.get("records") or []

    def new_walk(self, account: Account, window: Window) -> Any:
        if not self.paged:
            return SinglePageWalk()
        return PaginatorWalk(CalltouchPaginator(), remaining_pages)

    def normalise_row(self, row: dict[str, Any], account: Account) -> None:
        row["site_id"] = account.context["site_id"]
        self.normalise(row, account)

    def normalise(self, row: dict[str, Any], account: Account) -> None:
        """Vendor-specific type fixes and the ``date_utc`` field (see streams.py)."""

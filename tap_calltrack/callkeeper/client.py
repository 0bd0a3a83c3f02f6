"""CallKeeper's protocol, once: the route in the query string, the two answer shapes,
in-band errors and end-of-data signals (docs/notes.md 3.1, quirks 25-27).

``GET {api_url}?json/v3/{key}/call/{method}/{page}/{from}/{to}``: pages from 0, 1000 calls
a page, dates ``Y-m-d``. Whether ``to`` is inclusive is not settled by the doc, so ``to`` is
the day after the window's last day and only rows inside the window are kept (see
:meth:`CallkeeperStream.window_rows`). The key is a route segment, so the URL is only ever
built here, sent as is, and never put into a message.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

import msgspec
import requests
from singer_sdk.pagination import PageNumberPaginator
from typing_extensions import override

from tap_calltrack.base import Page, PaginatorWalk, WindowedStream
from tap_calltrack.http import (
    RETRY_STATUSES,
    ApiRequest,
    AuthError,
    FatalError,
    ProtocolError,
    RetryableError,
    status_error,
)
from tap_calltrack.normalize import to_int
from tap_calltrack.redaction import MASK
from tap_calltrack.settings import Account
from tap_calltrack.windows import Window, parse_local

FORMAT, VERSION, ENTITY = "json", "v3", "call"
PAGE_SIZE = 1000
ROUTE_DATE = "%Y-%m-%d"
CALL_TIME = "%Y-%m-%d %H:%M:%S"  # callTime, in the cabinet's zone (docs/callkeeper.md)
ONE_DAY = dt.timedelta(days=1)
# "No rows found": nothing (more) in the range; "Incorrect page is set": the page is past
# the last one. Both mean the end of the data, not a failure (docs/notes.md 3.1, quirk 26).
END_OF_DATA = frozenset({"No rows found", "Incorrect page is set"})
# The documented errors (doc 002), by the start of the vendor's text: what was wrong.
REFUSALS: dict[str, tuple[type[FatalError], str]] = {
    "User is not recognized": (
        AuthError, "the API key was not recognized (a getByRole account needs the role's "
                   "key, get and getWithRole the user's key)"),
    "Type to return is not available": (FatalError, "the format segment ('json') was refused"),
    "It is wrong API version": (FatalError, "the API version segment ('v3') was refused"),
    "Entity does not exist": (FatalError, "the entity segment ('call') was refused"),
    "Method does not exist": (FatalError, "the method segment (callkeeper.accounts[].method) "
                                          "was refused"),
    "Start date has wrong type": (FatalError, "the start date segment (Y-m-d) was refused"),
}
_JSON = msgspec.json.Decoder()
_NOT_JSON = object()
@dataclass(frozen=True)
class Answer:
    """One decoded page: its calls, the page count when told, the end-of-data message."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    of_pages: int | None = None
    end: str | None = None


def route(account: Account, page: int, first: dt.date, last: dt.date) -> str:
    key = account.secrets["api_key"]
    method = account.options["method"]
    return (f"{FORMAT}/{VERSION}/{key}/{ENTITY}/{method}/{page}/"
            f"{first.strftime(ROUTE_DATE)}/{last.strftime(ROUTE_DATE)}")


def route_url(api_url: str, route_text: str) -> str:
    return f"{api_url.rstrip('?')}?{route_text}"


def json_body(response: requests.Response) -> Any:
    content = response.content
    if content[:1] == b"<" or "html" in response.headers.get("Content-Type", ""):
        return _NOT_JSON
    try:
        return _JSON.decode(content)
    except msgspec.DecodeError:
        return _NOT_JSON


def in_band_error(body: Any) -> str | None:
    inbound = body.get("inbound") if isinstance(body, dict) else None
    error = inbound.get("error") if isinstance(inbound, dict) else None
    return str(error).strip() if error else None


def answer_for_error(text: str) -> Answer:
    """End of data for the two end signals; otherwise the error naming what was wrong."""
    if text in END_OF_DATA:
        return Answer(end=text)
    for start, (error_class, meaning) in REFUSALS.items():
        if text.startswith(start):
            raise error_class(f"{meaning} (CallKeeper: {text!r})")
    raise FatalError(f"CallKeeper refused the request: {text[:200]!r}")


def answer_of(body: Any) -> Answer:
    """A bare array (v3) or the legacy envelope ``{inbound, info, payload}``; any other
    shape is a protocol error (retried, then the stream fails), never "no calls"."""
    if isinstance(body, list):
        return Answer(checked_rows(body))
    if isinstance(body, dict) and isinstance(body.get("payload"), list):
        inbound = body.get("inbound")
        return Answer(checked_rows(body["payload"]), of_pages(inbound))
    raise ProtocolError("the answer is neither an array of calls nor an envelope with payload")


def of_pages(inbound: Any) -> int | None:
    """``inbound.ofPages``: an integer (or its digits) when present."""
    pages = inbound.get("ofPages") if isinstance(inbound, dict) else None
    if pages is None:
        return None
    pages = to_int(pages)
    if not isinstance(pages, int) or isinstance(pages, bool) or pages < 0:
        raise ProtocolError("the envelope's inbound.ofPages is not a page count")
    return pages


def checked_rows(rows: list[Any]) -> list[dict[str, Any]]:
    """Calls are objects; which names they carry (v3 or v1) the stream sorts out."""
    if not all(isinstance(row, dict) for row in rows):
        raise ProtocolError("the answer has rows that are not call objects")
    return rows


def call_moment(row: dict[str, Any], account: Account) -> dt.datetime | None:
    """A row's ``callTime`` in the account's zone; None when it cannot be read."""
    text = row.get("callTime")
    if not isinstance(text, str):
        return None
    try:
        return parse_local(text, CALL_TIME).replace(tzinfo=account.timezone)
    except ValueError:
        return None


def decode_answer(response: requests.Response, key: str) -> Answer:
    """Errors come in the body (``inbound.error``) with undocumented HTTP statuses: the body
    decides, the status only when the body says nothing (docs/notes.md 3.1); 429 and 5xx are
    retried whatever the body."""
    status = status_error(response)
    if status is not None and response.status_code in RETRY_STATUSES:
        raise status
    body = json_body(response)
    error = in_band_error(body)
    if error is not None:
        return answer_for_error(error.replace(key, MASK))
    if status is not None:
        raise status
    if body is _NOT_JSON:
        raise RetryableError(f"the answer is not JSON ({len(response.content)} bytes)")
    return answer_of(body)


class CallkeeperPaginator(PageNumberPaginator):
    """Pages from 0 until a short page or an end-of-data answer."""

    def __init__(self) -> None:
        super().__init__(start_value=0)

    @override
    def has_more(self, response: requests.Response) -> bool:
        answer: Answer = response.calltrack_answer  # type: ignore[attr-defined]
        return answer.end is None and len(answer.rows) >= PAGE_SIZE


def remaining_pages(page: Page) -> range | None:
    """Every further page, when the legacy envelope tells ``inbound.ofPages``."""
    answer: Answer = page.body
    if answer.of_pages is None:
        return None
    if answer.end is not None or not answer.rows:
        return range(0)
    return range(1, answer.of_pages)


class CallkeeperStream(WindowedStream):
    """A CallKeeper entity read per API key in date windows."""

    vendor = "callkeeper"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timeless: set[tuple[str, str]] = set()  # (account, key) of rows without time
        self._timeless_lock = threading.Lock()

    def fetch_page(self, account: Account, window: Window, token: Any) -> Page:
        # {to} is the day after the window: read inclusive or exclusive, the answer holds
        # the window's last day (docs/callkeeper.md, "Windows and {to}").
        request = ApiRequest("GET", route_url(self.url_base, route(
            account, token, window.first_day, window.last_day + ONE_DAY)), exact_url=True)
        key = account.secrets["api_key"]
        what = self.describe(account, window, token)

        def decode(response: requests.Response) -> tuple[requests.Response, Answer]:
            answer = decode_answer(response, key)
            # Decoded once: the paginator reads it here instead of parsing the body again.
            response.calltrack_answer = answer  # type: ignore[attr-defined]
            return response, answer

        response, answer = self.http.request(request, decode, what)
        if answer.end is not None:
            self.log_end(what, token, answer.end)
        rows = self.normalised(self.window_rows(account, window, answer.rows), account)
        return Page(response, answer, rows, window)

    def window_rows(self, account: Account, window: Window, rows: list[dict[str, Any]]
                    ) -> list[dict[str, Any]]:
        """The calls of ``window``: rows of the extra day (or after the window's end) belong
        to the next window; a row without a readable time is kept the first time its key
        is seen in the run (the windows overlap by a day when ``to`` is inclusive)."""
        kept = []
        for raw in rows:
            row = self.as_v3(raw, account)
            if row is None:
                continue
            moment = call_moment(row, account)
            if moment is None:
                if not self.first_sight(account, row):
                    continue
            elif not window.start <= moment < window.end:
                continue
            kept.append(row)
        return kept

    def first_sight(self, account: Account, row: dict[str, Any]) -> bool:
        key = (account.label, str(row.get("universalId")))
        with self._timeless_lock:
            seen = key in self._timeless
            self._timeless.add(key)
        return not seen

    def as_v3(self, row: dict[str, Any], account: Account) -> dict[str, Any] | None:
        """A row under the v3 names, or None to skip it (see streams.py)."""
        return row

    def log_end(self, what: str, page: int, signal: str) -> None:
        # Pages are documented from 0 and an empty range as "No rows found": this answer to
        # page 0 would mean the data were missed, so it is said aloud (docs/notes.md 3.1).
        if page == 0 and signal == "Incorrect page is set":
            self.logger.warning("%s: %s; taken as no calls in the window", what, signal)
        else:
            self.logger.debug("%s: %s (end of data)", what, signal)

    def new_walk(self, account: Account, window: Window) -> PaginatorWalk:
        return PaginatorWalk(CallkeeperPaginator(), remaining_pages)

"""The one HTTP layer of all vendors: throttle, bounded concurrency, retries, clear errors.

One :class:`VendorHttp` exists per vendor per process, shared by every account and stream
of that vendor, so the vendor's ceiling (Calltouch: 5 requests/s per IP) holds for the run
as a whole. The SDK has no client-side throttle and ignores ``Retry-After``; this layer
adds both, and never lets a URL or body with a secret into a message (see redaction.py for
the stderr safety net).
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import backoff
import msgspec
import requests
from requests.adapters import HTTPAdapter
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_calltrack.settings import VendorLimits

if TYPE_CHECKING:
    from backoff.types import Details

T = TypeVar("T")
LOGGER = logging.getLogger("tap_calltrack.http")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A JSON answer larger than this is refused, not buffered: the largest documented pages
# (Comagic 10,000 rows, Calltouch 1,000 enriched calls) are tens of megabytes.
MAX_JSON_BYTES = 256 * 1024 * 1024
BODY_CHUNK = 1024 * 1024
# Requests are spaced evenly, 4% wider than the ceiling allows: a vendor counting arrivals
# in any one-second window then never sees one request too many, even when a request
# reaches it up to ~40 ms late (bursts of N at once would leave no such margin).
PACING_MARGIN = 1.04
_JSON = msgspec.json.Decoder()


class RetryableError(RetriableAPIError):
    """A failure worth another try (429, 5xx, reset, timeout, broken body)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProtocolError(RetryableError):
    """An answer that is not of the shape the endpoint documents: retried, then a failure."""


class FatalError(FatalAPIError):
    """A failure another try will not fix."""

    #: Whether the message already names vendor, stream, account and window.
    located = False


class AuthError(FatalError):
    """Credentials refused or no rights: stop this account, go on with the others."""


class StreamUnavailable(FatalError):
    """The endpoint is not available to this account: skip the stream for it, warn once."""


class QuotaExhausted(FatalError):
    """The vendor's daily budget is spent: stop this vendor; state lets the next run resume."""


class ExtractionError(FatalError):
    """Retries ran out; the message names vendor, stream, account and window."""


class RedirectRefused(FatalError):
    """An API call was answered with a redirect: never followed (it would carry a secret)."""


class LimitExceeded(FatalError):
    """Something the vendor controls went past a bound (body size, pages, a wait)."""


@dataclass(frozen=True)
class ApiRequest:
    """One API call, as every vendor builds it: method, URL, query, JSON body, auth.

    ``exact_url``: the URL is sent byte for byte, unprepared (CallKeeper's route is the
    query string itself: docs/callkeeper.md).
    """

    method: str
    url: str
    params: Mapping[str, Any] | None = None
    body: bytes | None = None
    headers: Mapping[str, str] | None = None
    auth: Any = None  # a requests auth (the SDK's authenticators are)
    exact_url: bool = False

    def send(self, session: requests.Session, timeout: float) -> requests.Response:
        if self.exact_url:
            return send_exact(session, self, timeout)
        return session.request(self.method, self.url, params=self.params, data=self.body,
                               headers=self.headers, auth=self.auth, timeout=timeout)


def send_exact(session: requests.Session, request: ApiRequest, timeout: float
               ) -> requests.Response:
    """``request`` with its URL set on the prepared request after preparation, where no
    URL handling re-encodes it."""
    url = request.url
    try:
        prepared = session.prepare_request(requests.Request(request.method, url,
                                                            headers=request.headers))
        prepared.url = url
        settings = session.merge_environment_settings(url, {}, None, None, None)
        return session.send(prepared, timeout=timeout, **settings)
    except RETRIED_REQUEST_ERRORS:
        raise
    except requests.exceptions.RequestException as exc:  # its text may quote the URL
        raise FatalError(f"the request could not be sent ({type(exc).__name__})") from None


#: What requests raises that :meth:`VendorHttp.call` retries.
RETRIED_REQUEST_ERRORS = (requests.exceptions.Timeout, requests.exceptions.ConnectionError,
                          requests.exceptions.ChunkedEncodingError,
                          requests.exceptions.ContentDecodingError)


def located(error: FatalError, what: str) -> FatalError:
    """``error`` again, its message prefixed with ``what`` (vendor, stream, account...)."""
    if error.located:
        return error
    named = type(error)(f"{what}: {error}")
    named.located = True
    return named


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: either a number or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def status_error(response: requests.Response) -> Exception | None:
    """The exception an HTTP status stands for, or None for 2xx/3xx."""
    status = response.status_code
    reason = f"HTTP {status} {response.reason or ''}".strip()
    if status in RETRY_STATUSES:
        return RetryableError(reason, retry_after=retry_after_seconds(
            response.headers.get("Retry-After")))
    if 300 <= status < 400:
        return RedirectRefused(f"{reason}: the API answered with a redirect, which is not "
                               "followed (the request carries the account's credentials)")
    if status in (401, 403):
        return AuthError(f"{reason}: the token was refused or has no rights")
    if status >= 400:
        return FatalError(reason)
    return None


def decode_json(response: requests.Response) -> Any:
    """The JSON body of a successful answer; HTML or broken JSON is a retryable failure."""
    error = status_error(response)
    if error is not None:
        raise error
    body = response.content
    if body[:1] == b"<" or "html" in response.headers.get("Content-Type", ""):
        raise RetryableError("the answer is HTML, not JSON")
    try:
        return _JSON.decode(body)
    except msgspec.DecodeError:
        raise RetryableError(f"the answer is not valid JSON ({len(body)} bytes)") from None


def read_capped(response: requests.Response, cap: int) -> None:
    """Read a streamed body into ``response.content``, refusing more than ``cap`` bytes."""
    announced = response.headers.get("Content-Length", "")
    if announced.isdigit() and int(announced) > cap:
        response.close()
        raise LimitExceeded(f"the answer announces {int(announced)} bytes, more than the "
                            f"{cap} bytes accepted")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(BODY_CHUNK):
        size += len(chunk)
        if size > cap:
            response.close()
            raise LimitExceeded(f"the answer is more than the {cap} bytes accepted")
        chunks.append(chunk)
    response._content = b"".join(chunks)  # what response.content then returns
    response._content_consumed = True


class ApiSession(requests.Session):
    """API calls (every request not asking for ``stream=True``) never follow a redirect —
    each carries a credential: a token in the query or route, or in the POSTed body — and
    their bodies are read with a size cap.

    Streamed requests (recording downloads, recordings.py) are left to their caller: body
    unread, redirects as the caller asks.
    """

    max_body_bytes = MAX_JSON_BYTES

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("stream"):
            return super().send(request, **kwargs)
        kwargs["allow_redirects"] = False
        kwargs["stream"] = True
        response = super().send(request, **kwargs)
        read_capped(response, self.max_body_bytes)
        return response


def classify_last(decode: Callable[[requests.Response], Any],
                  answers: list[requests.Response]) -> FatalError | None:
    """What the vendor's body says of the last 429/5xx, when it names a failure that is not
    a retryable one (e.g. a spent daily quota); None otherwise."""
    if not answers:
        return None
    try:
        decode(answers[0])
    except RetryableError:
        return None
    except FatalError as exc:
        return exc
    return None


class Pacer:
    """Requests spaced evenly by when they really leave: each one at least ``interval``
    seconds after the previous one actually went.

    A limiter that books slots ahead (pyrate-limiter's blocking acquire dates a request
    by its planned wake-up) lets a thread that wakes late (a loaded machine, a long GIL
    hold) go right before the next one, which is on time: two arrivals 35 ms apart where
    208 ms were paced, and a vendor counting any one second answers 429 (measured on one
    large Calltouch site; README, Benchmarks). Here a late request only delays the next.
    """

    def __init__(self, requests_per_second: float) -> None:
        self.interval = PACING_MARGIN / requests_per_second
        self._last = -math.inf
        # One waiter at a time, in order of arrival at the lock.
        self._gate = threading.Lock()

    def wait(self) -> None:
        with self._gate:
            while True:
                due = self._last + self.interval - time.monotonic()
                if due <= 0:
                    break
                time.sleep(due)
            self._last = time.monotonic()


class VendorHttp:
    """Session, throttle, worker pool and retry policy of one vendor."""

    def __init__(self, vendor: str, limits: VendorLimits, user_agent: str) -> None:
        self.vendor = vendor
        self.limits = limits
        self.session = ApiSession()
        adapter = HTTPAdapter(pool_maxsize=limits.max_concurrent_requests + 2)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = user_agent
        self._pacer = Pacer(limits.max_requests_per_second)
        self._pool: ThreadPoolExecutor | None = None
        self._hold_until = 0.0
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self._closers: list[Callable[[], None]] = []

    # --- pacing -------------------------------------------------------------------------

    def hold(self, seconds: float, reason: str) -> None:
        """Make every request of this vendor wait ``seconds`` (a quota about to run out).
        A wait longer than ``max_wait_seconds`` is refused: it fails the request instead."""
        self.check_wait(seconds, reason)
        with self._lock:
            until = time.monotonic() + seconds
            if until > self._hold_until:
                self._hold_until = until
                LOGGER.info("%s: pausing requests for %.1f s: %s", self.vendor, seconds, reason)

    def _take_slot(self) -> None:
        """Wait for this request's turn (a quota hold, then the even pace)."""
        wait = self._hold_until - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._pacer.wait()

    def check_wait(self, seconds: float, reason: str) -> None:
        cap = self.limits.max_wait_seconds
        if seconds > cap:
            raise LimitExceeded(f"the vendor asks to wait {seconds:.0f} s ({reason}), more than "
                                f"max_wait_seconds ({cap:.0f} s)")

    # --- requests -----------------------------------------------------------------------

    def _wait_times(self) -> Generator[float, BaseException, None]:
        """Exponential backoff with jitter; an explicit Retry-After wins."""
        attempt = 0
        error = yield 0.0
        while True:
            attempt += 1
            told = getattr(error, "retry_after", None)
            if told is not None:
                delay = told  # checked against max_wait_seconds when the answer came
            else:
                delay = min(60.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            error = yield delay

    def call(
        self,
        send: Callable[[requests.Session], requests.Response],
        decode: Callable[[requests.Response], T],
        what: str,
    ) -> T:
        """Send (paced) and decode, retrying what :class:`RetryableError` marks retryable.

        429 and 5xx are retried whatever the body says; when the tries run out, the vendor's
        ``decode`` reads the last such answer and may name a more precise failure (a spent
        quota, a refused token); otherwise the failure is an :class:`ExtractionError`.
        """
        last_retry_answer: list[requests.Response] = []

        def attempt() -> T:
            self._take_slot()
            self._count("requests")
            last_retry_answer.clear()
            try:
                response = send(self.session)
                self._count(f"status_{response.status_code}")
                if response.status_code in RETRY_STATUSES:
                    last_retry_answer.append(response)
                    raise self.retry_status_error(response)
                return decode(response)  # a streamed body can still break while decoding
            except requests.exceptions.Timeout:
                raise RetryableError("the vendor did not answer in time") from None
            except RETRIED_REQUEST_ERRORS as exc:
                raise RetryableError(f"connection failed ({type(exc).__name__})") from None

        def log_retry(details: Details) -> None:
            self._count("retries")
            LOGGER.warning("%s: %s; retry %d of %d in %.1f s", what, details["exception"],
                           details["tries"], self.limits.max_tries - 1, details["wait"])

        retrying = backoff.on_exception(
            self._wait_times, RetryableError, max_tries=self.limits.max_tries,
            jitter=None, on_backoff=log_retry, logger=None,
        )(attempt)
        try:
            return retrying()
        except RetryableError as exc:
            precise = classify_last(decode, last_retry_answer)
            if precise is not None:
                raise located(precise, what) from None
            error = ExtractionError(
                f"{what}: gave up after {self.limits.max_tries} tries: {exc}")
            error.located = True
            raise error from None
        except FatalError as exc:
            raise located(exc, what) from None

    def retry_status_error(self, response: requests.Response) -> Exception:
        """429/5xx: retryable whatever the body (JSON, JSON with an error, HTML or empty)."""
        error = status_error(response)
        assert isinstance(error, RetryableError)
        if error.retry_after is not None:
            self.check_wait(error.retry_after, f"Retry-After of an HTTP {response.status_code}")
        return error

    def request(self, request: ApiRequest | Callable[[], ApiRequest],
                decode: Callable[[requests.Response], T], what: str) -> T:
        """:meth:`call` with one vendor request, or with how to build it at each try (a
        renewed token)."""
        timeout = self.limits.request_timeout
        build = request if callable(request) else (lambda: request)
        return self.call(lambda session: build().send(session, timeout), decode, what)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn`` on this vendor's worker pool (bounded by max_concurrent_requests)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.limits.max_concurrent_requests,
                                                thread_name_prefix=self.vendor)
            pool = self._pool
        return pool.submit(fn, *args)

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (e.g. ending vendor sessions) when the run closes this layer."""
        self._closers.append(callback)

    def close(self) -> None:
        for callback in self._closers:
            try:
                callback()
            except Exception as exc:  # closing must not hide the run's own outcome
                LOGGER.warning("%s: closing failed: %s", self.vendor, exc)
        self._closers.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self.session.close()

"""What every stream of every vendor shares: accounts as partitions, windows, bookmarks.

A vendor's ``client.py`` subclasses these with its protocol (auth, paging, errors, dates);
its ``streams.py`` is then mostly declarations.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, ClassVar

import requests
from singer_sdk import SchemaDirectory, StreamSchema
from singer_sdk.exceptions import SyncLifecycleSignal
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import BaseAPIPaginator

from tap_calltrack import schema_files
from tap_calltrack.http import (
    AuthError,
    FatalError,
    LimitExceeded,
    QuotaExhausted,
    StreamUnavailable,
    VendorHttp,
)
from tap_calltrack.lookahead import Lookahead, page_key
from tap_calltrack.messages import nothing_deselected, record_messages
from tap_calltrack.prefetch import OrderedPrefetcher
from tap_calltrack.run_status import RunStatus
from tap_calltrack.runtime import VendorRuntime
from tap_calltrack.sdk_compat import SdkStream
from tap_calltrack.settings import (
    Account,
    ConfigError,
    ContextKey,
    context_key,
    lookback_days,
    parse_instant,
)
from tap_calltrack.windows import (
    Window,
    as_local,
    day_windows,
    extraction_start,
    parse_utc,
)

if TYPE_CHECKING:
    from singer_sdk import singerlib as singer

PROGRESS_EVERY_S = 5.0
#: Pages one window may take (Calltouch, CallKeeper: 1,000 rows a page). A vendor whose
#: pages never end, or whose total says more, fails the stream for the account instead.
MAX_PAGES_PER_WINDOW = 1000
#: What a vendor answer can make our own code raise when its shape is not the documented
#: one (a string where a number was promised...): a failure of the stream, not a crash.
DATA_ERRORS = (ValueError, TypeError, KeyError, AttributeError, ArithmeticError)


def vendor_schema(vendor: str, key: str) -> StreamSchema:
    """A stream's schema file: ``schemas/<vendor>/<key>.json``."""
    return StreamSchema(SchemaDirectory(schema_files.folder(vendor)), key=key)


@dataclass
class Page:
    """One decoded answer: the raw response (for SDK paginators) and its records."""

    response: requests.Response
    body: Any
    records: list[dict[str, Any]]
    window: Window | None = None


class PaginatorWalk:
    """A :class:`~tap_calltrack.prefetch.PageWalk` over an SDK paginator.

    ``remaining`` tells, from the first page, every other page's token when the vendor
    reports a total; otherwise the paginator walks page by page. Either way a window
    takes at most :data:`MAX_PAGES_PER_WINDOW` pages, and a planned page that comes back
    empty ends the window (a total that lies does not keep the tap asking).
    """

    stop_on_empty = True

    def __init__(self, paginator: BaseAPIPaginator[Any],
                 remaining: Callable[[Page], range | None] = lambda page: None,
                 max_pages: int = MAX_PAGES_PER_WINDOW) -> None:
        self.paginator = paginator
        self._remaining = remaining
        self._max_pages = max_pages
        self._pages = 1

    def first(self) -> Any:
        return self.paginator.current_value

    def remaining(self, first_page: Page) -> range | None:
        tokens = self._remaining(first_page)
        if tokens is not None and len(tokens) + 1 > self._max_pages:
            raise LimitExceeded(f"the vendor reports {len(tokens) + 1} pages in the window, "
                                f"more than the {self._max_pages} a window may take "
                                "(use smaller windows)")
        return tokens

    def following(self, token: Any, page: Page) -> Any | None:
        self.paginator.advance(page.response)
        if self.paginator.finished:
            return None
        self._pages += 1
        if self._pages > self._max_pages:
            raise LimitExceeded(f"the window's pages are still full after {self._max_pages} "
                                "pages, the most a window may take (use smaller windows)")
        return self.paginator.current_value


class SinglePageWalk:
    """A window answered in one request."""

    def first(self) -> Any:
        return None

    def remaining(self, first_page: Page) -> list[Any]:
        return []

    def following(self, token: Any, page: Page) -> None:
        return None


class Progress:
    """INFO lines at most every few seconds: window i of N, records, request rate."""

    def __init__(self, logger: logging.Logger, stream: str, account: Account, http: VendorHttp):
        self._log = logger
        self._what = f"{stream} [{account.label}]"
        self._http = http
        self._started = time.monotonic()
        self._requests_at_start = http.counts["requests"]
        self._last_report = self._started
        self.records = 0
        self.window_index = 0
        self.windows = 0

    def step(self, records: int, window_done: bool) -> None:
        self.records += records
        self.window_index += window_done
        now = time.monotonic()
        if now - self._last_report >= PROGRESS_EVERY_S:
            self.report(now)

    def report(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._last_report = now
        elapsed = max(now - self._started, 1e-9)
        rate = (self._http.counts["requests"] - self._requests_at_start) / elapsed
        self._log.info("%s: window %d of %d, %d records, %.2f requests/s", self._what,
                          self.window_index, self.windows, self.records, rate)


class CalltrackStream(SdkStream):
    """Base of all streams: one SDK partition per configured account of the vendor.

    A plain SDK ``Stream``, not a ``RESTStream``: the SDK's request loop sends one request
    at a time, while these streams fetch pages ahead through the vendor's HTTP layer
    (prefetch.py, lookahead.py); requests are built by each vendor's ``client.py``.
    """

    vendor: ClassVar[str]
    #: Streams sharing an endpoint family skip together when an account lacks it.
    skip_group: ClassVar[str | None] = None
    #: The tap normalises types itself (see normalise_row): the SDK's
    #: recursive conformance is most of its per-record cost, and it would turn the string
    #: "false" into True in boolean fields.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Any, runtime: VendorRuntime, **kwargs: Any) -> None:
        self.runtime = runtime  # before the SDK's init, which may read partitions
        super().__init__(tap, **kwargs)
        self._reported_fields: set[str] = set()

    @property
    def url_base(self) -> str:
        return str(self.runtime.setting("api_url"))

    @property
    def http(self) -> VendorHttp:
        return self.runtime.http

    @property
    def run_status(self) -> RunStatus:
        return self.runtime.run.status

    @property
    def accounts(self) -> list[Account]:
        return self.runtime.accounts

    @property
    def partitions(self) -> list[dict[str, Any]] | None:
        return [account.context for account in self.accounts]

    @cached_property
    def _accounts_by_context(self) -> dict[ContextKey, Account]:
        return {context_key(account.context): account for account in self.accounts}

    def account_for(self, context: Mapping[str, Any] | None) -> Account:
        account = self._accounts_by_context.get(context_key(context or {}))
        if account is None:
            raise LookupError(f"{self.name}: no configured account matches {context}")
        return account

    @cached_property
    def _known_fields(self) -> frozenset[str]:
        return frozenset(self.schema.get("properties", {}))

    def report_unknown_fields(self, record: Mapping[str, Any]) -> None:
        """Log, once per stream, fields the schema does not declare (they pass through)."""
        unknown = record.keys() - self._known_fields
        if unknown and not unknown <= self._reported_fields:
            new = sorted(unknown - self._reported_fields)
            self._reported_fields.update(new)
            self.logger.warning("%s: fields not in the schema (passed through as sent): %s",
                                self.name, ", ".join(new))

    def fast_record_messages(self, record: dict[str, Any], version: int | None
                             ) -> Generator[singer.RecordMessage, None, None] | None:
        """Skip the SDK's per-record walk for deselected properties when there are none."""
        mask = self.mask
        if getattr(self, "_checked_mask", None) is not mask:
            self._checked_mask = mask
            self._fast_records = nothing_deselected(mask)
        return record_messages(self, record, version) if self._fast_records else None

    def normalise_row(self, row: dict[str, Any], account: Account) -> None:
        """The one normalisation hook: the vendor's type fixes and the tap's own fields
        (account keys, UTC bookmark fields) on one decoded row, in place.

        Each vendor's client calls it (through :meth:`normalised`) as it decodes a page,
        on the worker that fetched it: rows leave the client normalised, and
        ``post_process`` only reports fields the schema lacks."""

    def normalised(self, rows: list[dict[str, Any]], account: Account
                   ) -> list[dict[str, Any]]:
        for row in rows:
            self.normalise_row(row, account)
        return rows

    def post_process(self, row: dict[str, Any], context: Mapping[str, Any] | None = None
                     ) -> dict[str, Any] | None:
        self.report_unknown_fields(row)
        return row

    @property
    def prefetch_depth(self) -> int:
        """Pages requested ahead of the one being written: every request slot busy plus two
        decoded pages waiting. It bounds memory (a decoded page of 1000 calls is ~8 MB)."""
        return self.http.limits.max_concurrent_requests + 2

    def describe(self, account: Account, window: Window | None = None, page: Any = None) -> str:
        """How errors and retries name a request: vendor, stream, account, window, page."""
        text = f"{self.vendor} {self.name} [{account.label}]"
        if window is not None:
            text += f" window {window}"
        if page is not None:
            text += f" page {page}"
        return text

    def failure_unit(self, account: Account) -> str:
        """The stream a failure of this stream is reported (and remembered) under."""
        return self.name

    def get_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        """Records of one account. A failure stops this stream for this account only
        (one line; its bookmark stays at its last complete window); a refused account
        stops the account, a spent quota the vendor. Other streams and accounts go on."""
        if not self.accounts:  # none selected (only_accounts, shard): the SDK asks with {}
            return
        account = self.account_for(context)
        run = self.run_status
        group = self.skip_group or self.name
        if not run.may_extract(account, group) or \
                not run.may_extract(account, self.failure_unit(account)):
            return
        try:
            yield from self.records_for(account, context)
        except AuthError as exc:
            run.fail_account(account, exc)
        except StreamUnavailable as exc:
            run.skip_stream(account, group, exc)
        except QuotaExhausted as exc:
            run.exhaust_vendor(account.vendor, exc)  # the unified stream has no vendor
        except (ConfigError, SyncLifecycleSignal):
            raise  # a bad config stops the run; the SDK's own aborts are its business
        except FatalError as exc:
            self.fail(account, exc, str(exc))
        except DATA_ERRORS as exc:
            self.logger.debug("%s: unexpected answer", self.describe(account), exc_info=True)
            self.fail(account, exc, f"an answer of an unexpected shape "
                                    f"({type(exc).__name__}: {exc})")

    def fail(self, account: Account, exc: Exception, cause: str) -> None:
        """Report a failure of this stream for ``account`` (once, with where it happened)."""
        unit = self.failure_unit(account)
        named = getattr(exc, "located", False) or (  # a message built with describe()
            cause.startswith(f"{account.vendor} ") and f"[{account.label}]" in cause)
        if not named:
            window = getattr(exc, "window", None)
            window = getattr(window, "window", window)  # a task of a window (Comagic)
            where = f"{account.vendor} {unit} [{account.label}]"
            cause = f"{where} window {window}: {cause}" if window else f"{where}: {cause}"
        self.run_status.fail_stream(account, unit, cause)

    def records_for(self, account: Account, context: Mapping[str, Any] | None
                    ) -> Iterator[dict[str, Any]]:
        """Every record of one account (the vendor's protocol goes here)."""
        raise NotImplementedError


class WindowedStream(CalltrackStream):
    """An incremental stream read in date windows, with a bookmark per account.

    The bookmark is the end of the last window whose records were all emitted (canonical
    UTC), never a record's own value: records of a window arrive in the vendor's order,
    and a window is the unit that is known to be complete.
    """

    #: Setting (in the vendor's section) holding the window size in days, and its default.
    window_setting: ClassVar[str]
    window_default_days: ClassVar[int] = 7
    bookmarks_per_record = False  # see advance_bookmark

    def window_days(self, account: Account) -> int:
        value = self.runtime.setting(self.window_setting)
        return int(value or self.window_default_days)

    def extraction_range(self, account: Account, context: Mapping[str, Any] | None
                         ) -> tuple[dt.datetime, dt.datetime]:
        """``start_date`` or the bookmark minus the lookback, to ``end_date`` or the run start."""
        tz = account.timezone
        config = self.config
        start = as_local(parse_instant(config["start_date"], "start_date"), tz,
                         date_means_end=False)
        end_setting = config.get("end_date")
        end = (as_local(parse_instant(end_setting, "end_date"), tz, date_means_end=True)
               if end_setting else self.runtime.run.started_at.astimezone(tz))
        bookmark = self.get_context_state(context).get("replication_key_value")
        start = extraction_start(start, bookmark, lookback_days(config))
        return start, end

    def windows_for(self, account: Account, context: Mapping[str, Any] | None) -> list[Window]:
        start, end = self.extraction_range(account, context)
        return day_windows(start, end, self.window_days(account))

    def advance_bookmark(self, context: Mapping[str, Any] | None, window: Window) -> None:
        """Record that every record up to ``window.end`` has been emitted; write STATE."""
        state = self.get_context_state(context)
        current = state.get("replication_key_value")
        value = window.end_bookmark
        if current and state.get("replication_key") == self.replication_key and \
                parse_utc(str(current)) >= window.end:
            return
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = value
        self.state_manager.is_flushed = False
        self.write_state()

    # --- fetching ----------------------------------------------------------------------

    def fetch_page(self, account: Account, window: Window, token: Any) -> Page:
        """One request of one window (runs on the vendor's worker pool)."""
        raise NotImplementedError

    def new_walk(self, account: Account, window: Window) -> Any:
        """A :class:`~tap_calltrack.prefetch.PageWalk` for one window."""
        raise NotImplementedError

    def pages(self, account: Account, windows: list[Window]) -> Iterator[tuple[Window, Page, bool]]:
        self.send_ahead(account)

        def submit(fetch: Callable[..., Page], window: Window, token: Any) -> Future[Page]:
            key = page_key(account.context, window, token)
            sent = self.lookahead.take(key) if key is not None else None
            return sent if sent is not None else self.http.submit(fetch, window, token)

        prefetcher: OrderedPrefetcher[Window, Page] = OrderedPrefetcher(
            fetch=lambda window, token: self.fetch_page(account, window, token),
            submit=submit,
            new_walk=lambda window: self.new_walk(account, window),
            ahead=self.prefetch_depth,
        )
        return prefetcher.run(windows)

    # --- accounts ahead (see lookahead.py) --------------------------------------------

    @cached_property
    def lookahead(self) -> Lookahead:
        lookahead = Lookahead(self.http.submit, self.http.limits.max_concurrent_requests)
        self.http.on_close(lookahead.close)
        return lookahead

    def account_order(self) -> list[Account]:
        """The accounts in the order the SDK syncs this stream's partitions."""
        return self.accounts

    def planned_windows(self, account: Account) -> list[Window]:
        """The windows :meth:`pages` will be asked for when ``account``'s turn comes."""
        return self.windows_for(account, account.context)

    def send_ahead(self, account: Account) -> None:
        """Request the first page of the next accounts' first window (bounded)."""
        order = self.account_order()
        keys = [context_key(other.context) for other in order]
        if context_key(account.context) not in keys:
            return
        position = keys.index(context_key(account.context))
        self.lookahead.drop_before(position)
        run = self.run_status
        for offset, following in enumerate(order[position + 1:], start=position + 1):
            if self.lookahead.full:
                return
            if not run.may_extract(following, self.failure_unit(following)):
                continue
            windows = self.planned_windows(following)
            if not windows:
                continue
            token = self.new_walk(following, windows[0]).first()
            key = page_key(following.context, windows[0], token)
            if key is not None:
                self.lookahead.send(key, offset, partial(self.fetch_page, following,
                                                         windows[0], token))

    def records_for(self, account: Account, context: Mapping[str, Any] | None
                    ) -> Iterator[dict[str, Any]]:
        windows = self.windows_for(account, context)
        progress = Progress(self.logger, self.name, account, self.http)
        progress.windows = len(windows)
        for window, page, window_done in self.pages(account, windows):
            yield from page.records
            progress.step(len(page.records), window_done)
            if window_done:
                self.advance_bookmark(context, window)
        progress.report()



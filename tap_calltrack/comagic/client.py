"""Comagic's protocol for streams: explicit field lists, offset paging, agency clients, and
report windows split until the API can page through them.

Rows are completed (app_id, user_id, UTC times, record links) as each page arrives, on
the worker that fetched it (``normalise_row``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from tap_calltrack.base import CalltrackStream, Page, WindowedStream
from tap_calltrack.comagic.accounts import ComagicAccounts, Scope, rows_of, total_of
from tap_calltrack.comagic.rpc import Answer, describe_error, error_data
from tap_calltrack.http import FatalError, LimitExceeded
from tap_calltrack.lookahead import page_key
from tap_calltrack.prefetch import OrderedPrefetcher
from tap_calltrack.settings import Account
from tap_calltrack.windows import Window, local_to_utc

DATETIME = "%Y-%m-%d %H:%M:%S"  # the API's dates: account-local, no zone (docs/notes.md 2.1)
MAX_OFFSET = 100_000  # the API's largest offset: a window pages through offset + limit rows
ADJUSTABLE = frozenset({"unexpected_parameters", "sort_prohibited"})
SOFT = ADJUSTABLE | {"date_interval_limit_reached"}
TAP_FIELDS = frozenset({"account", "app_id", "user_id"})
MAX_ADJUSTMENTS = 50  # refusals one request may answer (each drops a field or the sort)


class ComagicStream(CalltrackStream):
    """A Data API method, always asked with an explicit ``fields`` list: without it the
    API returns only a small default set (docs/notes.md quirk 15). Partitioned per configured
    account unless combined with :class:`ClientPartitions`."""

    vendor = "comagic"
    method: ClassVar[str]
    #: Fields the tap fills itself, besides account, app_id, user_id and the replication key.
    own_fields: ClassVar[frozenset[str]] = frozenset()
    #: Vendor fields the tap needs even when deselected (keys, dates, record links).
    needed_fields: ClassVar[frozenset[str]] = frozenset({"id"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unknown: set[str] = set()
        self._sort_refused = False
        self._adjust_lock = threading.Lock()

    @property
    def comagic(self) -> ComagicAccounts:
        return self.runtime.shared(ComagicAccounts)

    def setting(self, key: str) -> Any:
        return self.runtime.setting(key)

    @property
    def page_size(self) -> int:
        return int(self.setting("page_size"))

    # --- request -------------------------------------------------------------------------

    def tap_fields(self) -> frozenset[str]:
        bookmark = {self.replication_key} if self.replication_key else set()
        return TAP_FIELDS | self.own_fields | bookmark

    def sort_fields(self) -> tuple[str, ...]:
        return ()

    @cached_property
    def _schema_fields(self) -> list[str]:
        added = self.tap_fields()
        return [name for name in self.schema["properties"] if name not in added]

    def vendor_fields(self) -> list[str]:
        """Selected schema properties the vendor knows (and those the tap needs)."""
        every = self.wants_every_field()
        mask = self.mask
        return [name for name in self._schema_fields if name not in self._unknown and
                (every or name in self.needed_fields or mask[("properties", name)])]

    def wants_every_field(self) -> bool:
        """Whether rows feed more than this stream's own selection."""
        return False

    def request_params(self, scope: Scope, extra: Mapping[str, Any]) -> dict[str, Any]:
        params = {**scope.params(), **extra, "fields": self.vendor_fields()}
        if self.sort_fields() and not self._sort_refused:
            params["sort"] = [{"field": name, "order": "asc"} for name in self.sort_fields()]
        return params

    def rpc(self, scope: Scope, extra: Mapping[str, Any], offset: int, what: str) -> Answer:
        """One page; fields or a sort the API refuses are dropped (for the rest of the run,
        every account) and the request repeated with what is left."""
        session = self.comagic.session(scope.parent)
        for _ in range(MAX_ADJUSTMENTS):
            params = {**self.request_params(scope, extra), "offset": offset,
                      "limit": self.page_size}
            answer = session.call(self.method, params, what, soft=SOFT)
            if answer.error is None or answer.mnemonic not in ADJUSTABLE:
                return answer
            self.adjust(answer, params, what)
        raise FatalError(f"{what}: the API still refuses the request after "
                         f"{MAX_ADJUSTMENTS} adjustments")

    def adjust(self, answer: Answer, sent: Mapping[str, Any], what: str) -> None:
        """Drop what a refusal names, or raise when it cannot be dropped.

        Several requests are in flight at once: a refusal may name a field or sort that
        another request's refusal has dropped meanwhile. Only what was *sent* is matched,
        and the request is then simply repeated with the current lists."""
        error = answer.error or {}
        fields = list(sent.get("fields") or [])
        sorted_by = [item.get("field") for item in sent.get("sort") or []
                     if isinstance(item, Mapping)]
        with self._adjust_lock:
            if answer.mnemonic == "sort_prohibited" and sorted_by:
                self.refuse_sort(error)
                return
            names = refused_fields(error, fields + [n for n in sorted_by if n not in fields])
            if answer.mnemonic != "unexpected_parameters" or not names:
                raise FatalError(f"{what}: {describe_error(error)}")
            if set(names) & set(sorted_by) and not set(names) <= set(fields):
                self.refuse_sort(error)
                return
            needed = sorted(set(names) & self.needed_fields)
            if needed:
                raise FatalError(f"{what}: the API refuses field(s) this stream needs "
                                 f"({', '.join(needed)}): {describe_error(error)}")
            new = [name for name in names if name not in self._unknown]
            self._unknown.update(new)
            if new:
                self.logger.warning("%s: the API does not know field%s %s (%s); requesting "
                                    "the others", self.name, "s" if len(new) > 1 else "",
                                    ", ".join(f"'{n}'" for n in new), describe_error(error))

    def refuse_sort(self, error: Mapping[str, Any]) -> None:
        if not self._sort_refused:
            self._sort_refused = True
            self.logger.warning("%s: the API refuses the sort (%s); reading unsorted",
                                self.name, describe_error(error))

    # --- records -------------------------------------------------------------------------

    def complete(self, row: dict[str, Any], scope: Scope) -> dict[str, Any]:
        """The tap's own fields of one vendor row."""
        row["account"] = scope.parent.label
        row["app_id"] = scope.app_id
        row["user_id"] = scope.user_id
        self.normalise(row, scope)
        return row

    def normalise(self, row: dict[str, Any], scope: Scope) -> None:
        """Stream-specific fixes (see streams.py)."""

    def normalise_row(self, row: dict[str, Any], account: Account) -> None:
        self.complete(row, self.comagic.scope(account.context))


def refused_fields(error: Mapping[str, Any], requested: list[str]) -> list[str]:
    """The requested fields an ``unexpected_parameters`` error names.

    Where the name is is undocumented (docs/notes.md 2.1 shows ``data.field`` and ``data.value``
    for another error): ``data.value`` (a name, a list, or names joined by commas) with
    ``data.field`` naming the parameter (``fields``), or ``data.field`` the name itself;
    else names quoted in the message, else those listed after its last colon."""
    data = error_data(error)
    found = [name for name in _names(data.get("value")) + _names(data.get("field"))
             if name in requested]
    if not found:
        message = str(error.get("message") or "")
        quoted = re.findall(r"[\"'`]([A-Za-z0-9_.]+)[\"'`]", message)
        listed = _names(message.rsplit(":", 1)[1]) if ":" in message else []
        found = [name for name in quoted if name in requested] or \
                [name for name in listed if name in requested]
    return list(dict.fromkeys(found))


def _names(value: Any) -> list[str]:
    if isinstance(value, list):
        return [name for item in value for name in _names(item)]
    if isinstance(value, str):
        return [part.strip(" \"'`[]") for part in re.split(r"[,;\s]+", value) if part.strip()]
    return []


class ClientPartitions(CalltrackStream):
    """One partition per direct account or agency client: ``{"account": label}`` or
    ``{"account": label, "user_id": N}`` (clients are known after get.customer_users)."""

    @property
    def partitions(self) -> list[dict[str, Any]] | None:
        runtime = self.runtime.shared(ComagicAccounts)
        return [scope.account.context for account in self.accounts
                for scope in runtime.partition_scopes(account)]

    def account_for(self, context: Mapping[str, Any] | None) -> Account:
        return self.runtime.shared(ComagicAccounts).scope(context).account

    def account_order(self) -> list[Account]:
        """The partitions' accounts (each direct account or agency client), in order."""
        runtime = self.runtime.shared(ComagicAccounts)
        return [scope.account for account in self.accounts
                for scope in runtime.partition_scopes(account)]


class DimensionStream(ClientPartitions, ComagicStream):
    """A full list per account or client (sites, tags, campaigns)."""

    def records_for(self, account: Account, context: Mapping[str, Any] | None
                    ) -> Iterator[dict[str, Any]]:
        scope = self.comagic.scope(context)
        offset = 0
        while True:
            answer = self.rpc(scope, {}, offset, self.describe(account, page=offset))
            if answer.error is not None:
                raise FatalError(f"{self.describe(account)}: {describe_error(answer.error)}")
            rows = rows_of(answer.result)
            yield from self.normalised(rows, scope.account)
            offset += len(rows)
            total = total_of(answer.result)
            if len(rows) < self.page_size or (total is not None and offset >= total):
                return
            check_offset(offset)


@dataclass(eq=False)
class Task:
    """One unit of a report run: a bookmark window of one account or client (and a site,
    for per-site methods)."""

    window: Window
    scope: Scope
    site_id: int | None = None
    closes_window: bool = True  # the window's bookmark may advance after this task


@dataclass
class ReportPage(Page):
    total: int | None = None  # metadata.total_items (None: a bare result list)
    limit: int = 0
    offset: int = 0
    plan: list[ReportPage] = field(default_factory=list)  # first pages of all parts


@dataclass(frozen=True)
class Slice:
    """A page to fetch: part ``index`` of the task's window, from ``offset``."""

    piece: Window
    offset: int
    index: int = 0
    prefetched: ReportPage | None = field(default=None, compare=False)


class ReportWalk:
    """How one task is paged (a :class:`~tap_calltrack.prefetch.PageWalk`).

    The first page comes with the plan (the parts the window was split into, each with
    its first page); with ``total_items`` known, every other page is fetched together.
    Bare answers without a total are walked while pages come back full.
    """

    def __init__(self) -> None:
        self.plan: list[ReportPage] = []

    def first(self) -> Slice | None:
        return None

    def remaining(self, first_page: ReportPage) -> list[Slice] | None:
        self.plan = first_page.plan
        if any(part.total is None for part in self.plan):
            return None
        tokens: list[Slice] = []
        for index, part in enumerate(self.plan):
            assert part.window is not None and part.total is not None
            if index:
                tokens.append(Slice(part.window, 0, index, part))
            tokens += [Slice(part.window, offset, index)
                       for offset in range(part.limit, part.total, part.limit)]
        return tokens

    def following(self, token: Slice | None, page: ReportPage) -> Slice | None:
        index = token.index if token else 0
        assert page.window is not None
        if page.records and len(page.records) >= page.limit:
            check_offset(page.offset + page.limit)
            return Slice(page.window, page.offset + page.limit, index)
        if index + 1 < len(self.plan):
            part = self.plan[index + 1]
            assert part.window is not None
            return Slice(part.window, 0, index + 1, part)
        return None


def check_offset(offset: int) -> None:
    """Pages that stay full past the API's largest offset (answers without a total, which
    cannot be split in advance) stop the stream instead of asking forever."""
    if offset > MAX_OFFSET:
        raise LimitExceeded(f"pages are still full at offset {MAX_OFFSET}, the largest the "
                            "API accepts (docs/notes.md 2.1), and the answers tell no "
                            "total_items to split the window by")


class WindowTooLong(FatalError):
    """``date_interval_limit_reached``: the window is split."""


class ReportStream(ComagicStream, WindowedStream):
    """A ``get.*_report`` method read in date windows (bookmark per partition)."""

    window_setting = "window_days"
    #: The record's local date-time field, and the tap's UTC copy of it (the bookmark).
    date_field: ClassVar[str] = "start_time"
    replication_key = "start_time_utc"

    def sort_fields(self) -> tuple[str, ...]:
        return (self.date_field, "id")

    def row_cap(self) -> int:
        return MAX_OFFSET + self.page_size

    # --- tasks ---------------------------------------------------------------------------

    def extraction_scopes(self, account: Account) -> list[Scope]:
        """Whose rows a partition holds (one client, or every client of an account)."""
        return [self.comagic.scope(account.context)]

    def tasks_for(self, scopes: list[Scope], windows: list[Window]) -> list[Task]:
        return [Task(window, scope, closes_window=scope is scopes[-1])
                for window in windows for scope in scopes]

    def task_params(self, task: Task, piece: Window) -> dict[str, Any]:
        # Sent in the account's own zone whatever zone the window was computed in.
        # date_till is inclusive to the second: its inclusiveness is undocumented, the
        # last second of the window is what clients use (docs/notes.md quirk 19).
        tz = task.scope.account.timezone
        return {"date_from": piece.start.astimezone(tz).strftime(DATETIME),
                "date_till": piece.last_second.astimezone(tz).strftime(DATETIME)}

    def pages(self, account: Account, windows: list[Window]
              ) -> Iterator[tuple[Window, ReportPage, bool]]:
        """Pages in (window, client, site, page) order; a window is done after its last
        task. Concurrent through the vendor's pool (see prefetch.py); the next accounts'
        first pages are sent ahead (lookahead.py) once this account's first page is back,
        so that they ask without the fields the API has refused."""
        tasks = self.tasks_for(self.extraction_scopes(account), windows)

        def submit(fetch: Callable[..., ReportPage], task: Task, token: Slice | None
                   ) -> Future[ReportPage]:
            sent = None
            if task is tasks[0] and token is None:  # what send_ahead sent for this account
                sent = self.lookahead.take(page_key(account.context, task.window, None))
            return sent if sent is not None else self.http.submit(fetch, task, token)

        prefetcher: OrderedPrefetcher[Task, ReportPage] = OrderedPrefetcher(
            fetch=self.fetch_task_page,
            submit=submit,
            new_walk=lambda task: ReportWalk(),
            ahead=self.prefetch_depth,
        )
        sent_ahead = False
        for task, page, done in prefetcher.run(tasks):
            if not sent_ahead:
                self.send_ahead(account)
                sent_ahead = True
            yield task.window, page, done and task.closes_window

    # --- pages ---------------------------------------------------------------------------

    def new_walk(self, account: Account, window: Window) -> ReportWalk:
        return ReportWalk()

    def fetch_page(self, account: Account, window: Window, token: Any) -> ReportPage:
        """The first page of ``account``'s first task in ``window`` (sent ahead)."""
        task = self.tasks_for(self.extraction_scopes(account), [window])[0]
        return self.fetch_task_page(task, token)

    def fetch_task_page(self, task: Task, token: Slice | None) -> ReportPage:
        if token is None:
            plan = self.probe(task, task.window)
            plan[0].plan = plan
            return plan[0]
        if token.prefetched is not None:
            return token.prefetched
        return self.request(task, token.piece, token.offset)

    def request(self, task: Task, piece: Window, offset: int) -> ReportPage:
        scope = task.scope
        what = self.describe(scope.account, piece, offset or None)
        answer = self.rpc(scope, self.task_params(task, piece), offset, what)
        if answer.error is not None:
            raise WindowTooLong(f"{what}: {describe_error(answer.error)}")
        rows = self.normalised(rows_of(answer.result), scope.account)
        return ReportPage(answer.response, answer.result, rows, piece,
                          total=total_of(answer.result), limit=self.page_size, offset=offset)

    def probe(self, task: Task, window: Window) -> list[ReportPage]:
        """The window's first page, or its parts' first pages when it must be split:
        over 3 months (date_interval_limit_reached), or more rows than offset + limit
        can reach (docs/notes.md quirk 18)."""
        account = task.scope.account
        try:
            page = self.request(task, window, 0)
        except WindowTooLong as exc:
            reason = str(exc)
        else:
            if page.total is None or page.total <= self.row_cap():
                return [page]
            reason = f"{page.total} rows, more than the {self.row_cap()} the API pages through"
        try:
            first, second = window.halves()
        except ValueError:
            raise FatalError(f"{self.describe(account, window)}: {reason}, and the window "
                             "cannot be split further") from None
        self.logger.info("%s: splitting in halves: %s", self.describe(account, window), reason)
        return self.probe(task, first) + self.probe(task, second)

    # --- records -------------------------------------------------------------------------

    def normalise(self, row: dict[str, Any], scope: Scope) -> None:
        assert self.replication_key is not None
        row[self.replication_key] = local_to_utc(row.get(self.date_field) or "", DATETIME,
                                                 scope.account.timezone)


class ClientReportStream(ClientPartitions, ReportStream):
    """A report with a bookmark per direct account or agency client."""

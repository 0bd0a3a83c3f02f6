"""Fetch each account's calls once per run and feed every stream that needs them.

Three kinds of stream live off a vendor's calls: the vendor's own calls stream, the
unified ``calls`` stream and the vendor's recordings stream. Whichever of them the SDK
syncs first for an account "drives": it walks the calls windows (from the earliest
bookmark among the selected participants) and emits its own rows; the other selected
participants' rows go to a spool (an unnamed temporary file per participant and
account) with a mark at each complete window. When a participant's own turn comes, its
rows come out of the spool through the SDK's ordinary record path (so BATCH messages,
metrics, ``max_records_limit`` and stream maps apply), and its bookmark advances at each
mark. No page of calls is fetched twice in a run, no participant's bookmark moves before
its rows are written, and the order in which the SDK syncs the streams does not matter.

The fan-out's unit, "an account" below, is what the call source partitions on
(:meth:`CallSource.call_accounts`): a configured account, or for Comagic each agency
client in its own zone. Every participant has one partition per unit.
"""

from __future__ import annotations

import datetime as dt
import logging
import pickle
import tempfile
import threading
from collections.abc import Iterator, Mapping
from typing import IO, Any

from tap_calltrack.base import Progress, WindowedStream
from tap_calltrack.runtime import VendorRuntime
from tap_calltrack.settings import Account, ContextKey, context_key
from tap_calltrack.windows import Window, day_windows


class RowSpool:
    """Rows of one participant and account, kept on disk until the participant's turn:
    pages of rows and complete-window marks, in order. The file has no name (it is gone
    when closed, or when the process dies)."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="tap-calltrack-")  # noqa: SIM115 (closed by replay or close)

    def add(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            pickle.dump(("rows", rows), self._file, protocol=pickle.HIGHEST_PROTOCOL)

    def window_done(self, window: Window) -> None:
        pickle.dump(("window", window), self._file, protocol=pickle.HIGHEST_PROTOCOL)

    def replay(self) -> Iterator[tuple[str, Any]]:
        """Every entry in the order written; the spool is closed afterwards."""
        try:
            self._file.seek(0)
            while True:
                try:
                    yield pickle.load(self._file)  # our own file, written above
                except EOFError:
                    return
        finally:
            self.close()

    def close(self) -> None:
        self._file.close()


class CallsFeed:
    """One vendor's calls in one run: the source stream, the participants, the accounts
    whose calls were fetched, and the spools waiting for participants' turns."""

    def __init__(self, runtime: VendorRuntime) -> None:
        self.vendor = runtime.name
        self.source: CallSource | None = None
        self._members: dict[str, CallParticipant] = {}
        self._claimed: set[ContextKey] = set()
        self._spools: dict[tuple[str, ContextKey], RowSpool] = {}
        self._lock = threading.Lock()
        runtime.on_close(self.close)

    def join(self, stream: CallParticipant) -> None:
        self._members[stream.name] = stream
        if isinstance(stream, CallSource):
            self.source = stream

    def participants(self) -> list[CallParticipant]:
        """The members that take part in this run (selected, and able to)."""
        return [stream for stream in self._members.values() if stream.participates]

    def source_stream(self) -> CallSource:
        if self.source is None:
            raise LookupError(f"{self.vendor}: no calls stream")
        return self.source

    def claim(self, account: Account) -> bool:
        """True the first time an account's calls are asked for in this run."""
        key = context_key(account.context)
        with self._lock:
            if key in self._claimed:
                return False
            self._claimed.add(key)
            return True

    def spool_for(self, participant: CallParticipant, account: Account) -> RowSpool:
        spool = RowSpool()
        with self._lock:
            self._spools[(participant.name, context_key(account.context))] = spool
        return spool

    def take_spool(self, participant: CallParticipant, account: Account) -> RowSpool | None:
        with self._lock:
            return self._spools.pop((participant.name, context_key(account.context)), None)

    def close(self) -> None:
        with self._lock:
            spools, self._spools = list(self._spools.values()), {}
        for spool in spools:
            spool.close()


class CallParticipant(WindowedStream):
    """A stream fed with a vendor's call records (the calls, unified and recordings streams)."""

    def __init__(self, tap: Any, runtime: VendorRuntime, **kwargs: Any) -> None:
        super().__init__(tap, runtime, **kwargs)
        for feed in self.feeds():
            feed.join(self)

    def feeds(self) -> list[CallsFeed]:
        """The calls this stream lives off: its vendor's."""
        return [self.runtime.shared(CallsFeed)]

    def feed_of(self, vendor: str) -> CallsFeed:
        for feed in self.feeds():
            if feed.vendor == vendor:
                return feed
        raise LookupError(f"{self.name}: not fed by {vendor}'s calls")

    def source_of(self, vendor: str) -> CallSource:
        return self.feed_of(vendor).source_stream()

    @property
    def participates(self) -> bool:
        return self.selected

    def window_days(self, account: Account) -> int:
        """The calls windows: every participant walks the same ones."""
        return self.source_of(account.vendor).window_days(account)

    def failure_unit(self, account: Account) -> str:
        """A failed fetch of calls is the vendor calls stream's failure, whichever
        participant drove it: reported once, and no participant's bookmark moves."""
        return self.source_of(account.vendor).name

    def call_accounts(self) -> list[Account]:
        """The fan-out's units of this stream's vendor: one partition each."""
        return self.source_of(self.vendor).call_accounts()

    def account_order(self) -> list[Account]:
        return self.call_accounts()

    @property
    def partitions(self) -> list[dict[str, Any]] | None:
        return [self.context_for(account) for account in self.call_accounts()]

    def account_for(self, context: Mapping[str, Any] | None) -> Account:
        wanted = dict(context or {})
        for account in self.call_accounts():
            if self.context_for(account) == wanted:
                return account
        raise LookupError(f"{self.name}: no account matches {context}")

    def inherit_bookmark(self, account: Account) -> None:
        """A Comagic agency client's partition, new and without a bookmark, starts from the
        bookmark of the agency's old per-account partition (before clients had their
        own), so existing state resumes instead of re-reading from start_date."""
        agency = account.options.get("agency")
        if not isinstance(agency, Account):
            return
        state = self.get_context_state(self.context_for(account))
        if state.get("replication_key_value"):
            return
        old = partition_state(self, self.context_for(agency))
        if old and old.get("replication_key") == self.replication_key and \
                old.get("replication_key_value"):
            state["replication_key"] = self.replication_key
            state["replication_key_value"] = old["replication_key_value"]
            self.logger.info("%s [%s]: no bookmark of its own; resuming from the bookmark "
                             "of '%s' (%s)", self.name, account.label, agency.label,
                             old["replication_key_value"])

    def context_for(self, account: Account) -> dict[str, Any]:
        """This stream's partition context for a vendor account."""
        return dict(account.context)

    def rows_from_calls(self, calls: list[dict[str, Any]], account: Account
                        ) -> list[dict[str, Any]]:
        """This stream's rows for a page of (normalised) call records."""
        raise NotImplementedError

    def get_records(self, context: Mapping[str, Any] | None) -> Iterator[dict[str, Any]]:
        """The rows another stream spooled for this partition, then (if no stream has
        fetched its calls yet) the fetch itself."""
        if self.call_accounts():
            account = self.account_for(context)
            spool = self.feed_of(account.vendor).take_spool(self, account)
            if spool is not None:
                yield from self.replay(spool, account)
        yield from super().get_records(context)

    def replay(self, spool: RowSpool, account: Account) -> Iterator[dict[str, Any]]:
        context = self.context_for(account)
        records = windows = 0
        for kind, entry in spool.replay():
            if kind == "window":
                self.advance_bookmark(context, entry)
                windows += 1
                continue
            records += len(entry)
            for row in entry:
                for key, value in context.items():
                    row.setdefault(key, value)
                yield row
        self.logger.log(logging.INFO if records else logging.DEBUG,
                        "%s [%s]: %d windows, %d records (from the calls fetched for %s)",
                        self.name, account.label, windows, records,
                        self.source_of(account.vendor).name)

    def records_for(self, account: Account, context: Mapping[str, Any] | None
                    ) -> Iterator[dict[str, Any]]:
        yield from drive(self, account)


class CallSource(CallParticipant):
    """A vendor's calls stream: the one that knows how to fetch the calls."""

    window_days = WindowedStream.window_days  # its own setting, not a delegation to itself

    def call_accounts(self) -> list[Account]:
        return self.accounts

    def planned_windows(self, account: Account) -> list[Window]:
        """The windows :func:`drive` will walk for ``account`` (see lookahead.py)."""
        participants = self.feed_of(self.vendor).participants()
        return call_windows(self, participants or [self], account)[1]

    def rows_from_calls(self, calls: list[dict[str, Any]], account: Account
                        ) -> list[dict[str, Any]]:
        return calls


def drive(driver: CallParticipant, account: Account) -> Iterator[dict[str, Any]]:
    """Fetch ``account``'s calls once for every selected participant; yield ``driver``'s
    rows and spool the others'."""
    feed = driver.feed_of(account.vendor)
    if not feed.claim(account):
        return
    source = feed.source_stream()
    participants = feed.participants()
    if driver not in participants:
        participants.append(driver)
    starts, windows = call_windows(source, participants, account)
    spools = {p: feed.spool_for(p, account) for p in participants if p is not driver}
    progress = Progress(driver.logger, driver.name, account, source.http)
    progress.windows = len(windows)
    for window, page, window_done in source.pages(account, windows):
        calls = page.records  # normalised by the source's client
        for participant in participants:
            if window.end <= starts[participant]:
                continue
            rows = participant.rows_from_calls(calls, account)
            if participant is driver:
                yield from rows
            else:
                spools[participant].add(rows)
        progress.step(len(calls), window_done)
        if window_done:
            for participant in participants:
                if window.end <= starts[participant]:
                    continue
                if participant is driver:
                    driver.advance_bookmark(driver.context_for(account), window)
                else:
                    spools[participant].window_done(window)
    progress.report()


def call_windows(source: CallSource, participants: list[CallParticipant], account: Account
                 ) -> tuple[dict[CallParticipant, dt.datetime], list[Window]]:
    """Each participant's start, and the calls windows that serve them all (from the
    earliest start to the source's end)."""
    for participant in participants:
        participant.inherit_bookmark(account)
    starts = {p: p.extraction_range(account, p.context_for(account))[0] for p in participants}
    end = source.extraction_range(account, source.context_for(account))[1]
    return starts, day_windows(min(starts.values()), end, source.window_days(account))


def partition_state(stream: WindowedStream, context: Mapping[str, Any]
                    ) -> Mapping[str, Any] | None:
    """The stored state of one partition, if any, without creating it (the SDK's
    get_context_state would add an empty one to the STATE)."""
    bookmarks = stream.tap_state.get("bookmarks", {}).get(stream.name, {})
    for partition in bookmarks.get("partitions", []):
        if partition.get("context") == dict(context):
            found: Mapping[str, Any] = partition
            return found
    return None

"""Fetch each account's calls once per run and feed every stream that needs them.

Three kinds of stream live off a vendor's calls: the vendor's own calls stream, the
unified ``calls`` stream and the vendor's recordings stream. Whichever of them the SDK
syncs first for an account "drives": it walks the calls windows (from the earliest
bookmark among the selected participants), emits its own rows and, for the other
selected participants, writes their rows too ("ride-along"), and advances every
participant's bookmark at each complete window. The others then find the account done
and fetch nothing: no page of calls is fetched twice in a run.

The fan-out's unit, "an account" below, is what the call source partitions on
(:meth:`CallSource.call_accounts`): a configured account, or for Comagic each agency
client in its own zone. Every participant has one partition per unit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from singer_sdk import metrics

from tap_calltrack.base import Progress, WindowedStream
from tap_calltrack.settings import Account

if TYPE_CHECKING:
    from tap_calltrack.recordings import RecordingRef
from tap_calltrack.windows import Window, day_windows


class CallParticipant(WindowedStream):
    """A stream fed with a vendor's call records (the calls, unified and recordings streams)."""

    @property
    def participates(self) -> bool:
        return self.selected

    def feeds_on(self, vendor: str) -> bool:
        """Whether this stream lives off ``vendor``'s calls."""
        return self.vendor == vendor

    def window_days(self, account: Account) -> int:
        """The calls windows: every participant walks the same ones."""
        return self.tap.call_source(account.vendor).window_days(account)

    def failure_unit(self, account: Account) -> str:
        """A failed fetch of calls is the vendor calls stream's failure, whichever
        participant drove it: reported once, and no participant's bookmark moves."""
        return self.tap.call_source(account.vendor).name

    def call_accounts(self) -> list[Account]:
        """The fan-out's units of this stream's vendor: one partition each."""
        return self.tap.call_source(self.vendor).call_accounts()

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

    def records_for(self, account: Account, context: Mapping[str, Any] | None
                    ) -> Iterator[dict[str, Any]]:
        yield from drive(self, account)

    def emit_ride_along(self, rows: list[dict[str, Any]], account: Account) -> None:
        """Write rows of this stream while another stream drives the fetch."""
        if not getattr(self, "_schema_sent", False):
            self._write_schema_message()
            self._schema_sent = True
        context = self.context_for(account)
        for row in rows:
            for key, value in context.items():
                row.setdefault(key, value)
            self._write_record_message(row)


class CallSource(CallParticipant):
    """A vendor's calls stream: the one that knows how to fetch the calls."""

    window_days = WindowedStream.window_days  # its own setting, not a delegation to itself

    def call_accounts(self) -> list[Account]:
        return self.accounts

    def planned_windows(self, account: Account) -> list[Window]:
        """The windows :func:`drive` will walk for ``account`` (see lookahead.py)."""
        participants = [p for p in self.tap.call_participants(self.vendor) if p.participates]
        return call_windows(self, participants or [self], account)[1]

    def rows_from_calls(self, calls: list[dict[str, Any]], account: Account
                        ) -> list[dict[str, Any]]:
        return calls

    def recording_refs(self, record: dict[str, Any], account: Account) -> list[RecordingRef]:
        """The recordings of one (normalised) call record, for the recordings stream."""
        return []


def drive(driver: CallParticipant, account: Account) -> Iterator[dict[str, Any]]:
    """Fetch ``account``'s calls once for every selected participant; yield ``driver``'s rows."""
    tap = driver.tap
    if not tap.claim_calls(account):
        return
    source = tap.call_source(account.vendor)
    participants = [p for p in tap.call_participants(account.vendor) if p.participates]
    if driver not in participants:
        participants.append(driver)
    starts, windows = call_windows(source, participants, account)
    only_source = participants == [source]
    progress = Progress(driver.logger, driver.name, account, source.http)
    progress.windows = len(windows)
    with ExitStack() as counting:
        counters = {p: counting.enter_context(ride_along_counter(p, account))
                    for p in participants if p is not driver}
        yield from _walk(driver, account, participants, starts, windows, counters, progress,
                         only_source)
    progress.report()


def ride_along_counter(participant: CallParticipant, account: Account) -> metrics.Counter:
    """The SDK's own record counter (public API) for rows a participant gets while another
    stream drives the fetch: its ``record_count`` metric then counts them."""
    counter = participant.get_record_counter()
    counter.context = participant.context_for(account)
    return counter


def _walk(driver: CallParticipant, account: Account, participants: list[CallParticipant],
          starts: dict[CallParticipant, dt.datetime], windows: list[Window],
          counters: dict[CallParticipant, metrics.Counter], progress: Progress,
          only_source: bool) -> Iterator[dict[str, Any]]:
    source = driver.tap.call_source(account.vendor)
    source_context = source.context_for(account)
    for window, page, window_done in source.pages(account, windows):
        calls = page.records
        if not only_source:  # others map the normalised record; the SDK re-runs it (no-op)
            calls = [row for row in (source.post_process(r, source_context) for r in calls)
                     if row]
        for participant in participants:
            if window.end <= starts[participant]:
                continue
            rows = participant.rows_from_calls(calls, account)
            if participant is driver:
                yield from rows
            else:
                participant.emit_ride_along(rows, account)
                counters[participant].increment(len(rows))
        progress.step(len(calls), window_done)
        if window_done:
            for participant in participants:
                if window.end > starts[participant]:
                    participant.advance_bookmark(participant.context_for(account), window)


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
            return partition
    return None

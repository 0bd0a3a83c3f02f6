"""What the CallKeeper tests expect, computed from the sandbox's World alone (not the tap)."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from calltrack_sandbox.callkeeper import Principal, make_principals, universal_id
from calltrack_sandbox.protocol import SandboxOptions
from calltrack_sandbox.world import World

VENDOR = "callkeeper"
FIRST_DAY = dt.date(2024, 3, 1)
DAYS = 28
PAGE = 1000
# Whose calls each designated principal's method returns (getWithRole: own + role's).
SOURCES = {"user-1": ("user-1",), "role-1": ("role-1",), "user-2": ("user-2", "role-1"),
           "user-3": ("user-3",)}
LEGACY = {"user-3"}
# Which principal ends its pages how (the sandbox's designated accounts).
FULL_PAGE_CASES = {"user-1": "[]", "role-1": "Incorrect page is set",
                   "user-2": "No rows found"}


def day(offset: int) -> dt.date:
    return FIRST_DAY + dt.timedelta(days=offset)


def days(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Expect:
    """The sandbox's data set, as World sees it."""

    records: int
    first_day: dt.date = FIRST_DAY
    days: int = DAYS

    @property
    def world(self) -> World:
        return World(1, self.records, self.first_day, self.days)

    @property
    def principals(self) -> dict[str, Principal]:
        options = SandboxOptions(records=self.records, first_day=self.first_day, days=self.days)
        return {p.slug: p for p in make_principals(options)}

    def label(self, slug: str) -> str:
        principal = self.principals[slug]
        return principal.name or fingerprint(principal.key)

    def count(self, slug: str, first: dt.date, last: dt.date) -> int:
        return sum(self.world.count_on(VENDOR, owner, day)
                   for owner in SOURCES[slug] for day in days(first, last))

    def ids(self, slug: str, first: dt.date, last: dt.date) -> set[str]:
        principals = self.principals
        return {universal_id(principals[owner], facts, self.world)
                for owner in SOURCES[slug]
                for facts in self.world.calls_between(VENDOR, owner, first, last)}

    def requests(self, slug: str, windows: list[tuple[dt.date, dt.date]],
                 inclusive: bool = True) -> int:
        """Requests the tap should make: v3 walks to a short or past-the-end page; the
        legacy envelope tells ``ofPages`` (an empty window still costs one request). The
        tap asks ``to`` = the day after the window: with an inclusive reading the answer
        holds that day too."""
        total = 0
        for first, last in windows:
            calls = self.count(slug, first, last + dt.timedelta(days=inclusive))
            total += max(1, math.ceil(calls / PAGE)) if slug in LEGACY else calls // PAGE + 1
        return total

    def full_page_range(self, slug: str) -> tuple[dt.date, dt.date, int] | None:
        """A day range ``first..last`` whose answer fills whole pages (1000 to 3000), if
        there is one: the tap asks through the day after ``last`` (inclusive sandbox), so
        the total counts that day too."""
        daily = [self.count(slug, day, day) for day in days(self.first_day, self.last_day)]
        for start in range(len(daily)):
            total = 0
            for end in range(start, len(daily) - 1):
                total += daily[end]
                asked = total + daily[end + 1]
                if asked % PAGE == 0 and asked <= 3 * PAGE and total:
                    return (self.first_day + dt.timedelta(days=start),
                            self.first_day + dt.timedelta(days=end), asked)
        return None

    @property
    def last_day(self) -> dt.date:
        return self.first_day + dt.timedelta(days=self.days - 1)


def find_full_page_data_set() -> Expect:
    """The first data size whose three end-of-data cases each have a whole-pages range (so
    the tap must ask for the page after a full one), with 7-day windows over 1000 calls."""
    for records in range(4500, 9000, 10):
        expect = Expect(records)
        if all(expect.full_page_range(slug) for slug in FULL_PAGE_CASES):
            return expect
    raise AssertionError("no data size gives whole pages for every case")


def windows(first: dt.date, last: dt.date, size: int) -> list[tuple[dt.date, dt.date]]:
    spans = []
    while first <= last:
        end = min(first + dt.timedelta(days=size - 1), last)
        spans.append((first, end))
        first = end + dt.timedelta(days=1)
    return spans


def values(node: Any) -> Iterator[Any]:
    """Every leaf value of a JSON-like structure."""
    if isinstance(node, dict):
        for value in node.values():
            yield from values(value)
    elif isinstance(node, list):
        for value in node:
            yield from values(value)
    else:
        yield node

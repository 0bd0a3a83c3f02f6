"""Keep requests in flight up to the vendor's bound while records come out in order.

A stream's work is a list of windows; each window is one or more pages. The first page
of a window often tells how many pages there are (Calltouch ``pageTotal``, Comagic
``total_items``): then the other pages are fetched together. Otherwise pages are walked
one by one, while later windows' first pages are fetched ahead. Either way the consumer
sees pages strictly in (window, page) order, so records are emitted deterministically and
a window is known to be complete when its last page has been consumed.

A window whose first page is back is planned at once, while earlier windows are still
being consumed, so that the requests of the next window are queued before the current
one runs out (otherwise every window boundary would leave request slots unused).

Planned pages are taken from the walk's plan lazily, as request slots free up (a vendor
reporting a billion pages costs nothing until they are asked for), and a planned page
that comes back empty ends its window's plan when the walk says so (``stop_on_empty``).
An error met while fetching a window carries that window (``error.window``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

W = TypeVar("W")
P = TypeVar("P")
P_contra = TypeVar("P_contra", contravariant=True)  # a walk only reads pages


class PageWalk(Protocol[P_contra]):
    """How one window is paged (usually built on an SDK paginator)."""

    def first(self) -> Any:
        """The token of the first page."""

    def remaining(self, first_page: P_contra) -> Iterable[Any] | None:
        """Every other page's token (lazily) when the first page tells the total, else None."""

    def following(self, token: Any, page: P_contra) -> Any | None:
        """The token after ``token`` when walking page by page; None at the end."""


@dataclass
class _Slot(Generic[W, P]):
    window: W
    walk: PageWalk[P]
    token: Any
    is_first: bool
    planned: bool = False  # the page belongs to a known-total plan: no walking on
    plan: Iterator[Any] | None = field(default=None, repr=False)  # tokens not yet queued
    expanded: bool = False  # a first page whose window was planned when it came back
    future: Future[P] | None = field(default=None, repr=False)


class OrderedPrefetcher(Generic[W, P]):
    """Fetch pages concurrently (via ``submit``), hand them out in order."""

    def __init__(
        self,
        fetch: Callable[[W, Any], P],
        submit: Callable[..., Future[P]],
        new_walk: Callable[[W], PageWalk[P]],
        ahead: int,
    ) -> None:
        self._fetch = fetch
        self._submit = submit
        self._new_walk = new_walk
        self._ahead = max(1, ahead)

    def run(self, windows: Iterable[W]) -> Iterator[tuple[W, P, bool]]:
        """Yield ``(window, page, window_complete)`` in order."""
        pending_windows = iter(windows)
        slots: deque[_Slot[W, P]] = deque()
        try:
            while True:
                self._fill(slots, pending_windows)
                if not slots:
                    return
                slot = slots.popleft()
                assert slot.future is not None  # _fill keeps a slot for the front window
                self._plan_arrived(slot, slots, pending_windows)
                try:
                    page = slot.future.result()
                    self._plan_next(slot, page, slots)
                except Exception as exc:
                    if getattr(exc, "window", None) is None:
                        exc.window = slot.window  # type: ignore[attr-defined]
                    raise
                complete = not slots or slots[0].window is not slot.window
                yield slot.window, page, complete
        finally:
            for slot in slots:
                if slot.future is not None:
                    slot.future.cancel()

    def _fill(self, slots: deque[_Slot[W, P]], windows: Iterator[W],
              reading: _Slot[W, P] | None = None) -> None:
        """Submit queued pages in order, and open new windows, up to ``ahead`` in flight
        (``reading``: the page being awaited, taken out of ``slots``, in flight too).

        Later windows get at most ``ahead - 1``: one request slot stays for the window
        being read, whose next pages are queued only as its pages are consumed."""
        in_flight = sum(1 for slot in slots if slot.future is not None) + (reading is not None)
        front = reading.window if reading is not None else slots[0].window if slots else None
        later_limit = self._ahead - 1
        for slot in slots:
            if in_flight >= self._ahead or (slot.window is not front and
                                            in_flight >= later_limit):
                return
            if slot.future is None:
                slot.future = self._submit(self._fetch, slot.window, slot.token)
                in_flight += 1
        while in_flight < later_limit or not slots:
            window = next(windows, None)
            if window is None:
                return
            walk = self._new_walk(window)
            slot = _Slot(window, walk, walk.first(), is_first=True)
            slot.future = self._submit(self._fetch, window, slot.token)
            slots.append(slot)
            in_flight += 1

    def _plan_arrived(self, head: _Slot[W, P], slots: deque[_Slot[W, P]],
                      windows: Iterator[W]) -> None:
        """While waiting for ``head``, plan the later windows whose first page is back."""
        assert head.future is not None
        while not head.future.done():
            firsts = [slot for slot in slots if slot.is_first and not slot.expanded
                      and slot.future is not None]
            if not firsts:
                return
            wait([head.future, *(slot.future for slot in firsts if slot.future is not None)],
                 return_when=FIRST_COMPLETED)
            for slot in firsts:
                future = slot.future
                if future is not None and future.done() and not future.cancelled() and \
                        future.exception() is None:
                    self._expand(slot, future.result(), slots)
            self._fill(slots, windows, reading=head)

    def _expand(self, slot: _Slot[W, P], page: P, slots: deque[_Slot[W, P]]) -> None:
        slot.expanded = True
        tokens = slot.walk.remaining(page)
        if tokens is None:
            return  # walked page by page once the first page is consumed
        slot.plan = iter(tokens)
        self._top_up(slot, slot.plan, slots)

    def _plan_next(self, slot: _Slot[W, P], page: P, slots: deque[_Slot[W, P]]) -> None:
        """Queue the window's next page(s) right after the page just consumed."""
        if slot.expanded and slot.plan is not None:
            self._top_up(slot, slot.plan, slots)
            return
        if slot.is_first and not slot.expanded:
            tokens = slot.walk.remaining(page)
            if tokens is not None:
                self._top_up(slot, iter(tokens), slots)
                return
        if slot.planned:
            if not getattr(page, "records", True) and getattr(slot.walk, "stop_on_empty", False):
                self._drop_plan(slot, slots)
            elif slot.plan is not None:
                self._top_up(slot, slot.plan, slots)
            return
        token = slot.walk.following(slot.token, page)
        if token is not None:
            slots.appendleft(_Slot(slot.window, slot.walk, token, is_first=False))

    def _top_up(self, slot: _Slot[W, P], plan: Iterator[Any], slots: deque[_Slot[W, P]]
                ) -> None:
        """Queue planned pages of ``slot``'s window until ``ahead`` of them are queued."""
        # The window's queued pages: from its first slot still waiting (a window planned
        # on arrival), else from the front (the window being consumed comes first).
        start = next((index for index, other in enumerate(slots)
                      if other.window is slot.window), 0)
        end = start
        while end < len(slots) and slots[end].window is slot.window:
            end += 1
        while end - start < self._ahead:
            token = next(plan, _END)
            if token is _END:
                return
            slots.insert(end, _Slot(slot.window, slot.walk, token, False, planned=True,
                                    plan=plan))
            end += 1

    @staticmethod
    def _drop_plan(slot: _Slot[W, P], slots: deque[_Slot[W, P]]) -> None:
        """An empty planned page: the window has no more rows, whatever its total said."""
        while slots and slots[0].window is slot.window:
            dropped = slots.popleft()
            if dropped.future is not None:
                dropped.future.cancel()


_END = object()

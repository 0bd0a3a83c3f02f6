"""First pages of the accounts that come next, fetched while the current account is read.

The SDK syncs a stream's partitions (accounts) one after another, and each account's
prefetcher keeps that account's pages in flight. An agency's accounts are mostly small
(a page or two each): alone, each account would wait one round trip per page and the
vendor's ceiling would go unused. So when an account starts, the first page of the next
accounts' first window is requested too, up to a bound; when their turn comes, their
prefetcher takes that request instead of sending it again. Records still come out
account by account, window by window, and an error surfaces in its own account's turn.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, TypeVar

P = TypeVar("P")


class Lookahead:
    """Requests sent ahead for later accounts, claimed by key when their turn comes."""

    def __init__(self, submit: Callable[..., Future[Any]], depth: int) -> None:
        self._submit = submit
        self._depth = max(0, depth)
        self._ahead: dict[Hashable, tuple[int, Future[Any]]] = {}
        self._sent: set[Hashable] = set()

    @property
    def full(self) -> bool:
        return len(self._ahead) >= self._depth

    def send(self, key: Hashable, position: int, fetch: Callable[[], Any]) -> None:
        """Request ``fetch`` ahead for the account at ``position`` (once per key)."""
        if key in self._sent or self.full:
            return
        self._sent.add(key)
        self._ahead[key] = (position, self._submit(fetch))

    def take(self, key: Hashable) -> Future[Any] | None:
        entry = self._ahead.pop(key, None)
        return None if entry is None else entry[1]

    def drop_before(self, position: int) -> None:
        """Cancel what was sent for accounts before ``position`` and never claimed (the
        account was skipped or read other windows): it would hold a slot for nothing."""
        for key, (at, future) in list(self._ahead.items()):
            if at < position:
                future.cancel()
                del self._ahead[key]

    def close(self) -> None:
        self.drop_before(1 << 62)


def page_key(context: dict[str, Any], window: Any, token: Any) -> Hashable | None:
    """The key of one account's page; None when the token cannot be a key."""
    key = (tuple(sorted(context.items())), window, token)
    try:
        hash(key)
    except TypeError:
        return None
    return key

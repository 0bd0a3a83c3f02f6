"""What a run hands each vendor's streams: the vendor's HTTP layer, settings and accounts.

The tap owns one :class:`VendorRuntime` per vendor (and one for the unified ``calls``
stream) and passes it to every stream it creates. Streams and vendor modules never reach
up to the tap: what they share within a vendor for one run (Comagic's sessions and
agency clients, the calls fan-out) lives in :meth:`VendorRuntime.shared`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from tap_calltrack.http import VendorHttp
from tap_calltrack.run_status import RunStatus
from tap_calltrack.settings import Account, VendorLimits

T = TypeVar("T")


@dataclass(frozen=True)
class RunContext:
    """What every vendor of one run shares."""

    config: Mapping[str, Any]
    status: RunStatus
    started_at: dt.datetime  # UTC, whole seconds: the end of an open range
    user_agent: str


class VendorRuntime:
    """One vendor's share of a run: HTTP layer (throttle, pool, retries), settings with
    their schema defaults, the accounts this run extracts, and per-run shared services."""

    def __init__(self, name: str, run: RunContext, accounts: list[Account],
                 settings: Mapping[str, Any], limits: VendorLimits | None) -> None:
        self.name = name
        self.run = run
        self.accounts = accounts
        self._settings = settings
        self._limits = limits
        self._http: VendorHttp | None = None
        self._shared: dict[Any, Any] = {}
        self._closers: list[Callable[[], None]] = []
        self._lock = threading.RLock()

    def setting(self, key: str) -> Any:
        """A setting of the vendor's section (its schema default when unset)."""
        return self._settings.get(key)

    @property
    def http(self) -> VendorHttp:
        """The vendor's one HTTP layer, shared by every account and stream of the run."""
        with self._lock:
            if self._http is None:
                if self._limits is None:
                    raise RuntimeError(f"{self.name}: no HTTP layer (it sends no requests)")
                self._http = VendorHttp(self.name, self._limits, self.run.user_agent)
            return self._http

    def shared(self, kind: Callable[[VendorRuntime], T]) -> T:
        """The run's one ``kind(self)`` for this vendor, made on first use."""
        with self._lock:
            if kind not in self._shared:
                self._shared[kind] = kind(self)
            shared: T = self._shared[kind]
            return shared

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the run ends, before the HTTP layer closes."""
        self._closers.append(callback)

    def close(self) -> None:
        closers, self._closers = self._closers, []
        for callback in closers:
            callback()
        if self._http is not None:
            self._http.close()

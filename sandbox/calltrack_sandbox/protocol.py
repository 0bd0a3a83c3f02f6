"""What the server and the vendor apps share: a request, a response, the options of a run
and the shape of a vendor app. The server imports the apps; the apps import only this
module and world.py, never the server.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from calltrack_sandbox.world import World

_ENCODER = msgspec.json.Encoder()  # the sandbox must outrun the tap it is measured with


@dataclass
class SandboxRequest:
    method: str
    path: str  # without the vendor prefix
    raw_query: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    client: str
    base_url: str  # e.g. http://127.0.0.1:8765


@dataclass
class SandboxResponse:
    status: int
    body: bytes
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, **headers: str) -> SandboxResponse:
        return cls(status, _ENCODER.encode(payload), headers=headers)

    @classmethod
    def html(cls, text: str, status: int = 200) -> SandboxResponse:
        page = f"<!DOCTYPE html><html><head><title>{text}</title></head><body>{text}</body></html>"
        return cls(status, page.encode(), "text/html; charset=UTF-8")

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class VendorApp(Protocol):
    """A vendor emulator: the paths under its prefix, its accounts and its error shapes."""

    prefix: str

    def handle(self, request: SandboxRequest) -> SandboxResponse: ...

    def too_many_requests(self, retry_after: str) -> SandboxResponse: ...

    def tap_config(self, base_url: str) -> dict[str, Any]: ...


@dataclass
class SandboxOptions:
    port: int = 0
    seed: int = 1
    latency_ms: float = 0.0
    rate_limit: float = 0.0  # requests per second per client and vendor; 0 = none
    records: int = 300  # calls per account over the data span
    faults: dict[str, float] = field(default_factory=dict)
    timeout_ms: float = 5000.0  # how long a "timeout" fault stalls
    accounts: int = 2
    first_day: dt.date = dt.date(2024, 1, 1)
    days: int = 91
    access_log: bool = False
    calltouch_points: int = 0  # successful requests per Calltouch site; 0 = unlimited
    cache_pages: int = 0  # answers kept for repeated GETs (benchmarks); 0 = none
    #: Readings of what the vendors' documents leave open, switched on per run (QUIRKS;
    #: docs/fidelity.md lists each with its source).
    quirks: frozenset[str] = frozenset()
    callkeeper_to: str = "inclusive"  # how CallKeeper reads a Y-m-d {to}: the doc is unclear
    callkeeper_v1_null_times: bool = False  # every tenth v1 row without timeStart (doc example)

    @property
    def world(self) -> World:
        return World(self.seed, self.records, self.first_day, self.days)


QUIRKS: dict[str, str] = {
    "comagic-documented-fields": "Comagic refuses fields its docs do not list, even those "
                                 "public clients request",
    "comagic-stat-data": "get.campaign_daily_stat answers result.data with metadata "
                         "(default: a bare list, as the docs' example)",
    "comagic-stat-campaign-id": "get.campaign_daily_stat names the field campaign_id, as the "
                                "docs' table (default: campain_id, as the docs' example)",
    "comagic-stat-campain-only": "get.campaign_daily_stat refuses campaign_id and knows only "
                                 "campain_id",
    "comagic-numeric-record-ids": "call_records ids are numbers (default: strings)",
    "calltouch-strict-flags": "Calltouch takes only lower-case 'true' as a set flag "
                              "(default: true and True)",
}

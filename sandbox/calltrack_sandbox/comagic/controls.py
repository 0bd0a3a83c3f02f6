"""What tests may change at run time (``POST /comagic/_sandbox/options``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Controls:
    """What tests may change at run time (``POST /comagic/_sandbox/options``)."""

    minute_limit: int = 100_000
    minute_seconds: float = 60.0  # how long the sandbox's "minute" lasts
    day_limit: int = 1_000_000
    token_lifetime_s: float = 3600.0  # real lifetime of login.user sessions
    reported_lifetime_s: float | None = None  # what expire_at says (default: the real one)
    delay_ms: float = 0.0
    big_rows: int = 120_000
    #: errors to answer next: [{"mnemonic": ..., "count": n, "method": optional, "limit": "day"}]
    inject: list[dict[str, Any]] = field(default_factory=list)
    #: fields the API "does not know", per method
    unknown_fields: dict[str, list[str]] = field(default_factory=dict)
    #: get.account with user_id: "accept" (the client's own account, as the public SDK
    #: expects), "refuse" (unexpected_parameters, as NOTES' parameter list implies) or
    #: "ignore" (the agency's own account, user_id silently dropped)
    account_user_id: str = "accept"

"""Per-account minute and day budgets (``metadata.limits``), charged per successful call."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from calltrack_sandbox.comagic.controls import Controls
from calltrack_sandbox.comagic.errors import RpcError


@dataclass
class Budget:
    day_used: int = 0
    minute_started: float = 0.0
    minute_used: int = 0


class Quota:
    """Per-account minute and day budgets, one point per successful get.* call."""

    def __init__(self) -> None:
        self.budgets: dict[int, Budget] = {}
        self.started = time.monotonic()

    def limits(self, app_id: int, controls: Controls) -> dict[str, Any]:
        budget = self._roll(app_id, controls)
        now = time.monotonic()
        minute_left = budget.minute_started + controls.minute_seconds - now
        day_left = 86_400 - (now - self.started) % 86_400
        return {"day_limit": controls.day_limit,
                "day_remaining": max(0, controls.day_limit - budget.day_used),
                "day_reset": math.ceil(day_left),
                "minute_limit": controls.minute_limit,
                "minute_remaining": max(0, controls.minute_limit - budget.minute_used),
                "minute_reset": max(1, math.ceil(minute_left))}

    def _roll(self, app_id: int, controls: Controls) -> Budget:
        budget = self.budgets.setdefault(app_id, Budget(minute_started=time.monotonic()))
        if time.monotonic() - budget.minute_started >= controls.minute_seconds:
            budget.minute_started, budget.minute_used = time.monotonic(), 0
        return budget

    def check(self, app_id: int, controls: Controls) -> None:
        budget = self._roll(app_id, controls)
        spent = ("day" if budget.day_used >= controls.day_limit else
                 "minute" if budget.minute_used >= controls.minute_limit else None)
        if spent:
            error = RpcError("limit_exceeded", limit=spent)
            error.limits = self.limits(app_id, controls)
            raise error

    def charge(self, app_id: int, controls: Controls) -> None:
        budget = self._roll(app_id, controls)
        budget.day_used += 1
        budget.minute_used += 1

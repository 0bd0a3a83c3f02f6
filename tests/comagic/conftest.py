"""Comagic fixtures: the module's sandbox process, reset before each test."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from support import SandboxProcess

OTHER_VENDORS = {"calltouch": None, "callkeeper": None}


class ComagicSandbox:
    """The sandbox process plus the Comagic emulator's test controls."""

    def __init__(self, process: SandboxProcess) -> None:
        self.process = process
        self.url = process.url
        self.control = f"{process.url}/comagic/_sandbox"

    def config(self, **overrides: Any) -> dict[str, Any]:
        """A tap config of the Comagic accounts only (the other vendors removed)."""
        return self.process.config(**{**OTHER_VENDORS, **overrides})

    def accounts(self) -> dict[str, dict[str, Any]]:
        return requests.get(f"{self.control}/accounts", timeout=10).json()

    def account(self, role: str, **extra: Any) -> dict[str, Any]:
        """A config entry of one sandbox account (credentials and name)."""
        entry = self.accounts()[role]
        keys = ("name", "access_token", "login", "password")
        return {**{key: entry[key] for key in keys if key in entry}, **extra}

    def state(self) -> dict[str, Any]:
        return requests.get(f"{self.control}/state", timeout=10).json()

    def counts(self) -> dict[str, int]:
        return self.state()["counts"]

    def options(self, **changes: Any) -> None:
        response = requests.post(f"{self.control}/options", json=changes, timeout=10)
        response.raise_for_status()

    def reset(self) -> None:
        requests.post(f"{self.control}/reset", timeout=10).raise_for_status()
        self.process.reset()


@pytest.fixture
def comagic(sandbox: SandboxProcess) -> ComagicSandbox:
    """The module's default sandbox (tests/conftest.py), reset before each test."""
    controlled = ComagicSandbox(sandbox)
    controlled.reset()
    return controlled

"""Scripted Calltouch answers and a tap process that can be signalled (input/signal tests)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fake_server import Reply, Request
from support import console_script, write_json

TOKEN = "canary-Calltouch-token-5f1c9e"


def calltouch_config(url: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "start_date": "2024-01-01",
        "end_date": "2024-01-14",
        "max_tries": 6,
        "calltouch": {"api_url": url, "max_requests_per_second": 200,
                      "max_concurrent_requests": 2,
                      "sites": [{"site_id": 41100, "api_token": TOKEN, "name": "shop"}]},
    }
    config.update(overrides)
    return config


def calltouch_call(call_id: int, day: str, **fields: Any) -> dict[str, Any]:
    """One journal record; ``day`` as dd/mm/yyyy."""
    return {"callId": call_id, "date": f"{day} 10:00:00", "duration": 30, **fields}


def calls_page(records: list[dict[str, Any]]) -> Reply:
    return Reply(json={"page": 1, "pageTotal": 1, "recordsTotal": len(records),
                       "records": records})


def calls_only(respond_calls: Callable[[Request], Reply]) -> Callable[[Request], Reply]:
    """Calls journal from ``respond_calls``; every other endpoint is empty."""

    def respond(request: Request) -> Reply:
        if request.path.endswith("/calls-diary/calls"):
            return respond_calls(request)
        if request.path.endswith("/orders-diary/orders"):
            return Reply(json={"page": 1, "pageTotal": 1, "records": []})
        if request.path.endswith("/total-count"):  # statistics: documented shapes, no data
            return Reply(json=0)
        if "/statistics/" in request.path:
            return Reply(json={})
        return Reply(json=[])

    return respond


def catalog_selecting(config: dict[str, Any], tmp: Path, streams: set[str]) -> Path:
    """A catalog from the real tap's --discover with exactly ``streams`` selected."""
    out = subprocess.run([console_script("tap-calltrack"), "--config",
                          str(write_json(tmp / "discover-config.json", config)), "--discover"],
                         capture_output=True, text=True, check=True).stdout
    catalog = json.loads(out)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return write_json(tmp / "catalog.json", catalog)


class TapProcess:
    """``tap-calltrack`` running in the background; stdout lines are collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [console_script("tap-calltrack"), *args], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
        self.lines: list[bytes] = []
        self.stderr = b""
        self._err_lines: list[bytes] = []
        self._state_seen = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith(b'{"type":"STATE"'):
                self._state_seen.set()

    def _read_err(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._err_lines.append(line)
        self.stderr = b"".join(self._err_lines)

    def stderr_so_far(self) -> str:
        return b"".join(self._err_lines).decode(errors="replace")

    def wait_for_state(self, timeout: float) -> bool:
        return self._state_seen.wait(timeout)

    def finish(self, timeout: float) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        self._err_reader.join(5)
        return code

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines if line.strip()]

    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages() if m["type"] == "STATE"]

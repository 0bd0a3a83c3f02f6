"""Helpers for end-to-end tests: a real sandbox process and real tap runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

BIN = Path(sys.executable).parent
FAST = 200.0  # requests/second for tests against a sandbox without a ceiling


def console_script(name: str) -> str:
    path = BIN / name
    if not path.exists():
        raise RuntimeError(f"{name} is not installed in {BIN}; run `make install` "
                           "(pip install -e . -e ./sandbox)")
    return str(path)


class SandboxProcess:
    """``calltrack-sandbox`` as a subprocess on a free port of 127.0.0.1."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [console_script("calltrack-sandbox"), "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        if "listening on" not in line:
            self.process.kill()
            raise RuntimeError(f"sandbox did not start: {line}{self.process.stderr.read()}")
        self.url = line.strip().rsplit(" ", 1)[-1]

    def config(self, **overrides: Any) -> dict[str, Any]:
        """A tap config for this sandbox, fast by default (no client-side throttle)."""
        config = requests.get(f"{self.url}/_sandbox/config", timeout=10).json()
        for vendor in ("calltouch", "comagic", "callkeeper"):
            if vendor in config:
                config[vendor].setdefault("max_requests_per_second", FAST)
        return deep_merge(config, overrides)

    def stats(self) -> Counter[str]:
        return Counter(requests.get(f"{self.url}/_sandbox/stats", timeout=10).json())

    def reset(self) -> None:
        requests.post(f"{self.url}/_sandbox/reset", timeout=10)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        elif value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


@dataclass
class TapRun:
    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.messages = [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def records(self) -> dict[str, list[dict[str, Any]]]:
        by_stream: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for message in self.messages:
            if message["type"] == "RECORD":
                by_stream[message["stream"]].append(message["record"])
        return by_stream

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict[str, Any]:
        return self.states[-1]

    def schemas(self) -> dict[str, dict[str, Any]]:
        return {m["stream"]: m for m in self.messages if m["type"] == "SCHEMA"}


def write_json(path: Path, payload: Any) -> Path:
    path.write_text(json.dumps(payload, ensure_ascii=False))
    return path


def discover(config: dict[str, Any], tmp: Path) -> dict[str, Any]:
    result = subprocess.run(
        [console_script("tap-calltrack"), "--config", str(write_json(tmp / "cfg.json", config)),
         "--discover"], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def select(catalog: dict[str, Any], streams: set[str] | None) -> dict[str, Any]:
    """Mark exactly ``streams`` (all when None) selected."""
    for entry in catalog["streams"]:
        chosen = streams is None or entry["tap_stream_id"] in streams
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = chosen
    return catalog


def every_stream(config: dict[str, Any], tmp: Path) -> set[str]:
    """Every stream of the catalog, the opt-in recordings streams included."""
    tmp.mkdir(parents=True, exist_ok=True)
    return {entry["tap_stream_id"] for entry in discover(config, tmp)["streams"]}


def run_tap(config: dict[str, Any], tmp: Path, *, streams: set[str] | None = None,
            state: dict[str, Any] | None = None, env: dict[str, str] | None = None,
            timeout: float = 600) -> TapRun:
    """Run the real ``tap-calltrack`` process; ``streams`` limits the selection."""
    tmp.mkdir(parents=True, exist_ok=True)
    args = [console_script("tap-calltrack"), "--config",
            str(write_json(tmp / "config.json", config))]
    if streams is not None:
        catalog = select(discover(config, tmp), streams)
        args += ["--catalog", str(write_json(tmp / "catalog.json", catalog))]
    if state is not None:
        args += ["--state", str(write_json(tmp / "state.json", state))]
    started = time.monotonic()
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})})
    # pytest's warning filters do not reach a subprocess: check its log instead.
    assert "DeprecationWarning" not in result.stderr, result.stderr[-2000:]
    run = TapRun(result.returncode, result.stdout, result.stderr)
    run.elapsed = time.monotonic() - started  # type: ignore[attr-defined]
    return run


def primary_key(record: dict[str, Any], keys: list[str]) -> tuple:
    return tuple(record.get(key) for key in keys)


def assert_unique_keys(run: TapRun) -> None:
    """Our own uniqueness check (the SDK's cannot fail): no key twice in one stream."""
    schemas = run.schemas()
    for stream, records in run.records.items():
        keys = schemas[stream]["key_properties"]
        assert keys, f"{stream} declares no primary key"
        seen = Counter(primary_key(record, keys) for record in records)
        duplicates = [key for key, count in seen.items() if count > 1]
        assert not duplicates, f"{stream}: duplicate keys {duplicates[:5]}"
        assert all(None not in key for key in seen), f"{stream}: null in a primary key"

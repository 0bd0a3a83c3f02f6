"""Shared pieces of the benchmarks: sandbox processes, tap configs, timing, ratios."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


class Sandbox:
    """``calltrack-sandbox`` on a free port, stopped on exit."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([str(BIN / "calltrack-sandbox"), "--port", "0", *args],
                                        stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        self.url = line.strip().rsplit(" ", 1)[-1]

    def config(self, **overrides: Any) -> dict[str, Any]:
        config = requests.get(f"{self.url}/_sandbox/config", timeout=10).json()
        config.update(overrides)
        return config

    def stats(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/_sandbox/stats", timeout=10).json()

    def reset(self) -> None:
        requests.post(f"{self.url}/_sandbox/reset", timeout=10)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def write_json(payload: Any) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(payload, handle)
    return handle.name


def tap_command(config: dict[str, Any], streams: set[str]) -> list[str]:
    """The tap process reading ``config`` with only ``streams`` selected."""
    config_path = write_json(config)
    catalog = json.loads(subprocess.run([str(BIN / "tap-calltrack"), "--config", config_path,
                                         "--discover"], capture_output=True, text=True,
                                        check=True).stdout)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return [str(BIN / "tap-calltrack"), "--config", config_path,
            "--catalog", write_json(catalog)]


def timed(args: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds of a command whose stdout is counted (lines) and discarded."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env={**os.environ, **(env or {})})
    lines = sum(1 for _ in process.stdout)  # type: ignore[union-attr]
    process.wait()
    if process.returncode:
        raise RuntimeError(f"{args[0]} exited with {process.returncode}")
    return time.perf_counter() - started, lines


def median(values: list[float]) -> float:
    return statistics.median(values)

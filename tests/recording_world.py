"""A vendor world for recording tests: the in-process sandbox's answers, tampered at will,
and every recording download answered by a scripted :class:`FakeVendor`.

- Calltouch: ``api_url`` is the fake, which forwards the journal to the sandbox (so its
  downloads, which live under ``api_url``, reach the fake's script);
- Comagic: the API is the sandbox; ``media_url`` is the fake;
- CallKeeper: the API is the sandbox; every ``recordUrl`` is rewritten to the fake.

``tamper(vendor, body)`` may change each JSON answer of the sandbox before the tap sees
it (vendor ids such as ``../../x``); ``media(request)`` answers each download.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from fake_server import FakeVendor, Reply, Request

from calltrack_sandbox.protocol import SandboxOptions, SandboxResponse
from calltrack_sandbox.server import SandboxServer
from calltrack_sandbox.world import record_bytes

Tamper = Callable[[str, Any], Any]
MEDIA_MARKERS = ("/download", "/media/system/media/", "/records/")
FAST = {"max_requests_per_second": 500.0}


def audio(seed: str, size: int = 5000) -> bytes:
    """A deterministic MP3-looking body (an ID3 tag and noise)."""
    return record_bytes("test", "media", seed, size)


def good_media(request: Request) -> Reply:
    return Reply(body=audio(request.path), headers={"Content-Type": "audio/mpeg"})


def is_media(path: str) -> bool:
    return any(marker in path for marker in MEDIA_MARKERS)


class RecordingWorld:
    """Context manager: sandbox + fake; ``config(vendor, folder)`` for one account."""

    def __init__(self, tamper: Tamper | None = None,
                 media: Callable[[Request], Reply] = good_media) -> None:
        self.tamper = tamper
        self.media = media
        self.sandbox = SandboxServer(SandboxOptions(records=40, accounts=1, days=3))
        self.fake = FakeVendor(self._respond)
        self._wrap_apps()

    def __enter__(self) -> RecordingWorld:
        self.sandbox.__enter__()
        self.fake.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.fake.stop()
        self.sandbox.stop()

    def media_requests(self) -> list[Request]:
        with self.fake.lock:
            return [r for r in self.fake.requests if is_media(r.path)]

    def config(self, vendor: str, folder: Path, **extra: Any) -> dict[str, Any]:
        full = self.sandbox.tap_config()
        section = dict(full[vendor], **FAST)
        if vendor == "calltouch":
            section["sites"] = section["sites"][:1]
            section["api_url"] = section["api_url"].replace(self.sandbox.url, self.fake.url)
        else:
            section["accounts"] = section["accounts"][:1]
        if vendor == "comagic":
            section["media_url"] = self.fake.url + "/comagic/media"
        return {"start_date": full["start_date"], "end_date": full["end_date"],
                "lookback_days": 0, "max_tries": 2, "recordings_dir": str(folder),
                vendor: section, **extra}

    # --- plumbing -----------------------------------------------------------------------

    def _respond(self, request: Request) -> Reply:
        if is_media(request.path):
            return self.media(request)
        params = [(key, value) for key, values in request.query.items() for value in values]
        upstream = requests.request(request.method, self.sandbox.url + request.path,
                                    params=params, data=request.body, timeout=30)
        return Reply(status=upstream.status_code, body=upstream.content,
                     headers={"Content-Type": upstream.headers.get("Content-Type", "")})

    def _wrap_apps(self) -> None:
        for app in self.sandbox.sandbox.apps:
            app.handle = self._tampered(app.prefix.strip("/"), app.handle)  # type: ignore

    def _tampered(self, vendor: str, handle: Callable[[Any], SandboxResponse]
                  ) -> Callable[[Any], SandboxResponse]:
        def wrapped(request: Any) -> SandboxResponse:
            response = handle(request)
            if not response.content_type.startswith("application/json"):
                return response
            text = response.body.decode().replace(self.sandbox.url, self.fake.url)
            body = json.loads(text)
            if self.tamper is not None:
                body = self.tamper(vendor, body)
            response.body = json.dumps(body, ensure_ascii=False).encode()
            return response
        return wrapped


def rewrite(node: Any, key: str, change: Callable[[Any], Any]) -> Any:
    """Every ``key`` of every object in ``node`` replaced by ``change(value)``."""
    if isinstance(node, dict):
        return {k: change(v) if k == key else rewrite(v, key, change) for k, v in node.items()}
    if isinstance(node, list):
        return [rewrite(item, key, change) for item in node]
    return node


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}

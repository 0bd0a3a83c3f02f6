"""The one downloader of call recordings: streamed, atomic, idempotent, checksummed.

A recording is written to ``<file>.part-<pid>`` beside its final name, chunk by chunk
(never whole in memory), and renamed into place only when complete, so an existing file
is always a complete one: a re-run skips it and only re-reads it for its checksum.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from tap_calltrack.fanout import CallParticipant
from tap_calltrack.http import FatalError, VendorHttp, status_error

if TYPE_CHECKING:
    from tap_calltrack.settings import Account

CHUNK = 64 * 1024


@dataclass(frozen=True)
class RecordingRef:
    """Where a recording comes from and where it goes."""

    relative_path: str  # under recordings_dir, e.g. "calltouch/41100/123.mp3"
    url: str
    record: dict[str, Any]  # the recordings stream's identifying fields (ids, date_utc)
    params: dict[str, Any] = field(default_factory=dict)  # may hold a token: never logged


class RecordingMissing(FatalError):
    """The vendor has no recording for this call (404)."""


def file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _store(response: requests.Response, target: Path) -> tuple[int, str]:
    """Stream the body to a temporary file beside ``target`` and rename it into place."""
    error = status_error(response)
    if response.status_code == 404:
        raise RecordingMissing("no recording (HTTP 404)")
    if error is not None:
        raise error
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.part-{os.getpid()}")
    digest = hashlib.sha256()
    size = 0
    try:
        with partial.open("wb") as handle:
            for chunk in response.iter_content(CHUNK):
                handle.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
    finally:
        response.close()
        partial.unlink(missing_ok=True)
    return size, digest.hexdigest()


def download(http: VendorHttp, ref: RecordingRef, root: Path, what: str) -> dict[str, Any] | None:
    """Save one recording (unless already there); its record, or None when there is none."""
    target = root / ref.relative_path
    if target.exists():
        size, sha256 = file_digest(target)
    else:
        timeout = http.limits.request_timeout

        def send(session: requests.Session) -> requests.Response:
            return session.get(ref.url, params=ref.params, timeout=timeout, stream=True)

        try:
            size, sha256 = http.call(send, lambda response: _store(response, target), what)
        except RecordingMissing:
            return None
    return {**ref.record, "path": str(target), "bytes": size, "sha256": sha256}


class RecordingsStream(CallParticipant):
    """``<vendor>_recordings``: recordings of the calls of the run, one record per file.

    Opt-in twice: the stream must be selected and ``recordings_dir`` set. Downloads run on
    the vendor's worker pool (bounded and throttled like every other request).
    """

    @property
    def recordings_dir(self) -> Path | None:
        folder = self.config.get("recordings_dir")
        return Path(folder).expanduser() if folder else None

    @property
    def participates(self) -> bool:
        return self.selected and self.recordings_dir is not None

    def records_for(self, account: Account, context: Mapping[str, Any] | None
                    ) -> Iterator[dict[str, Any]]:
        if self.recordings_dir is None:
            if not getattr(self, "_warned_no_dir", False):
                self.logger.warning("%s is selected but recordings_dir is not set: "
                                    "nothing is downloaded", self.name)
                self._warned_no_dir = True
            return
        yield from super().records_for(account, context)

    def rows_from_calls(self, calls: list[dict[str, Any]], account: Account
                        ) -> list[dict[str, Any]]:
        source = self.tap.call_source(self.vendor)
        root = self.recordings_dir
        assert root is not None
        refs = [ref for call in calls for ref in source.recording_refs(call, account)]
        futures = [self.http.submit(download, self.http, ref, root,
                                    f"{self.vendor} {self.name} [{account.label}] "
                                    f"{ref.relative_path}")
                   for ref in refs]
        return [row for future in futures if (row := future.result()) is not None]

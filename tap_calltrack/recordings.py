"""The one downloader of call recordings: streamed, checked, atomic, idempotent.

Everything about a recording is the vendor's to get wrong, so everything is checked:

- names: ids become file names of ``[A-Za-z0-9._-]`` only (a hash suffix when an id had
  to be changed or is long), and the resolved path must lie inside ``recordings_dir``;
- the answer: 200, an audio Content-Type, audio magic bytes (MP3, WAV, Ogg), the length
  announced, at most ``max_recording_mb``; otherwise it is retried, then skipped with a
  warning (no record, and the recordings bookmark of the account stays before that
  window, so the next run tries again);
- redirects: followed here (never by requests), only to http(s), at most
  :data:`MAX_REDIRECTS`; our query credentials never go to another host;
- files: written to a temporary name unique per download and renamed into place only
  when whole, so a final name only ever holds a whole recording; a file already there is
  re-checked and replaced when it is not audio.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, quote, urljoin, urlsplit, urlunsplit

import requests

from tap_calltrack.fanout import CallParticipant
from tap_calltrack.http import FatalError, RetryableError, VendorHttp, status_error
from tap_calltrack.settings import DEFAULT_MAX_RECORDING_MB

if TYPE_CHECKING:
    from tap_calltrack.settings import Account
    from tap_calltrack.windows import Window

LOGGER = logging.getLogger("tap_calltrack.recordings")
CHUNK = 64 * 1024
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_NAME = 100  # characters of a file name made from ids, before the suffix
_NAME_HEAD = 60  # characters kept of a changed or long name, before its hash
_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAGIC_LENGTH = 12
_TEMPORARY = re.compile(r"^\..+\.(\d+)-\d+-[0-9a-f]+\.part$")
# Bodies are stored as sent: a compressed transfer would make Content-Length useless.
HEADERS = {"Accept": "audio/*, application/octet-stream", "Accept-Encoding": "identity"}


@dataclass(frozen=True)
class RecordingRef:
    """Where a recording comes from and where it goes."""

    relative_path: str  # under recordings_dir, e.g. "calltouch/41100/123.mp3"
    url: str
    record: dict[str, Any]  # the recordings stream's identifying fields (ids, date_utc)
    params: dict[str, Any] = field(default_factory=dict)  # may hold a token: never logged


@runtime_checkable
class RecordingSource(Protocol):
    """A calls stream that can tell the recordings of one of its (normalised) records."""

    def recording_refs(self, record: dict[str, Any], account: Account) -> list[RecordingRef]:
        ...


class RecordingMissing(FatalError):
    """The vendor has no recording for this call (404)."""


class RecordingRefused(FatalError):
    """Not a recording we may or can take; another try will not change that."""


# --- names --------------------------------------------------------------------------------


def safe_name(*ids: object) -> str:
    """One file-name component from vendor ids, joined by ``_``.

    Plain ids (letters, digits, ``.``, ``-``, ``_`` for a single id; no ``..``; not
    starting with a dot; at most :data:`MAX_NAME` characters) are kept as they are, so
    the names of earlier versions stay valid. Anything else is cleaned, cut and given a
    hash of the original ids, so two different ids never share a file.
    """
    texts = [str(value) for value in ids]
    joined = "_".join(texts)
    plain = all(_PLAIN_ID.fullmatch(text) and ".." not in text
                and (len(texts) == 1 or "_" not in text) for text in texts)
    if plain and len(joined) <= MAX_NAME:
        return joined
    cleaned = _UNSAFE.sub("_", joined).replace("..", "_").lstrip(".")[:_NAME_HEAD]
    digest = hashlib.sha256("\x00".join(texts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{cleaned or 'id'}-{digest[:16]}"


def recording_path(vendor: str, folder: str, *ids: object, suffix: str = ".mp3") -> str:
    """``vendor/folder/<ids>.mp3``; ``folder`` must already be one safe component."""
    return f"{vendor}/{folder}/{safe_name(*ids)}{suffix}"


def url_part(value: object) -> str:
    """A vendor id as one URL path segment: ``/`` and friends escaped, and ``.``/``..``
    spelt ``%2E`` so that no client resolves them as dot segments."""
    text = quote(str(value), safe="")
    return text.replace(".", "%2E") if text.strip(".") == "" else text


def inside(root: Path, relative_path: str) -> Path | None:
    """The file ``relative_path`` names under ``root``, or None when it would lie outside
    (``..``, an absolute path, a NUL, a symlink leading out)."""
    if "\x00" in relative_path:
        return None
    try:
        base = root.resolve()
        target = (base / relative_path).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if target == base or not target.is_relative_to(base):
        return None
    return target


# --- what a recording looks like ---------------------------------------------------------


def looks_like_audio(head: bytes) -> bool:
    """MP3 (an ID3 tag or an MPEG frame sync), WAV (RIFF/WAVE) or Ogg."""
    if head.startswith(b"ID3") or head.startswith(b"OggS"):
        return True
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return True
    return head.startswith(b"RIFF") and head[8:12] == b"WAVE"


def describe_body(head: bytes) -> str:
    text = head.lstrip()
    if text[:1] == b"<":
        return "HTML"
    if text[:1] in (b"{", b"["):
        return "JSON"
    return "not audio" if head else "empty"


def audio_content_type(value: str | None) -> bool:
    kind = (value or "").split(";", 1)[0].strip().lower()
    return kind.startswith("audio/") or kind == "application/octet-stream"


def whole_file_on_disk(path: Path) -> bool:
    """A file a former run left: kept only when it is not empty and looks like audio."""
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return False
        with path.open("rb") as handle:
            return looks_like_audio(handle.read(_MAGIC_LENGTH))
    except OSError:
        return False


def file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def temporary_name(target: Path) -> Path:
    """Unique per download: process, thread and a random part."""
    return target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}-"
                            f"{secrets.token_hex(4)}.part")


def sweep_temporaries(folder: Path) -> None:
    """Remove the temporaries of processes that are gone (a killed run)."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match and not _process_alive(int(match.group(1))):
            entry.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


# --- the request --------------------------------------------------------------------------


def http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https"
                                                                  else 80)


def keeps_credentials(origin: str, url: str) -> bool:
    """Same host and port, and never from https down to http."""
    old, new = _origin(origin), _origin(url)
    return old[1:] == new[1:] and (old[0] == new[0] or new[0] == "https")


def without_credentials(url: str, params: Mapping[str, Any]) -> str:
    """``url`` with every query parameter that is one of ours (by name or value) removed."""
    parts = urlsplit(url)
    ours = {str(value) for value in params.values()}

    def is_ours(piece: str) -> bool:
        decoded = parse_qsl(piece, keep_blank_values=True)
        return any(name in params or value in ours for name, value in decoded)

    # the other parameters are kept exactly as written (a signed URL must stay valid)
    kept = [piece for piece in parts.query.split("&") if piece and not is_ours(piece)]
    return urlunsplit(parts._replace(query="&".join(kept)))


def open_recording(session: requests.Session, ref: RecordingRef, timeout: float
                   ) -> requests.Response:
    """GET the recording, following at most MAX_REDIRECTS redirects to http(s) only."""
    url: str = ref.url
    params: Mapping[str, Any] | None = ref.params
    for _ in range(MAX_REDIRECTS + 1):
        if not http_url(url):
            raise RecordingRefused("refused a redirect to a URL that is not http(s)")
        response = session.get(url, params=params, headers=HEADERS, timeout=timeout,
                               stream=True, allow_redirects=False)
        if response.status_code not in REDIRECT_STATUSES:
            return response
        location = response.headers.get("Location")
        response.close()
        if not location:
            raise RecordingRefused(f"HTTP {response.status_code} redirect without a Location")
        try:
            url = urljoin(url, location.strip())
        except ValueError:
            raise RecordingRefused("refused a redirect to a malformed URL") from None
        params = None  # a Location is followed as given
        if not keeps_credentials(ref.url, url):
            url = without_credentials(url, ref.params)
    raise RecordingRefused(f"more than {MAX_REDIRECTS} redirects")


def _check_answer(response: requests.Response, max_bytes: int) -> int | None:
    """Status and headers; the announced length, if any."""
    status = response.status_code
    if status == 404:
        raise RecordingMissing("no recording (HTTP 404)")
    if status != 200:
        error = status_error(response)
        raise error or RetryableError(f"HTTP {status}, not 200")
    content_type = response.headers.get("Content-Type")
    if not audio_content_type(content_type):
        kind = _UNSAFE.sub(" ", (content_type or "none").split(";", 1)[0])[:40]
        raise RetryableError(f"the answer is not audio (Content-Type {kind})")
    announced = _announced_length(response)
    if announced is not None and announced > max_bytes:
        raise RecordingRefused(f"the recording is larger than max_recording_mb "
                               f"({announced} bytes announced)")
    return announced


def _announced_length(response: requests.Response) -> int | None:
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        return None  # the length of the encoded body: not comparable
    try:
        value = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def store(response: requests.Response, target: Path, max_bytes: int) -> tuple[int, str]:
    """Check the answer, stream its body to a temporary file, rename it into place."""
    partial: Path | None = None
    try:
        announced = _check_answer(response, max_bytes)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = temporary_name(target)
        size, sha256 = _write_body(response, partial, max_bytes)
        if announced is not None and size != announced:
            raise RetryableError(f"the body is cut short ({size} of {announced} bytes)")
        os.replace(partial, target)
        return size, sha256
    finally:
        response.close()
        if partial is not None:
            partial.unlink(missing_ok=True)


def _write_body(response: requests.Response, partial: Path, max_bytes: int
                ) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    head = b""
    with partial.open("wb") as handle:
        for chunk in response.iter_content(CHUNK):
            if len(head) < _MAGIC_LENGTH:
                head += chunk[: _MAGIC_LENGTH - len(head)]
                if len(head) == _MAGIC_LENGTH and not looks_like_audio(head):
                    raise RetryableError(f"the body is {describe_body(head)}, not audio")
            size += len(chunk)
            if size > max_bytes:
                raise RecordingRefused("the recording is larger than max_recording_mb")
            handle.write(chunk)
            digest.update(chunk)
        if not looks_like_audio(head):
            raise RetryableError(f"the body is {describe_body(head)}, not audio")
        handle.flush()
        os.fsync(handle.fileno())
    return size, digest.hexdigest()


@dataclass
class Outcome:
    """One recording: its record, or none (no recording, or it failed: see ``failed``)."""

    row: dict[str, Any] | None
    failed: bool = False


def save(http: VendorHttp, ref: RecordingRef, root: Path, what: str,
         max_bytes: int = DEFAULT_MAX_RECORDING_MB * 2**20) -> Outcome:
    """Save one recording unless a whole one is already there; never raises for it."""
    target = inside(root, ref.relative_path)
    if target is None:
        LOGGER.warning("%s: refused: the file would lie outside recordings_dir", what)
        return Outcome(None, failed=True)
    try:
        if whole_file_on_disk(target):
            size, sha256 = file_digest(target)
        else:
            if target.exists():
                LOGGER.warning("%s: the file on disk is not a whole recording; "
                               "downloading it again", what)
            if not http_url(ref.url):
                raise RecordingRefused("the recording's URL is not http(s)")
            size, sha256 = _download(http, ref, target, what, max_bytes)
    except RecordingMissing:
        LOGGER.debug("%s: no recording (HTTP 404)", what)
        return Outcome(None)
    except FatalError as exc:  # retries spent, or refused: the message names it
        return _failed(what, str(exc))
    except (requests.RequestException, OSError, ValueError) as exc:
        # requests' messages may quote the URL (and so a token): the kind only
        return _failed(what, f"{what}: {type(exc).__name__}")
    return Outcome({**ref.record, "path": str(target), "bytes": size, "sha256": sha256})


def _download(http: VendorHttp, ref: RecordingRef, target: Path, what: str,
              max_bytes: int) -> tuple[int, str]:
    timeout = http.limits.request_timeout
    return http.call(lambda session: open_recording(session, ref, timeout),
                     lambda response: store(response, target, max_bytes), what)


def _failed(what: str, reason: str) -> Outcome:
    message = reason if reason.startswith(what) else f"{what}: {reason}"
    LOGGER.warning("%s; no record for it, the next run tries again", message)
    return Outcome(None, failed=True)


class RecordingsStream(CallParticipant):
    """``<vendor>_recordings``: recordings of the calls of the run, one record per file.

    Opt-in twice: the stream must be selected and ``recordings_dir`` set. Downloads run on
    the vendor's worker pool (bounded and throttled like every other request). After a
    recording of an account failed, that account's bookmark of this stream stays where
    it was, so the next run reads those calls again and retries it (files already whole
    are skipped).
    """

    @property
    def recordings_dir(self) -> Path | None:
        folder = self.config.get("recordings_dir")
        return Path(folder).expanduser() if folder else None

    @property
    def max_recording_bytes(self) -> int:
        return int(float(self.config.get("max_recording_mb", DEFAULT_MAX_RECORDING_MB))
                   * 2**20)

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
        source = self.source_of(self.vendor)
        assert isinstance(source, RecordingSource), f"{source.name} lists no recordings"
        root = self.recordings_dir
        assert root is not None
        refs = {ref.relative_path: ref for call in calls
                for ref in source.recording_refs(call, account)}  # one download per file
        self._sweep_once(root, refs.values())
        futures = [self.http.submit(save, self.http, ref, root,
                                    f"{self.vendor} {self.name} [{account.label}] "
                                    f"{ref.relative_path}", self.max_recording_bytes)
                   for ref in refs.values()]
        outcomes = [future.result() for future in futures]
        if any(outcome.failed for outcome in outcomes):
            self._failed_contexts().add(_context_key(self.context_for(account)))
        return [outcome.row for outcome in outcomes if outcome.row is not None]

    def advance_bookmark(self, context: Mapping[str, Any] | None, window: Window) -> None:
        if _context_key(context) in self._failed_contexts():
            return  # a recording of this account failed: the next run starts before it
        super().advance_bookmark(context, window)

    def _failed_contexts(self) -> set[tuple[tuple[str, str], ...]]:
        if not hasattr(self, "_failed"):
            self._failed: set[tuple[tuple[str, str], ...]] = set()
        return self._failed

    def _sweep_once(self, root: Path, refs: Any) -> None:
        if not hasattr(self, "_swept"):
            self._swept: set[Path] = set()
        for ref in refs:
            folder = inside(root, ref.relative_path)
            if folder is not None and folder.parent not in self._swept:
                self._swept.add(folder.parent)
                sweep_temporaries(folder.parent)


def _context_key(context: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in (context or {}).items()))

"""Keep secrets out of every line this process writes: stderr and the messages on stdout.

The tokens of all three vendors travel in URLs (Calltouch ``clientApiId``, the CallKeeper
key in the route) or in JSON bodies (Comagic ``access_token``/``password``), and the SDK
logs request paths and response bodies on errors. Rather than trusting every log call,
the tap wraps stderr once: every known secret (as sent, URL-encoded and JSON-escaped),
and anything in a secret-carrying position (a query parameter, a JSON member, the
CallKeeper route), is replaced with ``***``. A vendor may also echo a token inside a
record: the message writer masks the same forms in the serialized lines (messages.py).

A secret that is short or an ordinary word ("calltrack", "123456") is masked only in
those positions: masking it everywhere would garble the log ("tap-***") and so reveal it.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import quote, quote_plus

MASK = "***"
_SECRET_NAMES = r"clientApiId|access_token|api_token|api_key|apikey|password|token"
_PATTERNS = [
    # ?clientApiId=...&  /  access_token=...  /  (field password = ...)
    re.compile(rf"(?i)(\b(?:{_SECRET_NAMES})\s?=\s?)[^&\s\"'<>)]+"),
    # "access_token": "..." (a JSON string, escapes included: a '\"' does not end it)
    re.compile(rf"(?i)(\"(?:{_SECRET_NAMES})\"\s*:\s*\")(?:[^\"\\]|\\.)*"),
    # 'password': '...' (a Python repr)
    re.compile(rf"(?i)('(?:{_SECRET_NAMES})'\s*:\s*')[^']*"),
    # \"password\": \"...\" (JSON quoted inside a JSON string, as in a logged body)
    re.compile(rf"(?i)(\\\"(?:{_SECRET_NAMES})\\\"\s*:\s*\\\").*?(?<!\\)(?=\\\")"),
    # CallKeeper: the key is a route segment, https://ckct.ru/api/?json/v3/<key>/call/...
    re.compile(r"(\?json/v\d+/)[^/\s\"']+"),
]


def is_strong(secret: str) -> bool:
    """Long and unlike a word or a number: safe to mask wherever it appears."""
    if len(secret) < 8:
        return False
    if secret.isalpha() and len(secret) < 16 and (secret.islower() or secret.istitle()):
        return False  # cased like a word ("calltrack", "Calltrack")
    return not (secret.isdigit() and len(secret) < 12)


def written_forms(secret: str) -> set[str]:
    """How a secret can appear in a line: as is, URL-encoded, JSON-escaped."""
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret),
             json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    forms.add(json.dumps(json.dumps(secret)[1:-1])[1:-1])  # JSON inside a JSON string
    return {form for form in forms if form}


class Redactor:
    """Replaces registered secrets and secret-shaped fragments in text (and in bytes)."""

    def __init__(self) -> None:
        self._strong: set[str] = set()
        self._weak: set[str] = set()
        self._lock = threading.Lock()
        self._literal: re.Pattern[str] | None = None
        self._byte_forms: tuple[bytes, ...] = ()
        self._weak_bytes: tuple[bytes, ...] = ()

    def add(self, secrets: Iterable[str]) -> None:
        """Register secrets (with their URL-encoded and JSON-escaped forms). Thread-safe."""
        with self._lock:
            for secret in secrets:
                if not secret:
                    continue
                if is_strong(secret):
                    self._strong.update(written_forms(secret))
                else:
                    self._weak.add(secret)
            ordered = sorted(self._strong, key=len, reverse=True)
            self._literal = re.compile("|".join(map(re.escape, ordered))) if ordered else None
            self._byte_forms = tuple(form.encode() for form in ordered)
            self._weak_bytes = tuple({form.encode() for secret in self._weak
                                      for form in written_forms(secret)})

    def __call__(self, text: str) -> str:
        literal = self._literal
        if literal is not None:
            text = literal.sub(MASK, text)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return text

    def mask_bytes(self, data: bytes | bytearray) -> bytes | bytearray:
        """``data`` (serialized messages) with secrets masked; unchanged, and cheap (one
        substring search per form), when none is there."""
        for form in self._byte_forms:
            if form in data:
                data = data.replace(form, MASK.encode())
        if any(form in data for form in self._weak_bytes):  # only in secret positions
            text = data.decode("utf-8", "surrogateescape")
            for pattern in _PATTERNS:
                text = pattern.sub(lambda m: m.group(1) + MASK, text)
            data = text.encode("utf-8", "surrogateescape")
        return data


REDACTOR = Redactor()


class RedactingStream(io.TextIOBase):
    """A text stream that redacts whole lines before passing them on."""

    def __init__(self, inner: TextIO, redact: Redactor) -> None:
        self._inner = inner
        self._redact = redact
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            if "\n" in self._pending:
                complete, _, self._pending = self._pending.rpartition("\n")
                self._inner.write(self._redact(complete + "\n"))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self._inner.write(self._redact(self._pending))
                self._pending = ""
            self._inner.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8")


def _all_handlers() -> Iterable[logging.Handler]:
    loggers = [logging.getLogger()]
    loggers += [
        logger for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        yield from logger.handlers


def install(secrets: Iterable[str]) -> None:
    """Register ``secrets`` and route stderr (and every stderr log handler) through redaction."""
    REDACTOR.add(secrets)
    original = sys.stderr
    if not isinstance(original, RedactingStream):
        # typeshed's sys.stderr is typing.TextIO, which no io.TextIOBase subclass is
        sys.stderr = RedactingStream(original, REDACTOR)
    for handler in _all_handlers():
        stream = getattr(handler, "stream", None)
        if isinstance(handler, logging.StreamHandler) and stream is original:
            handler.setStream(sys.stderr)

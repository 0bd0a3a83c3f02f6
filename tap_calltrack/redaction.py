"""Keep secrets out of every line this process writes to stderr.

The tokens of all three vendors travel in URLs (Calltouch ``clientApiId``, the CallKeeper
key in the route) or in JSON bodies (Comagic ``access_token``/``password``), and the SDK
logs request paths and response bodies on errors. Rather than trusting every log call,
the tap wraps stderr once: every known secret, and anything in a secret-carrying position
(a query parameter, a JSON member, the CallKeeper route), is replaced with ``***``.
"""

from __future__ import annotations

import io
import logging
import re
import sys
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
_SECRET_NAMES = r"clientApiId|access_token|api_token|api_key|apikey|password|token"
_PATTERNS = [
    # ?clientApiId=...&  /  access_token=...
    re.compile(rf"(?i)(\b(?:{_SECRET_NAMES})=)[^&\s\"'<>]+"),
    # "access_token": "..."  /  'password': '...'
    re.compile(rf"(?i)([\"'](?:{_SECRET_NAMES})[\"']\s*:\s*[\"'])[^\"']*"),
    # CallKeeper: the key is a route segment, https://ckct.ru/api/?json/v3/<key>/call/...
    re.compile(r"(\?json/v\d+/)[^/\s\"']+"),
]


class Redactor:
    """Replaces registered secrets and secret-shaped fragments in text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._literal: re.Pattern[str] | None = None

    def add(self, secrets: Iterable[str]) -> None:
        """Register secrets (also in their URL-encoded forms). Thread-safe."""
        with self._lock:
            for secret in secrets:
                if secret and len(secret) >= 4:
                    self._secrets.update({secret, quote(secret, safe=""), quote_plus(secret)})
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._literal = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        literal = self._literal
        if literal is not None:
            text = literal.sub(MASK, text)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return text


REDACTOR = Redactor()


class RedactingStream(io.TextIOBase):
    """A text stream that redacts whole lines before passing them on."""

    def __init__(self, inner: io.TextIOBase, redact: Redactor) -> None:
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
        sys.stderr = RedactingStream(original, REDACTOR)  # type: ignore[assignment]
    for handler in _all_handlers():
        stream = getattr(handler, "stream", None)
        if isinstance(handler, logging.StreamHandler) and stream is original:
            handler.setStream(sys.stderr)

"""The Data API's JSON-RPC 2.0 envelope: request bodies, answers, and what each error means.

Errors arrive in the body (``error.code``, ``error.message``, ``error.data.mnemonic``);
the vendor recommends acting on the mnemonic, as ``code`` is shared by many (docs/notes.md 2.1).
Whether errors come with HTTP 200 is undocumented, so the body is read whatever the status.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import requests

from tap_calltrack.http import (
    AuthError,
    FatalError,
    ProtocolError,
    QuotaExhausted,
    RetryableError,
    StreamUnavailable,
    status_error,
)

_IDS = itertools.count(1)
_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder()

WHITELIST_HELP = (
    "add the IP address this tap connects from to the account's API whitelist: "
    "Администратор → Аккаунт → Правила и настройки безопасности → API (or allow 0.0.0.0/0); "
    "for an agency client, whitelist it in the client's account")
ACCOUNT_REFUSALS = {
    "auth_error": "the login or password was refused",
    "access_token_blocked": "the access_token is blocked",
    "forbidden": "the user has no rights for this method",
    "account_inactive": "the account is inactive",
}


class TokenRejected(AuthError):
    """``access_token_expired``/``access_token_invalid``: a session token can be renewed."""


class TokenRenewed(RetryableError):
    """A refused session token was dropped: the next try opens a new session."""


class MinuteLimit(RetryableError):
    """The minute budget is spent; requests are held until it resets, then retried."""


@dataclass(frozen=True)
class Limits:
    """``metadata.limits`` of an answer (each may be missing)."""

    day_limit: int | None = None
    day_remaining: int | None = None
    day_reset: float | None = None
    minute_limit: int | None = None
    minute_remaining: int | None = None
    minute_reset: float | None = None

    @classmethod
    def of(cls, metadata: Any) -> Limits | None:
        limits = metadata.get("limits") if isinstance(metadata, Mapping) else None
        if not isinstance(limits, Mapping):
            return None
        return cls(**{name: _number(limits.get(name)) for name in cls.__dataclass_fields__})


def _number(value: Any) -> Any:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass
class Answer:
    """A decoded answer: ``result`` on success, else ``error``; limits either way."""

    response: requests.Response
    result: Any
    error: dict[str, Any] | None
    limits: Limits | None

    @property
    def mnemonic(self) -> str:
        data = (self.error or {}).get("data")
        return str(data.get("mnemonic") or "") if isinstance(data, Mapping) else ""


def request_body(method: str, params: Mapping[str, Any]) -> bytes:
    """A JSON-RPC call; ``id`` is mandatory (without it the call is a notification, -32099)."""
    return _ENCODER.encode({"jsonrpc": "2.0", "id": next(_IDS), "method": method,
                            "params": params})


def metadata_of(result: Any) -> Any:
    """``metadata``, or ``meta_data`` as the get.account/get.sites examples spell it (quirk 21)."""
    if not isinstance(result, Mapping):
        return None
    return result.get("metadata", result.get("meta_data"))


def parse_answer(response: requests.Response) -> Answer:
    """The JSON-RPC answer whatever the HTTP status; transport failures raise as usual."""
    try:
        body = _DECODER.decode(response.content)
    except msgspec.DecodeError:
        body = None
    if not isinstance(body, Mapping) or not ("result" in body or "error" in body):
        error = status_error(response)
        if error is not None:
            raise error
        raise RetryableError(f"the answer is not a JSON-RPC response ({len(response.content)} "
                             "bytes)")
    error = body.get("error")
    if error is not None:
        data = error.get("data") if isinstance(error, Mapping) else None
        metadata = data.get("metadata") if isinstance(data, Mapping) else None
        details = dict(error) if isinstance(error, Mapping) else {"message": error}
        return Answer(response, None, details, Limits.of(metadata))
    result = body.get("result")
    check_result(result)
    return Answer(response, result, None, Limits.of(metadata_of(result)))


def check_result(result: Any) -> None:
    """``result`` as documented (docs/notes.md 2.1): ``{data: [...], metadata: {total_items}}``,
    ``data`` an object for login/logout, or a bare list (quirk 23). Anything else is a
    protocol error (retried, then the stream fails), never "no rows"."""
    if isinstance(result, list):
        check_items(result)
        return
    if not isinstance(result, Mapping):
        raise ProtocolError(f"result is a JSON {type(result).__name__}, not an object")
    data = result.get("data")
    metadata = metadata_of(result)
    total = metadata.get("total_items") if isinstance(metadata, Mapping) else None
    if total is not None and (not isinstance(total, int) or isinstance(total, bool)
                              or total < 0):
        raise ProtocolError("metadata.total_items is not a count")
    if isinstance(data, list):
        check_items(data)
    elif not isinstance(data, Mapping) or total is not None:
        raise ProtocolError(f"result.data is {'missing' if data is None else 'not a list'}"
                            + (f" while metadata.total_items is {total}" if total else ""))


def check_items(rows: list[Any]) -> None:
    if not all(isinstance(row, Mapping) for row in rows):
        raise ProtocolError("result.data holds items that are not objects")


def error_data(error: Mapping[str, Any]) -> Mapping[str, Any]:
    data = error.get("data")
    return data if isinstance(data, Mapping) else {}


def describe_error(error: Mapping[str, Any]) -> str:
    data = error_data(error)
    text = f"{data.get('mnemonic') or 'error'} {error.get('code')}: {error.get('message')}"
    if data.get("field"):
        text += f" (field {data['field']}"
        text += f" = {data['value']})" if data.get("value") is not None else ")"
    return text


def error_for(answer: Answer, where: str) -> Exception:
    """The exception an error answer stands for. ``where`` names the account's setting."""
    error = answer.error or {}
    mnemonic = answer.mnemonic
    text = describe_error(error)
    if mnemonic in ("access_token_expired", "access_token_invalid"):
        return TokenRejected(f"the access token was refused ({text}); check {where}")
    if mnemonic == "ip_not_whitelisted":
        return AuthError(f"the API refused this machine's IP address ({text}): {WHITELIST_HELP}")
    if mnemonic in ACCOUNT_REFUSALS:
        return AuthError(f"{ACCOUNT_REFUSALS[mnemonic]} ({text}); check {where}")
    if mnemonic in ("method_component_disabled", "parameter_component_disabled"):
        return StreamUnavailable(f"the account lacks the paid component this method needs "
                                 f"({text})")
    if mnemonic == "limit_exceeded":
        return limit_error(answer, text)
    if mnemonic == "internal_error" or error.get("code") == -32603:
        return RetryableError(text)
    return FatalError(text)


def limit_error(answer: Answer, text: str) -> Exception:
    """``Limit per {limit_type} has been exceeded``: the day budget ends the run."""
    limits = answer.limits or Limits()
    message = str((answer.error or {}).get("message") or "").lower()
    if "day" in message or limits.day_remaining == 0:
        resets = f"; it resets in {limits.day_reset:.0f} s" if limits.day_reset else ""
        return QuotaExhausted(f"the daily API quota is spent ({text}){resets}")
    return MinuteLimit(text)

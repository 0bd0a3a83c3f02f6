"""JSON-RPC error answers: each mnemonic with its code and message."""

from __future__ import annotations

from typing import Any

ERRORS: dict[str, tuple[int, str]] = {
    "parse_error": (-32700, "Parse error"),
    "invalid_request": (-32600, "Invalid Request"),
    "method_not_found": (-32601, "Method not found"),
    "unexpected_parameters": (-32602, "Unexpected parameters"),
    "required_parameter_missing": (-32602, "Required parameter is missing"),
    "invalid_parameter_value": (-32602, "Invalid parameter value"),
    "date_interval_limit_reached": (-32602, "Max value of requested date interval is 3 months"),
    "sort_prohibited": (-32602, "Sorting by this field is prohibited"),
    "internal_error": (-32603, "Internal error"),
    "access_token_invalid": (-32001, "Access token is invalid"),
    "access_token_expired": (-32001, "Access token has been expired"),
    "access_token_blocked": (-32001, "Access token has been blocked"),
    "auth_error": (-32001, "Wrong login or password"),
    "ip_not_whitelisted": (-32003, "Access from IP {ip} is denied: it is not whitelisted"),
    "forbidden": (-32003, "Access is forbidden"),
    "method_component_disabled": (-32008, "The component of the method is disabled"),
    "account_inactive": (-32009, "The account is inactive"),
    "limit_exceeded": (-32029, "Limit per {limit} has been exceeded. Try again later"),
    "notifications_not_supported": (-32099, "Notifications are not supported"),
    "batch_opreations_not_supported": (-32099, "Batch operations are not supported"),  # sic
}


class RpcError(Exception):
    """An error answer: mnemonic, and optionally the parameter it is about."""

    def __init__(self, mnemonic: str, field_name: str | None = None, value: Any = None,
                 **fmt: Any) -> None:
        code, message = ERRORS[mnemonic]
        super().__init__(message.format(**fmt))
        self.mnemonic, self.code = mnemonic, code
        self.field_name, self.value = field_name, value
        self.limits: dict[str, Any] | None = None

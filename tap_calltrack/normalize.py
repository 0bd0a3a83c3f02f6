"""Type normalisation of vendor values, applied to a documented set of fields.

The vendors are inconsistent (ids as numbers or strings, flags as booleans or "true",
"True", "0"), and the SDK, left to itself, would turn the string "false" into True. Each
helper converts what it recognises and returns anything else unchanged: a value of an
unexpected type is kept as the vendor sent it, never nulled.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def to_bool(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return value


def to_int(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    return value


def coerce(record: MutableMapping[str, Any], *, bools: Iterable[str] = (),
           ints: Iterable[str] = ()) -> None:
    """Normalise the named top-level fields of ``record`` in place (runs once per record:
    values already of the right type are left alone without a call)."""
    for name in bools:
        value = record.get(name)
        if value is not None and value.__class__ is not bool:
            record[name] = to_bool(value)
    for name in ints:
        value = record.get(name)
        if value is not None and value.__class__ is not int:
            record[name] = to_int(value)

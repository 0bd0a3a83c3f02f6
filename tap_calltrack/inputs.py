"""The files a run is given (--config, --state, --catalog): read and checked before use.

Every problem is one line naming the file and the place in it, never a value (a config
holds secrets; a state or catalog may hold anything), and the tap exits 2.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tap_calltrack.settings import FIRST_YEAR, LAST_YEAR
from tap_calltrack.windows import parse_utc


class InputError(ValueError):
    """A --config, --state or --catalog file that cannot be used."""


def read_object(text: str, where: str) -> dict[str, Any]:
    """``text`` as a JSON object, or an :class:`InputError` naming ``where``."""
    try:
        value = json.loads(text)
    except ValueError:
        raise InputError(f"{where} is not valid JSON") from None
    if not isinstance(value, dict):
        raise InputError(f"{where} is not a JSON object")
    return value


def read_file(path: str, option: str) -> dict[str, Any]:
    where = f"{option} file '{path}'"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{where} was not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{where} cannot be read ({type(exc).__name__})") from None
    return read_object(text, where)


def read_stream(stream: Any, option: str) -> dict[str, Any]:
    """A click file argument (``--state``/``--catalog``) as a JSON object."""
    where = f"{option} file '{getattr(stream, 'name', '?')}'"
    try:
        text = stream.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{where} cannot be read ({type(exc).__name__})") from None
    return read_object(text, where)


def bookmark_moment(value: Any) -> dt.datetime | None:
    """A bookmark as an aware date-time; None when it is not one this tap can use."""
    if not isinstance(value, str):
        return None
    try:
        moment = parse_utc(value)
    except ValueError:
        return None
    return moment if FIRST_YEAR <= moment.year <= LAST_YEAR else None


def _check_bookmark(entry: Any, where: str) -> None:
    if not isinstance(entry, Mapping):
        raise InputError(f"{where} is not an object")
    value = entry.get("replication_key_value")
    if value is not None and bookmark_moment(value) is None:
        raise InputError(f"{where}: replication_key_value is not an ISO-8601 date-time "
                         f"between {FIRST_YEAR} and {LAST_YEAR}")
    if "context" in entry and not isinstance(entry["context"], Mapping):
        raise InputError(f"{where}: context is not an object")


def check_state(state: Mapping[str, Any], where: str) -> None:
    """The shape this tap's bookmarks have; a wrong type names its stream and partition."""
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, Mapping):
        raise InputError(f"{where}: bookmarks is not an object")
    for stream, entry in bookmarks.items():
        place = f"{where}: bookmarks.{stream}"
        _check_bookmark(entry, place)
        partitions = entry.get("partitions", [])
        if not isinstance(partitions, list):
            raise InputError(f"{place}.partitions is not a list")
        for index, partition in enumerate(partitions):
            _check_bookmark(partition, f"{place}.partitions[{index}]")


def check_catalog(catalog: Mapping[str, Any], where: str) -> None:
    streams = catalog.get("streams")
    if not isinstance(streams, list) or not all(isinstance(s, Mapping) for s in streams):
        raise InputError(f"{where}: streams is not a list of objects")
    for index, entry in enumerate(streams):
        for key, kind in (("tap_stream_id", str), ("schema", Mapping), ("metadata", list)):
            if key in entry and not isinstance(entry[key], kind):
                raise InputError(f"{where}: streams[{index}].{key} has the wrong type")


def partition_bookmark(state: Mapping[str, Any], stream: str,
                       context: Mapping[str, Any]) -> dt.datetime | None:
    """The bookmark of ``stream`` for the partition ``context`` (read-only, no defaults)."""
    entry = (state.get("bookmarks") or {}).get(stream) or {}
    for partition in entry.get("partitions") or []:
        if dict(partition.get("context") or {}) == dict(context):
            return bookmark_moment(partition.get("replication_key_value"))
    return None

"""A stream's SCHEMA -> its sheet columns, and a record -> its row of cell values.

Columns come from the SCHEMA only (never from a record): key properties first, then the
other properties in SCHEMA order. Objects with declared properties flatten into
``parent.child`` columns down to ``flatten_max_depth`` levels; arrays, free-form objects and
anything deeper are one column of compact JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tap_calltrack.excel.cells import (
    ALL_TYPES,
    ANY,
    BOOLEAN,
    DATE,
    DATE_TIME,
    DATE_TIME_UTC,
    INTEGER,
    JSON,
    NUMBER,
    STRING,
    CellRules,
    Converter,
)
from tap_calltrack.excel.errors import InputError
from tap_calltrack.excel.localtime import read_local, utc_partner

LOCAL_TEXT = "local-text"
LOCAL_LABEL = "account's local time"
# Shown right after the keys and times when a stream has them: who called, how long,
# whether it counted, and where it came from (the three vendors' names for these).
USEFUL_COLUMNS = (
    "vendor", "account", "started_at", "callerNumber", "contact_phone_number", "clientNumber",
    "caller_number", "phoneNumber", "virtual_phone_number", "tracking_number", "duration",
    "total_duration", "duration_s", "talk_duration", "successful", "is_lost", "answered",
    "status", "uniqueCall", "targetCall", "uniqTargetCall", "is_unique", "is_target",
    "is_unique_target", "unique", "target", "uniqueTarget", "source", "medium", "utmSource",
    "utmMedium", "utmCampaign", "utm_source", "utm_medium", "utm_campaign", "session",
    "visit", "orderStatus", "completedAmount", "plannedAmount", "sale_cost", "city",
)  # fmt: skip

_SINGLE_KINDS = {"integer": INTEGER, "number": NUMBER, "boolean": BOOLEAN}
_STRING_FORMATS = {"date-time": DATE_TIME, "date": DATE}


@dataclass(frozen=True)
class Column:
    """One sheet column: its header, where its value sits in a record, and its kind."""

    header: str
    path: tuple[str, ...]
    kind: str
    allowed: frozenset[str] = ALL_TYPES
    partner: tuple[str, ...] = ()  # a local-time text column: its UTC column's path


def _visit_types(schema: Any, types: set[str], formats: set[str]) -> None:
    if not isinstance(schema, Mapping):
        return
    declared = schema.get("type")
    if isinstance(declared, str):
        types.add(declared)
    elif isinstance(declared, list):
        types.update(t for t in declared if isinstance(t, str))
    elif "properties" in schema:
        types.add("object")
    elif "items" in schema:
        types.add("array")
    elif not any(k in schema for k in ("anyOf", "oneOf")):
        types.update(ALL_TYPES)
    if isinstance(schema.get("format"), str):
        formats.add(schema["format"])
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key) or ():
            _visit_types(sub, types, formats)


def schema_types(schema: Any) -> tuple[frozenset[str], str | None]:
    """The JSON types a property allows (anyOf/oneOf merged) and its one string format."""
    types: set[str] = set()
    formats: set[str] = set()
    _visit_types(schema, types, formats)
    return frozenset(types & ALL_TYPES), (formats.pop() if len(formats) == 1 else None)


def column_kind(schema: Any) -> tuple[str, frozenset[str]]:
    """The converter kind of a leaf property and the non-null types it allows."""
    types, fmt = schema_types(schema)
    non_null = types - {"null"}
    if len(non_null) == 1:
        (only,) = non_null
        if only == "string":
            return _STRING_FORMATS.get(fmt or "", STRING), non_null
        if only in ("array", "object"):
            return JSON, non_null
        return _SINGLE_KINDS[only], non_null
    if non_null == {"integer", "number"}:
        return NUMBER, non_null
    return ANY, non_null


def object_properties(schema: Any) -> Mapping[str, Any] | None:
    """The declared properties of an object-only property (null allowed), else None."""
    types, _ = schema_types(schema)
    if types - {"null"} != {"object"}:
        return None
    candidates = [schema, *(schema.get("anyOf") or ()), *(schema.get("oneOf") or ())]
    found = [
        c["properties"]
        for c in candidates
        if isinstance(c, Mapping) and isinstance(c.get("properties"), Mapping) and c["properties"]
    ]
    return found[0] if len(found) == 1 else None


def _leaf_columns(name: str, schema: Any, path: tuple[str, ...], depth_left: int) -> list[Column]:
    path = (*path, name)
    children = object_properties(schema) if depth_left > 0 else None
    if children is None:
        kind, allowed = column_kind(schema)
        if kind == DATE_TIME and name.lower().endswith("_utc"):
            kind = DATE_TIME_UTC
        return [Column(".".join(path), path, kind, allowed)]
    columns: list[Column] = []
    for child, child_schema in children.items():
        columns.extend(_leaf_columns(child, child_schema, path, depth_left - 1))
    return columns


def _with_time_labels(columns: list[Column], zone: str) -> list[Column]:
    """Local date-times say their zone; vendor local texts beside a UTC column are read."""
    utc_paths = {column.path for column in columns if column.kind == DATE_TIME_UTC}
    result = []
    for column in columns:
        if column.kind == DATE_TIME:
            column = replace(column, header=f"{column.header} ({zone})")
        elif column.kind in (STRING, ANY) and "string" in column.allowed and not (
            column.allowed & {"integer", "number"}  # epoch numbers (Calltouch leads' date)
        ):
            siblings = {path[-1] for path in utc_paths if path[:-1] == column.path[:-1]}
            partner = utc_partner(column.path[-1], siblings)
            if partner is not None:
                column = replace(
                    column,
                    header=f"{column.header} ({LOCAL_LABEL})",
                    kind=LOCAL_TEXT,
                    partner=(*column.path[:-1], partner),
                )
        result.append(column)
    return result


def _useful_first(names: list[str], keys: list[str], properties: Mapping[str, Any]) -> list[str]:
    """Keys, then times, then the columns people look at first, then the rest in order."""
    rest = [name for name in names if name not in keys]
    times = [name for name in rest if schema_types(properties.get(name))[1] == "date-time"]
    locals_ = [name for name in rest if utc_partner(name, set(times))]
    useful = [name for name in USEFUL_COLUMNS if name in properties and name not in keys]
    ordered = dict.fromkeys([*keys, *times, *locals_, *useful, *rest])
    return list(ordered)


def _unique_headers(columns: list[Column]) -> list[Column]:
    seen: set[str] = set()
    result: list[Column] = []
    for column in columns:
        header, n = column.header, 1
        while header.casefold() in seen:
            n += 1
            header = f"{column.header} ({n})"
        seen.add(header.casefold())
        result.append(replace(column, header=header))
    return result


def plan_columns(
    schema: Mapping[str, Any],
    key_properties: Sequence[str],
    max_depth: int,
    zone: str = "UTC",
) -> list[Column]:
    """The sheet columns of a stream, key properties first, in a stable order.

    ``zone`` names the time zone local date-times are shown in, for their headers.
    """
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        raise InputError("SCHEMA has no 'properties' object")
    keys = [k for k in dict.fromkeys(key_properties) if isinstance(k, str)]
    ordered = _useful_first([str(name) for name in properties], keys, properties)
    columns: list[Column] = []
    for name in ordered:
        columns.extend(_leaf_columns(name, properties.get(name, {}), (), max_depth))
    return _unique_headers(_with_time_labels(columns, zone))


@dataclass
class _Node:
    key: str
    convert: Converter | None = None
    children: list[_Node] = field(default_factory=list)
    width: int = 1
    known: frozenset[str] = frozenset()


def _keep(value: Any) -> Any:
    return value


def _converter(column: Column, rules: CellRules) -> Converter:
    # A local-time text is read after the row is built, beside its UTC partner's cell.
    return _keep if column.kind == LOCAL_TEXT else rules.converter(column.kind, column.allowed)


def _build_tree(columns: Sequence[Column], rules: CellRules) -> _Node:
    root = _Node("")
    for column in columns:
        node = root
        for key in column.path[:-1]:
            match = next((c for c in node.children if c.key == key and c.convert is None), None)
            if match is None:
                match = _Node(key)
                node.children.append(match)
            node = match
        node.children.append(_Node(column.path[-1], _converter(column, rules)))
    _set_widths(root)
    return root


def _set_widths(node: _Node) -> int:
    if node.convert is None:
        node.width = sum(_set_widths(child) for child in node.children)
        node.known = frozenset(child.key for child in node.children)
    return node.width


class RowBuilder:
    """Turns records into rows of cell values for a fixed list of columns."""

    def __init__(self, columns: Sequence[Column], rules: CellRules) -> None:
        self.rules = rules
        self._flat = all(len(column.path) == 1 for column in columns)
        self._pairs = [(column.path[0], _converter(column, rules)) for column in columns]
        self._tree = _build_tree(columns, rules)
        self._top_known = self._tree.known
        index = {column.path: i for i, column in enumerate(columns)}
        self._local_texts = [
            (i, index[column.partner], rules.converter(ANY, column.allowed))
            for i, column in enumerate(columns)
            if column.kind == LOCAL_TEXT
        ]

    def build(self, record: Mapping[str, Any]) -> list[Any]:
        """The row for ``record``, one value per column."""
        if not record.keys() <= self._top_known:
            self._count_unknown(record, self._top_known)
        if self._flat:
            get = record.get
            row = [None if (v := get(k)) is None else convert(v) for k, convert in self._pairs]
        else:
            row = []
            self._extract(self._tree, record, row)
        if self._local_texts:
            self._read_local_texts(row)
        return row

    def _read_local_texts(self, row: list[Any]) -> None:
        for i, partner, fallback in self._local_texts:
            value = row[i]
            if type(value) is not str:
                row[i] = None if value is None else fallback(value)
                continue
            utc = row[partner] if type(row[partner]) is dt.datetime else None
            local = read_local(value, utc)
            if local is None:
                self.rules.issues["local_time_as_text"] += 1
                row[i] = fallback(value)
            else:
                row[i] = local

    def _count_unknown(self, record: Mapping[str, Any], known: frozenset[str]) -> None:
        self.rules.issues["unknown_property"] += len(record.keys() - known)

    def _extract(self, node: _Node, record: Mapping[str, Any], row: list[Any]) -> None:
        for child in node.children:
            value = record.get(child.key)
            if child.convert is not None:
                row.append(None if value is None else child.convert(value))
            elif type(value) is dict:
                self._extract_object(child, value, row)
            elif value is None:
                row.extend([None] * child.width)
            else:
                # A non-object where the SCHEMA declares an object: keep it, as text,
                # in the object's first column.
                row.append(self.rules.mismatch(value))
                row.extend([None] * (child.width - 1))

    def _extract_object(self, node: _Node, value: dict[str, Any], row: list[Any]) -> None:
        if not value.keys() <= node.known:
            self._count_unknown(value, node.known)
        self._extract(node, value, row)

"""Workbooks read back (openpyxl and python-calamine) equal the input after the documented
conversions: property-based over generated schemas and records, and for a realistic input."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from excel_helpers import (
    CALLS_KEYS,
    CALLS_PROPERTIES,
    call,
    norm,
    norm_rows,
    read_calamine,
    read_openpyxl,
    record_msg,
    run_target,
    schema_msg,
    singer_lines,
    state_msg,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
OOXML_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
BIG = 10**15
UTC = dt.timezone.utc
ZONES = ["Europe/Moscow", "UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "+79161234567",
    "-1+2",
    "@SUM(1)",
    "\t=1",
    "\r=1",
    "#N/A",
    "#DIV/0!",
    "#REF!",
    "#NULL!",
    "=",
    "_x0041_",
    "a\x00b\x1fc",
    "\ud800x",
    "\ufffe",
    "Привет, мир",
    "  ",
    "",
    "1e5",
    "0012",
    "TRUE",
    "a\r\nb",
    "😀",
]
LEAF_KINDS = [
    "integer",
    "number",
    "boolean",
    "string",
    "date-time",
    "date",
    "array",
    "free",
    "untyped",
]

strings = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=30))
names = st.text(alphabet="abcxyzабвгд019=#+@!/? _-", min_size=1, max_size=6)
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    strings,
)
any_json = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=6,
)
date_times = st.datetimes(
    min_value=dt.datetime(1899, 12, 30),
    max_value=dt.datetime(9999, 12, 31, 23, 59, 59),
    timezones=st.sampled_from(
        [UTC, dt.timezone(dt.timedelta(hours=3)), dt.timezone(dt.timedelta(hours=-9, minutes=-30))]
    )
    | st.none(),
).map(lambda d: d.isoformat())


def leaf_schema(kind: str) -> dict[str, Any]:
    return {
        "integer": {"type": ["integer", "null"]},
        "number": {"type": ["number", "null"]},
        "boolean": {"type": ["boolean", "null"]},
        "string": {"type": ["string", "null"]},
        "date-time": {"type": ["string", "null"], "format": "date-time"},
        "date": {"type": ["string", "null"], "format": "date"},
        "array": {"type": ["array", "null"], "items": {}},
        "free": {"type": ["object", "null"]},
        "untyped": {},
    }[kind]


def node_schema(node: str | dict) -> dict[str, Any]:
    if isinstance(node, str):
        return leaf_schema(node)
    return {"type": ["object", "null"], "properties": {k: node_schema(v) for k, v in node.items()}}


def tree(depth: int, max_size: int = 4) -> st.SearchStrategy[dict]:
    def node() -> st.SearchStrategy[Any]:
        leaf = st.sampled_from(LEAF_KINDS)
        return leaf if depth == 0 else st.one_of(leaf, leaf, tree(depth - 1, 3))

    return st.lists(names, min_size=1, max_size=max_size, unique_by=str.casefold).flatmap(
        lambda ns: st.tuples(*[node() for _ in ns]).map(lambda vs: dict(zip(ns, vs, strict=True)))
    )


def matching(kind: str) -> st.SearchStrategy[Any]:
    return {
        "integer": st.integers(-(10**20), 10**20) | st.sampled_from([BIG - 1, BIG, 1 - BIG, 5.0]),
        "number": st.floats() | st.integers(-(10**18), 10**18),
        "boolean": st.booleans(),
        "string": strings,
        "date-time": date_times,
        "date": st.dates(min_value=dt.date(1890, 1, 1)).map(dt.date.isoformat),
        "array": st.lists(json_leaf, max_size=3),
        "free": st.dictionaries(st.text(max_size=4), json_leaf, max_size=3),
        "untyped": any_json,
    }[kind]


def value_for(node: str | dict) -> st.SearchStrategy[Any]:
    if isinstance(node, str):
        good = matching(node)
    else:
        good = st.fixed_dictionaries({}, optional={k: value_for(v) for k, v in node.items()})
    return st.one_of(good, good, good, st.none(), any_json)


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def as_text(value: Any) -> str:
    return XML_BAD.sub("", value if isinstance(value, str) else compact(value))


def exp_number(value: int | float) -> Any:
    if isinstance(value, int):
        return float(value) if abs(value) < BIG else str(value)
    if not math.isfinite(value):
        return compact(value)
    if abs(value) > 9.99999999999999e307:
        return repr(value)
    return float(f"{value:.16g}")  # openpyxl writes 16 significant digits


def exp_date_time(text: str, tz: ZoneInfo) -> Any:
    try:
        moment = dt.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        local = moment.astimezone(tz)
    except (ValueError, OverflowError):
        return as_text(text)
    if local.year < 1900:
        return as_text(text)
    return local.replace(tzinfo=None, microsecond=local.microsecond // 1000 * 1000)


def exp_date(text: str) -> Any:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return as_text(text)
    return day if day.year >= 1900 else as_text(text)


def expected_value(kind: str, value: Any, tz: ZoneInfo) -> Any:
    is_num = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "integer" and (
        isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    ):
        return exp_number(value) if is_num else as_text(value)
    if kind == "number" and is_num:
        return exp_number(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "string" and isinstance(value, str):
        return as_text(value)
    if kind == "date-time" and isinstance(value, str):
        return exp_date_time(value, tz)
    if kind == "date" and isinstance(value, str):
        return exp_date(value)
    if kind in ("array", "free", "object") and isinstance(value, list | dict):
        return as_text(compact(value))
    if kind == "untyped":
        return value if isinstance(value, bool) else exp_number(value) if is_num else as_text(value)
    return as_text(value)


def leaf_count(node: dict, depth: int) -> int:
    return sum(
        leaf_count(v, depth - 1) if isinstance(v, dict) and depth > 0 else 1 for v in node.values()
    )


def is_utc_name(name: str) -> bool:
    return name.lower().endswith("_utc")


def expected_headers(node: dict, depth: int, zone: str, prefix: str = "") -> list[str]:
    headers = []
    for name, child in node.items():
        if isinstance(child, dict) and depth > 0:
            headers += expected_headers(child, depth - 1, zone, f"{prefix}{name}.")
        elif child == "date-time" and not is_utc_name(name):
            headers.append(XML_BAD.sub("", prefix + name) + f" ({zone})")  # local: zone named
        else:
            headers.append(XML_BAD.sub("", prefix + name))
    return headers


def expected_row(node: dict, depth: int, record: dict, tz: ZoneInfo) -> list[Any]:
    row: list[Any] = []
    for name, child in node.items():
        value = record.get(name)
        if isinstance(child, dict) and depth > 0:
            width = leaf_count(child, depth - 1)
            if isinstance(value, dict):
                row += expected_row(child, depth - 1, value, tz)
            elif value is None:
                row += [None] * width
            else:
                row += [as_text(value)] + [None] * (width - 1)
        elif value is not None:
            zone = ZoneInfo("UTC") if is_utc_name(name) else tz  # *_utc columns show UTC
            row.append(expected_value(child if isinstance(child, str) else "object", value, zone))
        else:
            row.append(None)
    return [norm(v) for v in row]


def unescape(value: Any) -> Any:
    """What Excel (and calamine) show for openpyxl's raw text: _xHHHH_ decoded."""
    if isinstance(value, str):
        return OOXML_ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), value)
    return value


def check_sheet(path: Path, sheet: str, headers: list[str], rows: list[list[Any]]) -> None:
    width = len(headers)
    by_openpyxl = read_openpyxl(path)[sheet]
    by_calamine = read_calamine(path)[sheet]
    opx = norm_rows([[unescape(v) for v in row] for row in by_openpyxl], width)
    cal = norm_rows(by_calamine, width)
    want = norm_rows([headers, *rows], width)
    assert opx == want
    assert cal == want


@st.composite
def stream_inputs(draw: st.DrawFn) -> tuple[dict, list[str], int, list[dict], str]:
    shape = draw(tree(2, 6))
    keys = draw(st.lists(st.sampled_from(list(shape)), unique=True, max_size=2))
    depth = draw(st.integers(0, 3))
    obj_value = st.fixed_dictionaries({}, optional={k: value_for(v) for k, v in shape.items()})
    records = draw(st.lists(obj_value, max_size=6))
    return shape, keys, depth, records, draw(st.sampled_from(ZONES))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream_inputs())
def test_generated_streams_round_trip(tmp_path_factory: Any, data: tuple) -> None:
    shape, keys, depth, records, zone = data
    # Keys first, then the top-level date-times, then the rest in SCHEMA order.
    times = {k: v for k, v in shape.items() if v == "date-time"}
    ordered = {k: shape[k] for k in keys} | times | shape
    path = tmp_path_factory.mktemp("rt") / "out.xlsx"
    props = {k: node_schema(v) for k, v in shape.items()}
    text = singer_lines([schema_msg("s", props, keys), *(record_msg("s", r) for r in records)])
    config = {
        "output_path": str(path),
        "timezone": zone,
        "flatten_max_depth": depth,
        "report_sheets": False,
    }
    run_target(config, text)
    tz = ZoneInfo(zone)
    rows = [expected_row(ordered, depth, r, tz) for r in records]
    check_sheet(path, "s", expected_headers(ordered, depth, zone), rows)


CALLTOUCH_PROPERTIES: dict[str, Any] = {
    "site_id": {"type": ["integer"]},
    "callId": {"type": ["integer", "string"]},
    "date_utc": {"type": ["string", "null"], "format": "date-time"},
    "duration": {"type": ["integer", "number", "null"]},
    "callerNumber": {"type": ["string", "null"]},
    "uniqueCall": {"type": ["boolean", "null"]},
    "utmCampaign": {"type": ["string", "null"]},
    "callbackInfo": {
        "type": ["object", "null"],
        "properties": {
            "leadId": {"type": ["integer", "string", "null"]},
            "fields": {"type": ["array", "null"], "items": {"type": "object"}},
        },
    },
    "yandexDirect": {
        "type": ["object", "null"],
        "properties": {
            "campaignId": {"type": ["integer", "string", "null"]},
            "ad": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "meta": {"type": "object", "properties": {"x": {}}},
                },
            },
        },
    },
    "callTags": {"type": ["array", "null"], "items": {"type": "object"}},
}
DEALS_PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer"},
    "client": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "address": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
    "amount": {"type": "number"},
    "closed_on": {"type": ["string", "null"], "format": "date"},
}


def realistic_messages() -> list[dict]:
    calls = [
        call(
            "1",
            "2024-05-01T20:59:59Z",
            utm_campaign='=HYPERLINK("http://x","y")',
            caller_number="+79161234567",
            duration_s=65,
            tags=["новый", "ppc"],
            is_unique=True,
            source="yandex",
            medium="cpc",
            city="Москва",
        ),
        call(
            "2",
            "2024-05-01T21:00:00Z",
            vendor="comagic",
            account="acc-9",
            caller_number="-1+2",
            duration_s="abc",
            answered=False,
            is_target=True,
            source="#N/A",
        ),
        call("12345678901234567890", "2024-05-02T09:30:00.123456+03:00", duration_s=10**16),
    ]
    calltouch = [
        {
            "site_id": 1,
            "callId": 987654321,
            "date_utc": "2024-05-01T10:00:00Z",
            "duration": 12.5,
            "callerNumber": "+7 916 123-45-67",
            "uniqueCall": True,
            "utmCampaign": "@SUM(1)",
            "callbackInfo": {"leadId": "L-1", "fields": [{"name": "Имя", "value": "Иван"}]},
            "yandexDirect": {"campaignId": 5, "ad": {"id": 7, "meta": {"x": [1, 2]}}},
            "callTags": [{"type": "manual", "names": ["горячий"]}],
        },
        {"site_id": 1, "callId": "string-id", "date_utc": None, "yandexDirect": "not an object"},
    ]
    deals = [
        {
            "id": 1,
            "client": {"name": "ООО «Ромашка»", "address": {"city": "Казань"}},
            "amount": 1999.99,
            "closed_on": "2024-05-03",
        },
        {"id": 2, "client": None, "amount": 0, "closed_on": None},
    ]
    return [
        schema_msg("calls", CALLS_PROPERTIES, CALLS_KEYS),
        schema_msg("calltouch_calls", CALLTOUCH_PROPERTIES, ["site_id", "callId"]),
        schema_msg("deals", DEALS_PROPERTIES, ["id"]),
        record_msg("calls", calls[0]),
        record_msg("calltouch_calls", calltouch[0]),
        record_msg("deals", deals[0]),
        record_msg("calls", calls[1]),
        record_msg("deals", deals[1]),
        record_msg("calltouch_calls", calltouch[1]),
        record_msg("calls", calls[2]),
        state_msg({"bookmarks": {"calls": "2024-05-02"}}),
    ]


def test_realistic_multi_stream_input_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    stdout = run_target({"output_path": str(path)}, singer_lines(realistic_messages()))
    assert json.loads(stdout) == {"bookmarks": {"calls": "2024-05-02"}}
    sheets = read_openpyxl(path)
    assert list(sheets) == [
        "Summary", "Campaigns", "Funnel", "calls", "calltouch_calls", "deals", "About"
    ]

    msk = dt.datetime
    # Keys, the time, then who called, how long, whether it counted and where from.
    useful = ["caller_number", "tracking_number", "duration_s", "answered", "is_unique",
              "is_target", "is_unique_target", "source", "medium", "utm_source", "utm_medium",
              "utm_campaign", "city"]  # fmt: skip
    calls_order = list(dict.fromkeys([*CALLS_KEYS, "started_at", *useful, *CALLS_PROPERTIES]))
    calls_header = [
        "started_at (Europe/Moscow)" if name == "started_at" else name for name in calls_order
    ]
    blank = dict.fromkeys(calls_order)
    want_calls = [
        {
            **blank,
            "vendor": "calltouch",
            "account": "site-1",
            "call_id": "1",
            "started_at": msk(2024, 5, 1, 23, 59, 59),
            "duration_s": 65,
            "caller_number": "+79161234567",
            "answered": True,
            "is_unique": True,
            "is_target": False,
            "is_unique_target": False,
            "source": "yandex",
            "medium": "cpc",
            "utm_campaign": '=HYPERLINK("http://x","y")',
            "city": "Москва",
            "tags": '["новый","ppc"]',
        },
        {
            **blank,
            "vendor": "comagic",
            "account": "acc-9",
            "call_id": "2",
            "started_at": msk(2024, 5, 2),
            "duration_s": "abc",
            "caller_number": "-1+2",
            "answered": False,
            "is_unique": False,
            "is_target": True,
            "is_unique_target": False,
            "source": "#N/A",
        },
        {
            **blank,
            "vendor": "calltouch",
            "account": "site-1",
            "call_id": "12345678901234567890",
            "started_at": msk(2024, 5, 2, 9, 30, 0, 123000),
            "duration_s": "10000000000000000",
            "answered": True,
            "is_unique": False,
            "is_target": False,
            "is_unique_target": False,
        },
    ]
    check_sheet(path, "calls", calls_header, [list(r.values()) for r in want_calls])

    ct_header = [
        "site_id",
        "callId",
        "date_utc",
        "callerNumber",
        "duration",
        "uniqueCall",
        "utmCampaign",
        "callbackInfo.leadId",
        "callbackInfo.fields",
        "yandexDirect.campaignId",
        "yandexDirect.ad.id",
        "yandexDirect.ad.meta",
        "callTags",
    ]
    want_ct = [
        [
            1,
            987654321,
            msk(2024, 5, 1, 10),  # a *_utc column shows UTC
            "+7 916 123-45-67",
            12.5,
            True,
            "@SUM(1)",
            "L-1",
            '[{"name":"Имя","value":"Иван"}]',
            5,
            7,
            '{"x":[1,2]}',
            '[{"type":"manual","names":["горячий"]}]',
        ],
        [
            1,
            "string-id",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            "not an object",
            None,
            None,
            None,
        ],
    ]
    check_sheet(path, "calltouch_calls", ct_header, want_ct)

    deals_header = ["id", "client.name", "client.address.city", "amount", "closed_on"]
    want_deals = [
        [1, "ООО «Ромашка»", "Казань", 1999.99, dt.date(2024, 5, 3)],
        [2, None, None, 0, None],
    ]
    check_sheet(path, "deals", deals_header, want_deals)

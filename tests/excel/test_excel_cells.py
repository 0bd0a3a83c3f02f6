"""Unit tests of the cell conversion rules, column planning and sheet names."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from openpyxl.cell.cell import Cell

from tap_calltrack.excel.cells import (
    ANY,
    DATE,
    DATE_TIME,
    INTEGER,
    JSON,
    NUMBER,
    STRING,
    CellRules,
    cut_marker,
    utf16_len,
)
from tap_calltrack.excel.columns import Column, RowBuilder, column_kind, plan_columns
from tap_calltrack.excel.errors import InputError
from tap_calltrack.excel.workbook import SheetNames, clean_sheet_name

MSK = ZoneInfo("Europe/Moscow")


@pytest.fixture
def rules() -> CellRules:
    return CellRules(MSK, owner=None)


def forced(value: object) -> bool:
    return isinstance(value, Cell) and value.data_type == "s"


@pytest.mark.parametrize(
    "text", ['=HYPERLINK("http://x","y")', "=1", "#N/A", "#DIV/0!", "#REF!", "#NULL!", "#NAME?"]
)
def test_formula_and_error_strings_are_forced_to_text(rules: CellRules, text: str) -> None:
    cell = rules.string(text)
    assert forced(cell)
    assert cell.value == text
    assert rules.issues["forced_text"] == 1


@pytest.mark.parametrize(
    "text", ["+79161234567", "-1+2", "@SUM(1)", "\t=1", "\r=1", "#hashtag", "="]
)
def test_other_hostile_strings_stay_plain_strings(rules: CellRules, text: str) -> None:
    # openpyxl stores these as strings by itself; no cell object is needed.
    assert rules.string(text) == text


def test_illegal_characters_are_removed_and_counted(rules: CellRules) -> None:
    assert rules.string("a\x00b\x08c\x0bd\x1f\ufffee\ud800f") == "abcdef"
    assert rules.string("tab\tnew\nline\rok") == "tab\tnew\nline\rok"
    assert rules.issues["illegal_chars"] == 1


def test_long_text_is_cut_with_a_visible_marker(rules: CellRules) -> None:
    value = rules.string("я" * 40_000)
    assert len(value) == 32_767
    assert value.endswith(cut_marker(40_000))
    assert value.startswith("я" * 1000)
    assert rules.issues["cut_text"] == 1


def test_cut_counts_utf16_units_and_never_splits_a_pair(rules: CellRules) -> None:
    value = rules.string("😀" * 20_000)  # 40,000 UTF-16 units
    assert utf16_len(value) <= 32_767
    assert value.endswith(cut_marker(40_000))
    assert value.encode("utf-8")  # no lone surrogate left behind


def test_integers(rules: CellRules) -> None:
    assert rules.integer(42) == 42
    assert rules.integer(-999_999_999_999_999) == -999_999_999_999_999
    assert rules.integer(10**15) == "1000000000000000"
    assert rules.integer(-(10**20)) == "-100000000000000000000"
    assert rules.integer(5.0) == 5.0
    assert rules.issues["number_as_text"] == 2
    assert rules.integer("abc") == "abc"
    assert rules.integer(5.5) == "5.5"
    assert rules.integer(True) == "true"
    assert rules.issues["type_mismatch"] == 3


def test_numbers(rules: CellRules) -> None:
    assert rules.number(1.5) == 1.5
    assert rules.number(7) == 7
    assert rules.number(1e308) == "1e+308"
    assert rules.number(float("nan")) == "NaN"
    assert rules.number(False) == "false"
    assert rules.number("12") == "12"


def test_booleans_and_json(rules: CellRules) -> None:
    assert rules.boolean(True) is True
    assert rules.boolean(1) == "1"
    assert rules.json_value(["a", {"б": 1}]) == '["a",{"б":1}]'
    assert rules.json_value({"x": None}) == '{"x":null}'
    assert rules.json_value("plain") == "plain"


def test_date_times_convert_to_the_zone_naive_to_the_millisecond(rules: CellRules) -> None:
    assert rules.date_time("2024-05-01T21:30:00Z") == dt.datetime(2024, 5, 2, 0, 30)
    assert rules.date_time("2024-05-01T10:00:00.123456+03:00") == dt.datetime(
        2024, 5, 1, 10, 0, 0, 123000
    )
    assert rules.date_time("2024-05-01 10:00:00") == dt.datetime(2024, 5, 1, 13, 0)  # naive = UTC
    assert rules.date_time("not a date") == "not a date"
    assert rules.date_time("1899-12-31T00:00:00Z") == "1899-12-31T00:00:00Z"
    assert rules.date_time("9999-12-31T23:00:00Z") == "9999-12-31T23:00:00Z"
    assert rules.issues["date_out_of_range"] == 2
    assert rules.issues["type_mismatch"] == 1


def test_dates(rules: CellRules) -> None:
    assert rules.date("2024-02-29") == dt.date(2024, 2, 29)
    assert rules.date("1899-01-01") == "1899-01-01"
    assert rules.date("2024-13-01") == "2024-13-01"
    assert rules.date(20240101) == "20240101"


def test_any_columns_follow_the_runtime_type_within_the_allowed_types(rules: CellRules) -> None:
    convert = rules.converter(ANY, frozenset({"integer", "string"}))
    assert convert(12) == 12
    assert convert("12") == "12"
    assert convert(3.0) == 3.0
    assert convert(3.5) == "3.5"
    assert rules.issues["type_mismatch"] == 1
    untyped = rules.converter(ANY)
    assert untyped([1, 2]) == "[1,2]"
    assert untyped(True) is True


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        ({"type": "integer"}, INTEGER),
        ({"type": ["number", "null"]}, NUMBER),
        ({"type": ["integer", "number", "null"]}, NUMBER),
        ({"type": "string", "format": "date-time"}, DATE_TIME),
        ({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}, DATE_TIME),
        ({"type": ["string", "null"], "format": "date"}, DATE),
        ({"type": "string", "format": "email"}, STRING),
        ({"type": ["array", "null"], "items": {}}, JSON),
        ({"type": "object"}, JSON),
        ({"type": ["integer", "string"]}, ANY),
        ({}, ANY),
    ],
)
def test_column_kinds(schema: dict, kind: str) -> None:
    assert column_kind(schema)[0] == kind


NESTED = {
    "id": {"type": "integer"},
    "a": {
        "type": ["object", "null"],
        "properties": {
            "b": {"type": "string"},
            "c": {
                "type": "object",
                "properties": {
                    "d": {"type": "integer"},
                    "e": {"type": "object", "properties": {"f": {}}},
                },
            },
        },
    },
    "free": {"type": "object"},
    "list": {"type": "array"},
}


@pytest.mark.parametrize(
    ("depth", "headers"),
    [
        (0, ["id", "a", "free", "list"]),
        (1, ["id", "a.b", "a.c", "free", "list"]),
        (2, ["id", "a.b", "a.c.d", "a.c.e", "free", "list"]),
        (3, ["id", "a.b", "a.c.d", "a.c.e.f", "free", "list"]),
    ],
)
def test_flatten_depth(depth: int, headers: list[str]) -> None:
    assert [c.header for c in plan_columns({"properties": NESTED}, [], depth)] == headers


def test_key_properties_come_first_in_their_order() -> None:
    props = {"x": {}, "b": {}, "y": {}, "a": {}}
    assert [c.header for c in plan_columns({"properties": props}, ["a", "b"], 2)] == [
        "a",
        "b",
        "x",
        "y",
    ]


def test_duplicate_headers_are_made_unique() -> None:
    props = {"a.b": {}, "a": {"type": "object", "properties": {"b": {}}}, "A.B": {}}
    headers = [c.header for c in plan_columns({"properties": props}, [], 2)]
    assert headers == ["a.b", "a.b (2)", "A.B (3)"]


def test_schema_without_properties_is_an_input_error() -> None:
    with pytest.raises(InputError):
        plan_columns({"type": "object"}, [], 2)


def test_row_builder_flattens_keeps_mismatches_and_counts_unknown(rules: CellRules) -> None:
    columns = plan_columns({"properties": NESTED}, ["id"], 2)
    builder = RowBuilder(columns, rules)
    row = builder.build(
        {"id": 1, "a": {"b": "x", "c": {"d": 2, "e": {"f": [1]}}}, "list": [1, "я"]}
    )
    assert row == [1, "x", 2, '{"f":[1]}', None, '[1,"я"]']
    assert builder.build({"id": 2, "a": None}) == [2, None, None, None, None, None]
    assert builder.build({"id": 3, "a": "oops"}) == [3, "oops", None, None, None, None]
    assert rules.issues["type_mismatch"] == 1
    builder.build({"id": 4, "zzz": 1, "a": {"b": "x", "new": 1}})
    assert rules.issues["unknown_property"] == 2


def test_flat_row_builder(rules: CellRules) -> None:
    columns = [Column("n", ("n",), INTEGER), Column("s", ("s",), STRING)]
    assert RowBuilder(columns, rules).build({"s": "=1+1", "n": None})[0] is None


@pytest.mark.parametrize(
    ("wanted", "name"),
    [
        ("calls", "calls"),
        ("a[b]:c*d?e/f\\g", "a_b__c_d_e_f_g"),
        ("звонки_calltouch_по_дням_и_кампаниям", "звонки_calltouch_по_дням_и_камп"),
        ("'quoted'", "quoted"),
        ("", "stream"),
        ("History", "History_"),
        ("\x00\x01", "stream"),
    ],
)
def test_clean_sheet_names(wanted: str, name: str) -> None:
    assert clean_sheet_name(wanted) == name
    assert len(clean_sheet_name(wanted)) <= 31


def test_sheet_names_are_unique_without_case_and_fit() -> None:
    names = SheetNames(reserved=["Summary"])
    long = "x" * 40
    got = [names.claim(n) for n in ["summary", "a/b", "a_b", "A_B", long, long]]
    assert got == ["summary (2)", "a_b", "a_b (2)", "A_B (3)", "x" * 31, "x" * 27 + " (2)"]

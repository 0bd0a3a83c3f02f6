"""JSON Schema type -> Excel cell value, with the text-safety rules and Excel's limits.

Every value the target writes passes through a converter chosen once per column from the
stream's SCHEMA. Converters never raise: a value that does not fit its column is written as
text and counted in ``CellRules.issues`` (one counter per stream).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE, Cell

Converter = Callable[[Any], Any]

# openpyxl's pattern covers the C0 controls; lxml also refuses lone surrogates and
# U+FFFE/U+FFFF, and a refused value would break the sheet's XML stream half-way.
XML_ILLEGAL_RE = re.compile(ILLEGAL_CHARACTERS_RE.pattern + "|[\ud800-\udfff\ufffe\uffff]")
# Excel reads "_x0041_" in a cell's XML as "A"; "_x005F_" is the escaped underscore.
_OOXML_ESCAPE_RE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")
MAX_CELL_CHARS = 32_767
_illegal_char = XML_ILLEGAL_RE.search
_SHORT = MAX_CELL_CHARS // 2  # longer strings may exceed the limit in UTF-16 units
MAX_EXACT_INT = 10**15
MAX_EXCEL_FLOAT = 9.99999999999999e307
MIN_DATE = dt.date(1900, 1, 1)
_ERROR_CODES = frozenset(ERROR_CODES)
_FORMULA_OR_ERROR_START = frozenset("=#")
_UTC = dt.timezone.utc

INTEGER, NUMBER, BOOLEAN, STRING = "integer", "number", "boolean", "string"
DATE_TIME, DATE, JSON, ANY = "date-time", "date", "json", "any"
DATE_TIME_UTC = "date-time-utc"
ALL_TYPES = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})
_JSON_TYPE_OF: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}

ISSUE_KINDS: dict[str, str] = {
    "type_mismatch": "values whose type did not match the SCHEMA, written as text",
    "number_as_text": "numbers Excel cannot hold exactly (integers over 15 digits, "
    "floats beyond +-9.99e307), written as text",
    "date_out_of_range": "dates outside Excel's range (1900-01-01..9999-12-31), written as text",
    "forced_text": "strings Excel would read as a formula or an error, stored as text",
    "illegal_chars": "values with characters XML cannot hold (the characters were removed)",
    "cut_text": "texts over 32,767 characters, cut with a visible marker",
    "unknown_property": "record properties missing from the SCHEMA (ignored)",
    "local_time_as_text": "vendor local times that did not agree with their UTC column "
    "(or could be read more than one way), kept as text",
    "rollover_sheet": "continuation sheets opened because a sheet reached max_rows_per_sheet",
}


def to_json_text(value: Any) -> str:
    """Compact JSON, as the target writes arrays, deep objects and mismatched values."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        # msgspec's encoder is not limited by Python's stack; the text is the same JSON.
        return msgspec.json.encode(value).decode("utf-8", "replace")


def utf16_len(text: str) -> int:
    """Length as Excel counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def cut_marker(original_length: int) -> str:
    """The visible end of a cut text."""
    return f" …[cut: the original had {original_length:,} characters]"


def cut_text(text: str) -> str:
    """Cut ``text`` so that it and its marker fit one cell."""
    marker = cut_marker(utf16_len(text))
    keep_units = MAX_CELL_CHARS - len(marker)
    # Slicing UTF-16 bytes may split a surrogate pair; "ignore" drops the half.
    kept = text.encode("utf-16-le")[: 2 * keep_units].decode("utf-16-le", errors="ignore")
    return kept + marker


def escape_ooxml(text: str) -> str:
    """Escape literal ``_xHHHH_`` sequences, which Excel would otherwise decode."""
    if "_x" not in text:
        return text
    return _OOXML_ESCAPE_RE.sub(r"_x005F_\1", text)


def clean_text(text: str) -> str:
    """Remove what XML cannot hold and cut to Excel's cell limit, without counting."""
    text = escape_ooxml(XML_ILLEGAL_RE.sub("", text))
    if len(text) > MAX_CELL_CHARS // 2 and utf16_len(text) > MAX_CELL_CHARS:
        text = cut_text(text)
    return text


def needs_text_type(text: str) -> bool:
    """True for the strings openpyxl would store as a formula or an error cell."""
    return text[:1] in _FORMULA_OR_ERROR_START and (
        (text[0] == "=" and len(text) > 1) or text in _ERROR_CODES
    )


def text_cell(owner: Any, text: str) -> Cell:
    """A cell whose type is forced to string, whatever the text starts with."""
    cell = WriteOnlyCell(owner, value=text)
    cell.data_type = "s"
    return cell


class CellRules:
    """The converters of one stream, sharing its issue counters and time zone.

    ``owner`` is any worksheet of the workbook: forced-text cells need a parent for styles.
    """

    def __init__(self, tz: ZoneInfo, owner: Any, issues: Counter[str] | None = None) -> None:
        self.tz = tz
        self.owner = owner
        self.issues: Counter[str] = issues if issues is not None else Counter()

    def converter(self, kind: str, allowed: frozenset[str] = ALL_TYPES) -> Converter:
        """The converter for a column of ``kind``; ``allowed`` matters for ANY only."""
        if kind == ANY:
            return self._any_converter(allowed)
        return {
            INTEGER: self.integer,
            NUMBER: self.number,
            BOOLEAN: self.boolean,
            STRING: self.string,
            DATE_TIME: self.date_time,
            DATE_TIME_UTC: self.date_time_utc,
            DATE: self.date,
            JSON: self.json_value,
        }[kind]

    def text(self, text: str) -> Any:
        """A string made safe: XML-clean, within the cell limit, never a formula or error."""
        if (
            len(text) <= _SHORT
            and text[:1] not in _FORMULA_OR_ERROR_START
            and "_x" not in text
            and _illegal_char(text) is None
        ):
            return text  # the common case: nothing to remove, escape, cut or force
        return self._careful_text(text)

    def _careful_text(self, text: str) -> Any:
        if XML_ILLEGAL_RE.search(text) is not None:
            self.issues["illegal_chars"] += 1
            text = XML_ILLEGAL_RE.sub("", text)
        if "_x" in text:
            text = escape_ooxml(text)
        if len(text) > MAX_CELL_CHARS // 2 and utf16_len(text) > MAX_CELL_CHARS:
            self.issues["cut_text"] += 1
            text = cut_text(text)
        if needs_text_type(text):
            self.issues["forced_text"] += 1
            return text_cell(self.owner, text)
        return text

    def mismatch(self, value: Any) -> Any:
        """A value that does not fit its column: its text (JSON for non-strings)."""
        self.issues["type_mismatch"] += 1
        return self.text(value if type(value) is str else to_json_text(value))

    def _as_text(self, kind: str, value: Any) -> Any:
        self.issues[kind] += 1
        return self.text(value if type(value) is str else to_json_text(value))

    def integer(self, value: Any) -> Any:
        """integer columns: numbers, or text beyond Excel's 15 significant digits."""
        kind = type(value)
        if kind is int:
            if -MAX_EXACT_INT < value < MAX_EXACT_INT:
                return value
            return self._as_text("number_as_text", str(value))
        if kind is float and value.is_integer():
            return self.number(value)
        return self.mismatch(value)

    def number(self, value: Any) -> Any:
        """number columns: ints and finite floats Excel can hold."""
        kind = type(value)
        if kind is float:
            if -MAX_EXCEL_FLOAT <= value <= MAX_EXCEL_FLOAT:
                return value
            if math.isfinite(value):
                return self._as_text("number_as_text", repr(value))
            return self.mismatch(value)
        if kind is int:
            return self.integer(value)
        return self.mismatch(value)

    def boolean(self, value: Any) -> Any:
        """boolean columns."""
        if value is True or value is False:
            return value
        return self.mismatch(value)

    def string(self, value: Any) -> Any:
        """string columns."""
        if type(value) is str:
            return self.text(value)
        return self.mismatch(value)

    def date_time(self, value: Any) -> Any:
        """date-time columns: naive local date-times in the target's time zone, to the ms."""
        return self._date_time_in(value, None)

    def date_time_utc(self, value: Any) -> Any:
        """date-time columns named ``*_utc``: naive UTC date-times, to the ms."""
        return self._date_time_in(value, _UTC)

    def _date_time_in(self, value: Any, zone: dt.tzinfo | None) -> Any:
        if type(value) is not str:
            return self.mismatch(value)
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return self.mismatch(value)
        moment = self.local_datetime(parsed, zone)
        if moment is None:
            return self._as_text("date_out_of_range", value)
        return moment

    def local_datetime(
        self, parsed: dt.datetime, zone: dt.tzinfo | None = None
    ) -> dt.datetime | None:
        """``parsed`` (naive = UTC) in ``zone`` (the target's), naive, to the millisecond."""
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=_UTC)
        try:
            local = parsed.astimezone(zone or self.tz)
        except OverflowError:
            return None
        if local.year < MIN_DATE.year:
            return None
        return local.replace(tzinfo=None, microsecond=local.microsecond // 1000 * 1000)

    def date(self, value: Any) -> Any:
        """date columns."""
        if type(value) is not str:
            return self.mismatch(value)
        try:
            parsed = dt.date.fromisoformat(value)
        except ValueError:
            return self.mismatch(value)
        if parsed < MIN_DATE:
            return self._as_text("date_out_of_range", value)
        return parsed

    def json_value(self, value: Any) -> Any:
        """Arrays and objects kept whole: compact JSON text."""
        if type(value) is list or type(value) is dict:
            return self.text(to_json_text(value))
        return self.mismatch(value)

    def _any_converter(self, allowed: frozenset[str]) -> Converter:
        natural: dict[str, Converter] = {
            "boolean": self.boolean,
            "integer": self.integer,
            "number": self.number,
            "string": self.text,
            "array": self.json_value,
            "object": self.json_value,
        }
        accepts_ints = "number" in allowed

        def convert(value: Any) -> Any:
            json_type = _JSON_TYPE_OF.get(type(value), "")
            if json_type in allowed or (json_type == "integer" and accepts_ints):
                return natural[json_type](value)
            if json_type == "number" and "integer" in allowed and value.is_integer():
                return self.number(value)
            return self.mismatch(value)

        return convert


def text_width(text: str) -> float:
    """Width of one line of text in Excel's units (a digit's width in the default font).

    Cyrillic letters are about a fifth wider than digits; capitals wider still.
    """
    if text.isascii():
        return float(len(text))
    wide = sum(1 for char in text if not char.isascii())
    capitals = sum(1 for char in text if not char.isascii() and char.isupper())
    return len(text) + 0.2 * wide + 0.2 * capitals


def display_width(value: Any) -> float:
    """How many characters a converted value shows, for fitting column widths."""
    kind = type(value)
    if kind is str:
        return max((text_width(line) for line in value.splitlines()), default=0.0)
    if kind is dt.datetime:
        return 19
    if kind is dt.date:
        return 10
    if kind is Cell:
        return display_width(value.value)
    if value is None:
        return 0
    return len(str(value))

"""Parameters of a call read and checked: dates, whole numbers, sorting."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from calltrack_sandbox.comagic.errors import RpcError
from calltrack_sandbox.comagic.methods import DATETIME


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    return moment.replace(year=year, month=month,
                          day=min(moment.day, calendar.monthrange(year, month)[1]))


def parse_datetime(value: Any, name: str) -> dt.datetime:
    if value is None:
        raise RpcError("required_parameter_missing", name)
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", value):
        raise RpcError("invalid_parameter_value", name, value)
    try:
        return dt.datetime.strptime(value, DATETIME)
    except ValueError:
        raise RpcError("invalid_parameter_value", name, value) from None


def sort_key(name: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
    return lambda row: (row.get(name) is None, row.get(name))


def whole(value: Any, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RpcError("invalid_parameter_value", name, value)
    return value

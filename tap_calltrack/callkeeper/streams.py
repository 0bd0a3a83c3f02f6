"""CallKeeper streams: the calls export, one record per call as an account sees it."""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

from typing_extensions import override

from tap_calltrack.base import vendor_schema
from tap_calltrack.callkeeper.client import CallkeeperStream
from tap_calltrack.callkeeper.settings import WINDOW_SETTING
from tap_calltrack.fanout import CallSource
from tap_calltrack.recordings import RecordingRef, recording_path
from tap_calltrack.recordings import RecordingsStream as RecordingsStreamBase
from tap_calltrack.redaction import MASK
from tap_calltrack.settings import Account
from tap_calltrack.windows import local_to_utc

CK_DATETIME = "%Y-%m-%d %H:%M:%S"
_UNSAFE = re.compile(r"[^\w.-]+")
# v1 names of the legacy envelope's example (docs/notes.md 3.1) whose meaning is the v3 field's
# (doc 002); the other v1 fields are kept as sent (docs/callkeeper.md, "Legacy v1 rows").
V1_TO_V3 = {"clientPhone": "clientNumber", "record": "recordUrl",
            "utmSource": "utm_source", "utmMedium": "utm_medium",
            "utmCampaign": "utm_campaign", "utmContent": "utm_content", "utmTerm": "utm_term"}
_STATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")  # "720/200": statusFirst/statusSecond


def v1_time(value: Any, account: Account) -> str | None:
    """``timeStart`` as ``callTime`` text: its format is not documented (the only example
    is null), so ``Y-m-d H:i:s`` and unix seconds are both read; anything else is None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        try:
            moment = dt.datetime.fromtimestamp(float(value), account.timezone)
        except (ValueError, OverflowError, OSError):
            return None
        return moment.strftime(CK_DATETIME)
    if isinstance(value, str):
        try:
            return dt.datetime.strptime(value.strip(), CK_DATETIME).strftime(CK_DATETIME)
        except ValueError:
            return None
    return None


def v3_from_v1(row: dict[str, Any], account: Account) -> dict[str, Any]:
    """A v1 row (``callId``, ``timeStart``, ``state``, ``clientPhone``, …) under the v3 names
    of the same facts; fields without a v3 counterpart keep their v1 names."""
    mapped = {V1_TO_V3.get(name, name): value for name, value in row.items()}
    mapped["universalId"] = str(mapped.pop("callId"))
    mapped["callTime"] = v1_time(mapped.pop("timeStart", None), account)
    state = mapped.get("state")
    match = _STATE.match(state) if isinstance(state, str) else None
    if match:
        del mapped["state"]
        mapped["statusFirst"], mapped["statusSecond"] = int(match[1]), int(match[2])
    return mapped


def has_value(value: Any) -> bool:
    return value is not None and not isinstance(value, bool) and str(value).strip() not in (
        "", "-")


def path_part(text: str) -> str:
    """``text`` as one file-name component: no separators, no leading dots, never empty."""
    return _UNSAFE.sub("_", text).lstrip(".") or "_"


class CallsStream(CallSource, CallkeeperStream):
    """``call/{get|getByRole|getWithRole}``: the calls of one key, raw as CallKeeper sends
    them, plus the tap's ``account`` label and ``call_time_utc``.

    The key is (account, universalId): with getWithRole a user sees the calls a role
    grants, which the role's own key (getByRole) sees too, so one call can come from two
    accounts of one run.
    """

    name = "callkeeper_calls"
    primary_keys = ("account", "universalId")
    replication_key = "call_time_utc"
    schema = vendor_schema("callkeeper", "calls")
    window_setting = WINDOW_SETTING

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._masked: set[tuple[str, str]] = set()  # (account, field) already warned about
        self._shape_warned: set[tuple[str, str]] = set()  # (account, what) warned about
        self._shape_lock = threading.Lock()

    @override
    def as_v3(self, row: dict[str, Any], account: Account) -> dict[str, Any] | None:
        """v3 rows as sent; v1 rows (no universalId, a callId) mapped; rows with neither
        key skipped. One warning per account for each (never a stop)."""
        if has_value(row.get("universalId")):
            return row
        if has_value(row.get("callId")):
            self.warn_shape(account, "v1", "rows in the v1 names (callId, timeStart, state, "
                            "clientPhone, …) are mapped to the v3 names")
            return v3_from_v1(row, account)
        self.warn_shape(account, "no key", "rows without universalId or callId are skipped")
        return None

    def warn_shape(self, account: Account, what: str, message: str) -> None:
        with self._shape_lock:
            if (account.label, what) in self._shape_warned:
                return
            self._shape_warned.add((account.label, what))
        self.logger.warning("%s [%s]: %s (docs/callkeeper.md)", self.name, account.label,
                            message)

    @override
    def normalise_row(self, row: dict[str, Any], account: Account) -> None:
        self.mask_key(row, account)
        row["account"] = account.label
        # callTime carries no zone; the cabinet's zone is the documented assumption.
        call_time = row.get("callTime")
        row["call_time_utc"] = (local_to_utc(call_time, CK_DATETIME, account.timezone)
                                if isinstance(call_time, str) else None)

    def mask_key(self, row: dict[str, Any], account: Account) -> None:
        """Safety net: a value quoting the key (say a recording link) must not leave."""
        key = account.secrets["api_key"]
        for name, value in row.items():
            if isinstance(value, str) and key in value:
                row[name] = value.replace(key, MASK)
                with self._shape_lock:  # rows are normalised on the worker threads
                    first = (account.label, name) not in self._masked
                    self._masked.add((account.label, name))
                if first:
                    self.logger.warning("%s [%s]: field %s quotes the API key; masked",
                                        self.name, account.label, name)

    def recording_refs(self, record: dict[str, Any], account: Account) -> list[RecordingRef]:
        """The recording of one emitted call, if it has one (``recordUrl`` not empty)."""
        url = record.get("recordUrl")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return []  # "" (v3) or null / "-" (legacy envelope): no recording
        call_id = record.get("universalId")
        if call_id is None or call_id == "":
            return []
        return [RecordingRef(
            relative_path=recording_path("callkeeper", path_part(account.label), call_id),
            url=url,
            record={"account": account.label, "universalId": call_id,
                    "call_time_utc": record.get("call_time_utc")},
        )]


class RecordingsStream(RecordingsStreamBase):
    """Recordings (``recordUrl``) of the calls of the run."""

    name = "callkeeper_recordings"
    vendor = "callkeeper"
    primary_keys = ("account", "universalId")
    replication_key = "call_time_utc"
    schema = vendor_schema("callkeeper", "recordings")


STREAMS: list[type] = [CallsStream, RecordingsStream]

"""CallKeeper streams: the calls export, one record per call as an account sees it."""

from __future__ import annotations

import re
from collections.abc import Mapping
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


def path_part(text: str) -> str:
    """``text`` as one file-name component: no separators, no leading dots, never empty."""
    return _UNSAFE.sub("_", text).lstrip(".") or "_"


class CallsStream(CallSource, CallkeeperStream):
    """``call/{get|getByRole|getWithRole}``: the calls of one key, raw as CallKeeper sends
    them, plus the tap's ``account`` label and ``call_time_utc``.

    The key is (account, universalId): with getWithRole a user sees the calls a role
    grants, which the role's own key (getByRole) sees too, so one call can come from two
    accounts of one run. ``post_process`` is idempotent: the fan-out may run it twice.
    """

    name = "callkeeper_calls"
    primary_keys = ("account", "universalId")
    replication_key = "call_time_utc"
    schema = vendor_schema("callkeeper", "calls")
    window_setting = WINDOW_SETTING

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._masked: set[tuple[str, str]] = set()  # (account, field) already warned about

    @override
    def post_process(self, row: dict[str, Any], context: Mapping[str, Any] | None = None
                     ) -> dict[str, Any] | None:
        account = self.account_for(context)
        self.mask_key(row, account)
        row["account"] = account.label
        # callTime carries no zone; the cabinet's zone is the documented assumption.
        call_time = row.get("callTime")
        row["call_time_utc"] = (local_to_utc(call_time, CK_DATETIME, account.timezone)
                                if isinstance(call_time, str) else None)
        self.report_unknown_fields(row)
        return row

    def mask_key(self, row: dict[str, Any], account: Account) -> None:
        """Safety net: a value quoting the key (say a recording link) must not leave."""
        key = account.secrets["api_key"]
        for name, value in row.items():
            if isinstance(value, str) and key in value:
                row[name] = value.replace(key, MASK)
                if (account.label, name) not in self._masked:
                    self._masked.add((account.label, name))
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

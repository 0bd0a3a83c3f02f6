"""Every place this package leans on singer-sdk names that are not public API.

singer-sdk is pinned ``~=0.54.9``. Each hook below says why no public API serves; the rest
of the package subclasses these three classes and overrides only the public-named hooks
they offer. ``tests/test_sdk_compat.py`` fails when the installed SDK no longer has a
name below with the expected signature, and when a private SDK name appears in any other
module of the package: re-check this file on every SDK upgrade.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from types import FrameType
from typing import Any, ClassVar

from singer_sdk import Stream, Tap, Target
from singer_sdk import singerlib as singer

#: (class, private name, its parameters) this module relies on; pinned by the tests.
PINNED: tuple[tuple[type, str, tuple[str, ...]], ...] = (
    (Stream, "_generate_record_messages", ("self", "record")),
    (Stream, "_increment_stream_state", ("self", "latest_record", "context")),
    (Stream, "_write_state_message", ("self",)),
    (Tap, "_validate_config", ("self", "raise_errors")),
    (Tap, "_setup_signal_handlers", ("self",)),
    (Target, "_process_schema_message", ("self", "message_dict")),
    (Target, "_process_record_message", ("self", "message_dict")),
    (Target, "_process_state_message", ("self", "message_dict")),
    (Target, "_process_activate_version_message", ("self", "message_dict")),
    (Target, "_process_batch_message", ("self", "message_dict")),
    (Target, "_handle_termination", ("self", "signum", "frame")),
)
#: Public names overridden against the SDK's intent (``@final``, or a copy of its body).
OVERRIDDEN: tuple[tuple[type, str, tuple[str, ...]], ...] = (
    (Tap, "load_streams", ("self",)),
    (Tap, "invoke", ("about", "about_format", "config", "state", "catalog")),
    (Target, "invoke", ("about", "about_format", "config", "file_input")),
)
#: Attributes of a stream instance read here.
STREAM_ATTRIBUTES = ("_stream_version",)


class SdkStream(Stream):
    """A Stream with the two per-record SDK costs made optional and STATE on demand."""

    #: False: the stream moves its own bookmarks (per complete window), never per record.
    bookmarks_per_record: ClassVar[bool] = True

    def fast_record_messages(self, record: dict[str, Any], version: int | None
                             ) -> Generator[singer.RecordMessage, None, None] | None:
        """The RECORD messages of ``record`` without the SDK's per-record property walk,
        or None for the SDK's own path."""
        return None

    def write_state(self) -> None:
        """Write the stream's STATE now (a window just completed)."""
        # No public call writes STATE in the middle of a partition: the SDK writes it
        # every STATE_MSG_FREQUENCY records and at the end of a partition only.
        self._write_state_message()

    def _generate_record_messages(self, record: dict[str, Any]
                                  ) -> Generator[singer.RecordMessage, None, None]:
        # The only per-record hook between a record and its message: the SDK's walk for
        # deselected properties costs about a quarter of a run when nothing is deselected.
        fast = self.fast_record_messages(record, self._stream_version)
        if fast is None:
            return super()._generate_record_messages(record)
        return fast

    def _increment_stream_state(self, latest_record: dict[str, Any], *,
                                context: Mapping[str, Any] | None = None) -> None:
        # The SDK would move the bookmark to each record's replication key value; records
        # of a window arrive in the vendor's order, so only a whole window may move it.
        if self.bookmarks_per_record:
            super()._increment_stream_state(latest_record, context=context)


class SdkTap(Tap):
    """A Tap whose config checks, stream order and signal handling are its own."""

    def validate_settings(self, *, raise_errors: bool) -> list[str]:
        """The tap's config check (the SDK's JSON Schema check by default)."""
        return super()._validate_config(raise_errors=raise_errors)

    def install_signal_handlers(self) -> None:
        super()._setup_signal_handlers()

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        # The SDK's check echoes the offending value (a token, in a bad account) and names
        # no setting path; no public hook replaces it.
        return self.validate_settings(raise_errors=raise_errors)

    def _setup_signal_handlers(self) -> None:
        # The SDK drains streams on SIGTERM from the signal handler; see shutdown.py.
        self.install_signal_handlers()

    # Tap.load_streams is @final and sorts by name; no public hook keeps discovery order
    # (``streams`` caches what it returns), and no stream here has a parent to link.
    def load_streams(self) -> list[Stream]:  # type: ignore[misc]
        """Keep discovery order (vendor by vendor), not the SDK's alphabetical order."""
        return list(self.discover_streams())


class SdkTarget(Target):
    """A Target that takes every message itself (no sinks) and its own signal policy."""

    def on_message(self, kind: str, message: dict[str, Any]) -> None:
        """One SCHEMA, RECORD, STATE, ACTIVATE_VERSION or BATCH message."""
        raise NotImplementedError

    def on_termination(self, signum: int) -> None:
        """SIGINT or SIGTERM arrived."""
        super()._handle_termination(signum, None)

    # The SDK's message dispatch offers no public hook per message type short of its
    # sinks, whose record validation and batching this target does not want.
    def _process_schema_message(self, message_dict: dict[str, Any]) -> None:
        self.on_message("SCHEMA", message_dict)

    def _process_record_message(self, message_dict: dict[str, Any]) -> None:
        self.on_message("RECORD", message_dict)

    def _process_state_message(self, message_dict: dict[str, Any]) -> None:
        self.on_message("STATE", message_dict)

    def _process_activate_version_message(self, message_dict: dict[str, Any]) -> None:
        self.on_message("ACTIVATE_VERSION", message_dict)

    def _process_batch_message(self, message_dict: dict[str, Any]) -> None:
        self.on_message("BATCH", message_dict)

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        # The SDK default drains sinks and emits STATE: the workbook is not written yet.
        self.on_termination(signum)

"""target-calltrack-excel: Singer messages on stdin -> one Excel workbook.

The SDK ``Target`` supplies the command line (--config, --about, --input, --version) and
the settings; the messages skip the SDK's sinks and record validation and go straight to
``ExcelLoader`` through a msgspec line reader that knows line numbers.
"""

from __future__ import annotations

import re
import sys
import typing as t
from collections import Counter
from pathlib import PurePath

from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities
from singer_sdk.io_base import GenericSingerReader

from tap_calltrack.excel.errors import InputError, Interrupted, TargetError
from tap_calltrack.excel.loader import DEFAULTS, ExcelLoader, Settings, decode_line
from tap_calltrack.sdk_compat import SdkTarget

_STREAM_IN_LINE_RE = re.compile(rb'"stream"\s*:\s*"([^"\\]{1,100})"')


def _stream_hint(line: bytes | str, message: dict[str, t.Any] | None) -> str:
    if message is not None and type(message.get("stream")) is str:
        return f" (stream {message['stream']!r})"
    raw = line.encode("utf-8", "replace") if isinstance(line, str) else line
    found = _STREAM_IN_LINE_RE.search(raw)
    return f" (stream {found.group(1).decode('utf-8', 'replace')!r})" if found else ""


class SingerLineReader(GenericSingerReader[str]):
    """Reads Singer lines with msgspec; an error names its line number and stream."""

    on_abort: t.Callable[[], None] | None = None

    @property
    def default_input(self) -> t.IO[str]:
        """Standard input."""
        return sys.stdin

    def deserialize_json(self, line: str) -> dict[str, t.Any]:
        """One message (blank lines are skipped by ``process_lines``)."""
        return decode_line(line) or {}

    def process_lines(
        self,
        file_input: t.IO[str] | None,
        callbacks: dict[str, t.Callable[[dict[str, t.Any]], None]],
    ) -> t.Counter[str]:
        """Dispatch every line to its callback; stop at the first bad line."""
        source: t.Any = file_input if file_input is not None else self.default_input
        source = getattr(source, "buffer", source)  # bytes are faster to decode
        handlers = {str(getattr(kind, "value", kind)): cb for kind, cb in callbacks.items()}
        try:
            return self._dispatch(source, handlers)
        except BaseException:
            if self.on_abort is not None:
                self.on_abort()
            raise

    def _dispatch(
        self,
        source: t.Iterable[bytes | str],
        handlers: dict[str, t.Callable[[dict[str, t.Any]], None]],
    ) -> t.Counter[str]:
        stats: Counter[str] = Counter()
        for number, line in enumerate(source, 1):
            message = None
            try:
                message = decode_line(line)
                if message is None:
                    continue
                kind = message.get("type")
                if type(kind) is not str or kind not in handlers:
                    raise InputError(f"unknown message type {str(kind)[:40]!r}")
                handlers[kind](message)
            except InputError as exc:
                hint = _stream_hint(line, message)
                raise InputError(f"line {number}{hint}: {exc}") from None
            stats[kind] += 1
        return stats


_SETTINGS = th.PropertiesList(
    th.Property(
        "output_path",
        th.StringType,
        default=DEFAULTS["output_path"],
        description="The workbook to write (.xlsx). Relative paths are relative to the "
        "current directory. Replaced atomically when the run completes.",
    ),
    th.Property(
        "timezone",
        th.StringType,
        default=DEFAULTS["timezone"],
        description="IANA time zone that date-times are converted to (Excel has no time "
        "zones) and that defines a call's day in the report.",
    ),
    th.Property(
        "flatten_max_depth",
        th.IntegerType(minimum=0, maximum=32),
        default=DEFAULTS["flatten_max_depth"],
        description="How many levels of nested objects become `parent.child` columns; "
        "deeper objects and all arrays are written as compact JSON text. 0 = no flattening.",
    ),
    th.Property(
        "max_rows_per_sheet",
        th.IntegerType(minimum=1, maximum=DEFAULTS["max_rows_per_sheet"]),
        default=DEFAULTS["max_rows_per_sheet"],
        description="Data rows per sheet (Excel's maximum is 1,048,575); a stream "
        "continues on `<name> (2)`, `<name> (3)`, ... beyond it.",
    ),
    th.Property(
        "report_sheets",
        th.BooleanType,
        default=DEFAULTS["report_sheets"],
        description="Add the Summary (with a chart), Campaigns and About sheets.",
    ),
).to_dict()


class TargetCalltrackExcel(SdkTarget):
    """Writes Singer streams to one Excel workbook, with a client report of the calls."""

    name = "target-calltrack-excel"
    package_name = "tap-calltrack"
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [PluginCapabilities.ABOUT]
    message_reader_class = SingerLineReader
    config_jsonschema: t.ClassVar[dict[str, t.Any]] = _SETTINGS
    progress_interval_s: t.ClassVar[float] = 5.0

    def __init__(
        self,
        *,
        config: dict[str, t.Any] | PurePath | str | list[PurePath | str] | None = None,
        parse_env_config: bool = False,
        validate_config: bool = True,
        setup_mapper: bool = False,
        message_reader: GenericSingerReader[t.Any] | None = None,
    ) -> None:
        super().__init__(
            config=config,
            parse_env_config=parse_env_config,
            validate_config=validate_config,
            setup_mapper=setup_mapper,
            message_reader=message_reader,
        )
        self.settings = Settings.from_config(self.config)
        self.loader = ExcelLoader(self.settings, self.logger, self.progress_interval_s)
        self._handlers: dict[str, t.Callable[[dict[str, t.Any]], None]] = {
            "SCHEMA": self.loader.schema,
            "RECORD": self.loader.record,
            "STATE": self.loader.state_message,
            "ACTIVATE_VERSION": self.loader.activate_version,
            "BATCH": self.loader.batch,
        }
        if isinstance(self.message_reader, SingerLineReader):
            self.message_reader.on_abort = self.loader.abort

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict[str, t.Any]) -> None:
        """No SDK built-in settings: this target uses no sinks, stream maps or batches."""

    def on_message(self, kind: str, message: dict[str, t.Any]) -> None:
        self._handlers[kind](message)

    def process_endofpipe(self) -> None:
        """Save the workbook; only then emit the latest STATE."""
        try:
            state = self.loader.finish()
        except BaseException:
            self.loader.abort()
            raise
        if state is not None:
            sys.stdout.write(state + "\n")
            sys.stdout.flush()

    def on_termination(self, signum: int) -> None:
        # Unlike the SDK default, never drain or emit STATE: the workbook is unwritten.
        raise Interrupted(signum)

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        file_input: t.IO[str] | None = None,
    ) -> None:
        """Run the target; input and settings errors end with one log line and exit 1."""
        try:
            super().invoke(
                about=about, about_format=about_format, config=config, file_input=file_input
            )
        except TargetError as exc:
            cls.logger.error("%s", exc)
            sys.exit(getattr(exc, "exit_code", 1))


if __name__ == "__main__":
    TargetCalltrackExcel.cli()

"""TapCalltrack: the config schema and the streams of the configured vendors."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

import click
from singer_sdk import Stream
from singer_sdk import singerlib as singer
from singer_sdk import typing as th

from tap_calltrack import inputs, redaction, shards, shutdown
from tap_calltrack.base import WindowedStream
from tap_calltrack.callkeeper.vendor import VENDOR as CALLKEEPER
from tap_calltrack.calltouch.vendor import VENDOR as CALLTOUCH
from tap_calltrack.comagic.vendor import VENDOR as COMAGIC
from tap_calltrack.fanout import CallParticipant
from tap_calltrack.http import FatalError
from tap_calltrack.messages import CalltrackWriter
from tap_calltrack.recordings import RecordingsStream
from tap_calltrack.run_status import RunStatus
from tap_calltrack.runtime import RunContext, VendorRuntime
from tap_calltrack.sdk_compat import SdkTap
from tap_calltrack.settings import (
    COMMON_PROPERTIES,
    Account,
    ConfigError,
    Vendor,
    check_common,
    check_range,
    parse_instant,
    secret_values,
    section_of,
    vendor_limits,
)
from tap_calltrack.unified import UnifiedCallsStream
from tap_calltrack.windows import as_local

VENDORS: list[Vendor] = [CALLTOUCH, COMAGIC, CALLKEEPER]


class TapCalltrack(SdkTap):
    """Calls, leads, deals, statistics and recordings of Calltouch, Comagic and CallKeeper."""

    name = "tap-calltrack"
    package_name = "tap-calltrack"
    message_writer_class = CalltrackWriter

    config_jsonschema = th.PropertiesList(
        *COMMON_PROPERTIES,
        *shards.PROPERTIES,
        *(vendor.settings for vendor in VENDORS),
    ).to_dict()

    def __init__(self, **kwargs: Any) -> None:
        quiet_library_chatter(self.logger)
        self.run_started_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        self.run_status = RunStatus(self.logger)
        super().__init__(**kwargs)
        redaction.install(secret_values(self.config))

    # --- config ------------------------------------------------------------------------

    #: Set by --discover: the range settings are checked only when given.
    discovering = False

    def validate_settings(self, *, raise_errors: bool) -> list[str]:
        """Our own checks: they name the bad setting and never echo its value."""
        config = self.config
        redaction.install(secret_values(config))
        try:
            check_common(config, need_start=not self.discovering)
            for vendor in VENDORS:
                accounts = vendor.parse_accounts(config)
                check_range(config, [account.timezone for account in accounts])
                vendor_limits(config, vendor.name, vendor.default_limits)
            self._check_selection()
        except ConfigError as exc:
            if raise_errors:
                raise
            return [str(exc)]
        return []

    @cached_property
    def _accounts(self) -> dict[str, list[Account]]:
        """Every configured account, selected for this run or not (discovery uses all)."""
        return {vendor.name: vendor.parse_accounts(self.config) for vendor in VENDORS}

    @cached_property
    def _selected_accounts(self) -> dict[str, list[Account]]:
        selection = shards.parse_selection(self.config)
        return {vendor: shards.selected(accounts, selection)
                for vendor, accounts in self._accounts.items()}

    def accounts(self, vendor: str) -> list[Account]:
        """The accounts this run extracts (``only_accounts`` and ``shard``, see shards.py)."""
        return self._selected_accounts[vendor]

    def _check_selection(self) -> None:
        names = shards.parse_selection(self.config).names or frozenset()
        known = set().union(*(shards.account_names(account)
                              for accounts in self._accounts.values() for account in accounts))
        if names - known:
            raise ConfigError("only_accounts", f"names {len(names - known)} account(s) that "
                              "are not configured")

    def vendor_settings(self, vendor: str) -> dict[str, Any]:
        """A vendor's section, every unset key at its schema default."""
        schema = self.config_jsonschema["properties"][vendor]["properties"]
        section = section_of(self.config, vendor)
        settings = {key: spec.get("default") for key, spec in schema.items()}
        settings.update({key: value for key, value in section.items() if value is not None})
        return settings

    @cached_property
    def runtimes(self) -> dict[str, VendorRuntime]:
        """What each vendor's streams get from this run (and the unified stream's share)."""
        run = RunContext(config=self.config, status=self.run_status,
                         started_at=self.run_started_at,
                         user_agent=f"{self.name}/{self.plugin_version}")
        runtimes = {
            vendor.name: VendorRuntime(
                vendor.name, run, self.accounts(vendor.name), self.vendor_settings(vendor.name),
                vendor_limits(self.config, vendor.name, vendor.default_limits))
            for vendor in VENDORS
        }
        runtimes["unified"] = VendorRuntime("unified", run, [], {}, None)
        return runtimes

    # --- streams -----------------------------------------------------------------------

    def configured_vendors(self) -> list[Vendor]:
        """Vendors with accounts; with no accounts at all (discovery), every vendor."""
        configured = [vendor for vendor in VENDORS if self._accounts[vendor.name]]
        return configured or VENDORS

    def discover_streams(self) -> list[Stream]:
        vendors = self.configured_vendors()
        streams: list[Stream] = [
            stream_class(self, self.runtimes[vendor.name])
            for vendor in vendors
            for stream_class in vendor.stream_classes
        ]
        for stream in streams:
            if isinstance(stream, RecordingsStream):
                stream.selected_by_default = False  # downloads are opt-in (README, Streams)
        streams.append(UnifiedCallsStream(self, self.runtimes["unified"],
                                          [self.runtimes[vendor.name] for vendor in vendors]))
        return streams

    def close(self) -> None:
        if "runtimes" in self.__dict__:
            for runtime in self.runtimes.values():
                runtime.close()

    def check_selection(self) -> None:
        """A recordings stream needs a folder to download into."""
        if self.config.get("recordings_dir"):
            return
        for stream in self.streams.values():
            if isinstance(stream, RecordingsStream) and stream.selected:
                raise ConfigError("recordings_dir",
                                  f"is required when {stream.name} is selected")

    # --- ranges that extract nothing ----------------------------------------------------

    def range_end(self, account: Account) -> dt.datetime:
        """``end_date`` in the account's zone (inclusive as a date), else the run start."""
        end_setting = self.config.get("end_date")
        if not end_setting:
            return self.run_started_at.astimezone(account.timezone)
        return as_local(parse_instant(end_setting, "end_date"), account.timezone,
                        date_means_end=True)

    def warn_about_range(self) -> None:
        """One line each for a start_date in the future and a bookmark past the range end:
        they extract nothing, which would otherwise pass in silence."""
        start = parse_instant(self.config["start_date"], "start_date")
        accounts = [a for vendor in self.configured_vendors() for a in self.accounts(vendor.name)]
        if accounts and all(as_local(start, a.timezone, date_means_end=False)
                            >= self.run_started_at for a in accounts):
            self.logger.warning("start_date is in the future: there is nothing to extract yet")
            self._start_in_future = True
            return
        for stream in self.streams.values():
            if not (isinstance(stream, WindowedStream) and stream.selected):
                continue
            for account in stream.accounts:
                context = (stream.context_for(account) if isinstance(stream, CallParticipant)
                           else account.context)
                bookmark = inputs.partition_bookmark(self.state, stream.name, context)
                if bookmark is not None and bookmark > self.range_end(account):
                    self.logger.warning(
                        "%s [%s]: the bookmark in the state is later than %s: nothing new is "
                        "extracted for it (remove it from the state to read again)",
                        stream.name, account.label,
                        "end_date" if self.config.get("end_date") else "now")

    def _account_key(self, stream: Stream, account: Account) -> dict[str, Any]:
        if isinstance(stream, CallParticipant):
            return stream.context_for(account)
        return dict(account.context)

    def _selected_for(self, account: Account) -> list[Stream]:
        return [stream for stream in self.streams.values() if stream.selected
                and account in getattr(stream, "accounts", [])]

    def count_records_by_account(self) -> None:
        writer = self.message_writer
        if not isinstance(writer, CalltrackWriter):
            return
        fields: dict[str, tuple[str, ...]] = {}
        for vendor in self.configured_vendors():
            for account in self.accounts(vendor.name):
                for stream in self._selected_for(account):
                    fields[stream.name] = tuple(self._account_key(stream, account))
        writer.count_accounts(fields)

    def report_empty_accounts(self) -> None:
        """One line for each account that got no record at all in this run (its streams
        ran, nothing failed: an empty range, a future bookmark or an empty account)."""
        counts = getattr(self.message_writer, "records_by_account", None)
        if counts is None or getattr(self, "_start_in_future", False):
            return  # already said
        for vendor in self.configured_vendors():
            for account in self.accounts(vendor.name):
                streams = self._selected_for(account)
                if not streams or not self.run_status.may_extract(account, ""):
                    continue
                total = sum(counts[(stream.name,
                                    tuple(self._account_key(stream, account).values()))]
                            for stream in streams)
                if total == 0:
                    self.logger.warning("%s: no records extracted in this run (%d stream(s) "
                                        "selected; check start_date, end_date, the state's "
                                        "bookmarks and the account's time zone)",
                                        account, len(streams))

    # --- signals (see shutdown.py) -----------------------------------------------------

    def install_signal_handlers(self) -> None:
        shutdown.install()

    def write_final_state(self) -> None:
        """Records still buffered, then the STATE of every complete window (always written,
        even when equal to the last one, so the output ends with it)."""
        writer = self.message_writer
        if isinstance(writer, CalltrackWriter):
            writer.flush()
        writer.write_message(singer.StateMessage(value=completed_state(self.state)))
        if isinstance(writer, CalltrackWriter):
            writer.flush()

    # --- command line ------------------------------------------------------------------

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: Any = None,
        state: Any = None,
        catalog: Any = None,
    ) -> None:
        """Run a sync; exit non-zero when an account failed or a quota ran out."""
        if about:
            cls.print_about(about_format)
            sys.exit(0)
        cls.print_version(print_fn=cls.logger.info)
        state_dict = None if state is None else inputs.read_stream(state, "--state")
        if state_dict is not None:
            inputs.check_state(state_dict, f"--state file '{state.name}'")
        catalog_dict = None if catalog is None else inputs.read_stream(catalog, "--catalog")
        if catalog_dict is not None:
            inputs.check_catalog(catalog_dict, f"--catalog file '{catalog.name}'")
        tap = cls(
            config=getattr(config, "config", None) or {},
            state=state_dict,
            catalog=catalog_dict,
            parse_env_config=getattr(config, "parse_env", False),
            validate_config=True,
        )
        tap.check_selection()
        tap.warn_about_range()
        tap.count_records_by_account()
        try:
            tap.sync_all()
            tap.report_empty_accounts()
        except shutdown.Interrupted as stop:
            shutdown.finish(stop, cls.name, tap.write_final_state)
        finally:
            tap.close()
        code = tap.run_status.finish()
        shutdown.run_ended()
        sys.exit(code)

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]
                  ) -> Any:
        """The SDK's merge of --config files, with one clear line for a bad file."""
        config: dict[str, Any] = {}
        for path in value:
            if path != "ENV":
                config |= inputs.read_file(path, "--config")
        parsed = super().cb_config(ctx, param, tuple(p for p in value if p == "ENV"))
        parsed.config = config
        return parsed

    @classmethod
    def cb_discover(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        """Discovery checks every setting it is given; it needs none (with no accounts it
        lists every vendor's streams)."""
        if not value:
            return
        config = ctx.params.get("config")
        settings = getattr(config, "config", None) or {}
        parse_env = getattr(config, "parse_env", False)
        discovering = type(f"{cls.__name__}Discovery", (cls,), {"discovering": True})
        tap = discovering(config=settings, parse_env_config=parse_env, validate_config=True,
                          setup_mapper=False)
        tap.run_discovery()
        ctx.exit()

    @classmethod
    def get_singer_command(cls) -> click.Command:
        command = super().get_singer_command()
        command.main = _one_line_errors(command.main, cls.name)  # type: ignore[method-assign]
        return command


class _ToDebug(logging.Filter):
    """Turns a library's routine INFO lines (matched by their start) into DEBUG lines."""

    def __init__(self, starts: str | tuple[str, ...]) -> None:
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not str(record.msg).startswith(self.starts):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_library_chatter(tap_logger: logging.Logger) -> None:
    """The SDK's env-var line and its line per deselected stream (the opt-in recordings
    streams, every run) say nothing a user needs: DEBUG, not INFO."""
    for logger, starts in ((tap_logger, ("Skipping parse of env var settings",
                                         "Skipping deselected stream")),):
        if not any(isinstance(f, _ToDebug) for f in logger.filters):
            logger.addFilter(_ToDebug(starts))


def completed_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``state`` without the SDK's in-flight progress markers (this tap never
    sets them: bookmarks move per complete window)."""
    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: clean(value) for key, value in node.items()
                    if key != "progress_markers"}
        if isinstance(node, list):
            return [clean(item) for item in node]
        return node

    cleaned: dict[str, Any] = clean(state)
    return cleaned


def _one_line_errors(main: Callable[..., Any], name: str) -> Callable[..., Any]:
    """Bad config and fatal extraction errors end the process with one line, no traceback."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return run(*args, **kwargs)
        except SystemExit as done:  # click ends every run with one
            shutdown.exit_now(done.code)

    def run(*args: Any, **kwargs: Any) -> Any:
        shutdown.install()
        try:
            return main(*args, **kwargs)
        except shutdown.Interrupted as stop:  # before a sync started, or --discover/--test
            shutdown.finish(stop, name)
        except ConfigError as exc:
            print(f"{name}: config error: {exc}", file=sys.stderr)
            sys.stderr.flush()
            sys.exit(2)
        except inputs.InputError as exc:
            print(f"{name}: input error: {exc}", file=sys.stderr)
            sys.stderr.flush()
            sys.exit(2)
        except FatalError as exc:
            print(f"{name}: stopped: {exc}", file=sys.stderr)
            sys.stderr.flush()
            sys.exit(1)

    return wrapped


if __name__ == "__main__":
    TapCalltrack.cli()

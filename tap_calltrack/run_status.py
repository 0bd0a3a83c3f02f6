"""What went wrong for whom during a run, and the exit code it earns.

The unit of failure is one stream of one account: an error that retries do not fix stops
that stream for that account (its bookmark stays at its last complete window) and every
other stream and account goes on. An account whose credentials are refused stops that
account; a vendor whose daily quota is spent stops for the rest of the run. The final
STATE always reflects what was emitted, so the next run resumes where this one stopped.
"""

from __future__ import annotations

import logging

from tap_calltrack.settings import Account


class RunStatus:
    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self.failed_accounts: dict[tuple[str, str], str] = {}
        self.failed_streams: dict[tuple[str, str, str], str] = {}
        self.skipped_streams: set[tuple[str, str, str]] = set()
        self.exhausted_vendors: dict[str, str] = {}

    def may_extract(self, account: Account, stream: str) -> bool:
        key = (account.vendor, account.label)
        return (
            key not in self.failed_accounts
            and account.vendor not in self.exhausted_vendors
            and (*key, stream) not in self.skipped_streams
            and (*key, stream) not in self.failed_streams
        )

    def fail_account(self, account: Account, error: Exception) -> None:
        self.failed_accounts[(account.vendor, account.label)] = str(error)
        self._log.error("%s stopped: %s", account, error)

    def fail_stream(self, account: Account, stream: str, cause: str) -> None:
        """One line for a stream that failed for one account (``cause`` names the vendor,
        stream, account and window); reported once."""
        key = (account.vendor, account.label, stream)
        if key in self.failed_streams:
            return
        self.failed_streams[key] = cause
        self._log.error("%s; %s stopped for %s, the other streams and accounts go on "
                           "(its bookmark stays at its last complete window)",
                           cause, stream, account)

    def skip_stream(self, account: Account, stream: str, error: Exception) -> None:
        self.skipped_streams.add((account.vendor, account.label, stream))
        self._log.warning("%s: skipping %s: %s", account, stream, error)

    def exhaust_vendor(self, vendor: str, error: Exception) -> None:
        self.exhausted_vendors[vendor] = str(error)
        self._log.error("%s: quota spent, stopping this vendor for the run "
                           "(the state lets the next run resume): %s", vendor, error)

    def summary(self) -> str | None:
        """What failed, in one line; None when everything was extracted."""
        parts = []
        if self.failed_streams:
            parts.append(f"{len(self.failed_streams)} stream(s) failed (" + ", ".join(
                f"{vendor} {stream} [{label}]"
                for vendor, label, stream in sorted(self.failed_streams)) + ")")
        if self.failed_accounts:
            parts.append(f"{len(self.failed_accounts)} account(s) failed (" + ", ".join(
                f"{vendor} [{label}]" for vendor, label in sorted(self.failed_accounts)) + ")")
        if self.exhausted_vendors:
            parts.append(f"{len(self.exhausted_vendors)} vendor(s) out of quota ("
                         + ", ".join(sorted(self.exhausted_vendors)) + ")")
        if not parts:
            return None
        return ("run incomplete: " + "; ".join(parts) + "; see the errors above; the next run "
                "with the last STATE fetches what is missing")

    def finish(self) -> int:
        """Log the summary; 0 when everything was extracted, 1 otherwise."""
        summary = self.summary()
        if summary:
            self._log.error("%s", summary)
        return 1 if summary else 0

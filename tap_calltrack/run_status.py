"""What went wrong for whom during a run, and the exit code it earns.

An account whose credentials are refused, or a stream an account has no access to,
does not stop the other accounts; a vendor whose daily quota is spent stops for the
rest of the run. The final STATE always reflects what was emitted, so the next run
resumes where this one stopped.
"""

from __future__ import annotations

import logging

from tap_calltrack.settings import Account


class RunStatus:
    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self.failed_accounts: dict[tuple[str, str], str] = {}
        self.skipped_streams: set[tuple[str, str, str]] = set()
        self.exhausted_vendors: dict[str, str] = {}

    def may_extract(self, account: Account, stream: str) -> bool:
        key = (account.vendor, account.label)
        return (
            key not in self.failed_accounts
            and account.vendor not in self.exhausted_vendors
            and (*key, stream) not in self.skipped_streams
        )

    def fail_account(self, account: Account, error: Exception) -> None:
        self.failed_accounts[(account.vendor, account.label)] = str(error)
        self._logger.error("%s stopped: %s", account, error)

    def skip_stream(self, account: Account, stream: str, error: Exception) -> None:
        self.skipped_streams.add((account.vendor, account.label, stream))
        self._logger.warning("%s: skipping %s: %s", account, stream, error)

    def exhaust_vendor(self, vendor: str, error: Exception) -> None:
        self.exhausted_vendors[vendor] = str(error)
        self._logger.error("%s: quota spent, stopping this vendor for the run "
                           "(the state lets the next run resume): %s", vendor, error)

    def finish(self) -> int:
        """Log a summary; 0 when everything was extracted, 1 otherwise."""
        problems = len(self.failed_accounts) + len(self.exhausted_vendors)
        if problems:
            self._logger.error("run incomplete: %d account(s) failed, %d vendor(s) out of "
                               "quota; see the errors above", len(self.failed_accounts),
                               len(self.exhausted_vendors))
        return 1 if problems else 0

"""tap-calltrack under Dagster: one partition per client account, each its own Meltano job.

Each partition runs ``meltano run tap-calltrack <loader>`` for one account (the tap's
``only_accounts`` setting, passed as ``TAP_CALLTRACK_ONLY_ACCOUNTS``) with a state id of
its own (``--state-id-suffix``), so a client is scheduled, retried, backfilled and watched
on its own, and its bookmarks never mix with another client's. Workers on several
machines share state through Meltano's system database (``MELTANO_DATABASE_URI``, e.g.
PostgreSQL) or its S3-compatible state backend: see the README, "Agencies under an
orchestrator".

Run it for real accounts::

    CALLTRACK_ACCOUNTS='Окна Москва,Окна Урал' CALLTRACK_MELTANO_PROJECT=/path/to/project \
        dagster dev -f examples/dagster/calltrack_dagster.py

``CALLTRACK_ACCOUNTS`` lists the account labels (``name``) or Calltouch site ids, comma
separated; ``CALLTRACK_LOADER`` picks the loader (default target-jsonl);
``CALLTRACK_MELTANO_ENVIRONMENT`` the Meltano environment.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg


def state_id_suffix(account: str) -> str:
    """A state-id suffix per account: readable ASCII plus a hash (labels may be Cyrillic)."""
    readable = re.sub(r"[^A-Za-z0-9]+", "-", account).strip("-").lower()[:40]
    digest = hashlib.sha256(account.encode()).hexdigest()[:8]
    return f"{readable}-{digest}" if readable else digest


@dataclass(frozen=True)
class MeltanoProject:
    """Where and how partitions run ``meltano run``."""

    root: Path
    meltano: str = "meltano"
    environment: str | None = None
    loader: str = "target-jsonl"
    env: Mapping[str, str] = field(default_factory=dict)
    #: Extra environment per account, e.g. a loader's output folder or schema.
    account_env: Callable[[str], Mapping[str, str]] = lambda account: {}

    def state_id(self, account: str) -> str:
        environment = self.environment or "dev"
        return f"{environment}:tap-calltrack-to-{self.loader}:{state_id_suffix(account)}"

    def command(self, account: str) -> list[str]:
        environment = ["--environment", self.environment] if self.environment else []
        return [self.meltano, *environment, "run", "--state-id-suffix",
                state_id_suffix(account), "tap-calltrack", self.loader]

    def run(self, account: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.env, **self.account_env(account),
               "TAP_CALLTRACK_ONLY_ACCOUNTS": json.dumps([account], ensure_ascii=False)}
        return subprocess.run(self.command(account), cwd=self.root, env=env,
                              capture_output=True, text=True)


def failure_line(meltano_stderr: str) -> str:
    """The tap's own one-line error (it never holds a secret), else Meltano's last line."""
    lines = [line for line in meltano_stderr.splitlines() if line.strip()]
    own = [line[line.index("tap-calltrack: "):] for line in lines if "tap-calltrack: " in line]
    return own[-1] if own else (lines[-1] if lines else "(no output)")


def account_asset(accounts: list[str], project: MeltanoProject) -> dg.AssetsDefinition:
    """The asset with a partition per account."""
    partitions = dg.StaticPartitionsDefinition(accounts)

    @dg.asset(name="calltrack_account", partitions_def=partitions,
              description="One client account's calls, leads, deals and statistics, "
              "extracted incrementally by tap-calltrack into the project's loader.")
    def calltrack_account(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        account = context.partition_key
        result = project.run(account)
        if result.returncode != 0:
            raise dg.Failure(description=f"{account}: meltano run failed "
                             f"(exit {result.returncode}): {failure_line(result.stderr)}")
        return dg.MaterializeResult(metadata={"state_id": project.state_id(account)})

    return calltrack_account


def build_definitions(accounts: list[str], project: MeltanoProject) -> dg.Definitions:
    return dg.Definitions(assets=[account_asset(accounts, project)])


def _from_environment() -> dg.Definitions:
    accounts = [a.strip() for a in os.environ.get("CALLTRACK_ACCOUNTS", "").split(",")
                if a.strip()]
    project = MeltanoProject(
        root=Path(os.environ.get("CALLTRACK_MELTANO_PROJECT", ".")).resolve(),
        meltano=os.environ.get("CALLTRACK_MELTANO", shutil.which("meltano") or "meltano"),
        environment=os.environ.get("CALLTRACK_MELTANO_ENVIRONMENT") or None,
        loader=os.environ.get("CALLTRACK_LOADER", "target-jsonl"),
    )
    return build_definitions(accounts, project)


defs = _from_environment()

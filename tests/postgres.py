"""A throwaway PostgreSQL server for tests: initdb in a temporary directory, a free port on
127.0.0.1, trust authentication, stopped (and the directory removed) afterwards. Its zone is
Moscow's, as on many of our users' servers: a loader that does not pin its session to UTC
then shifts every `timestamp` column (see README, Warehouse).

The binaries come from the Debian ``postgresql`` package (``make postgres`` installs it when
missing) or from ``CALLTRACK_PG_BIN``. PostgreSQL refuses to run as root, so under root
(CI) the server runs as the ``postgres`` user in a directory that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "calltrack"


def server_bin() -> Path | None:
    """The folder holding initdb and pg_ctl, newest major version first."""
    candidates = [os.environ.get("CALLTRACK_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name), reverse=True)
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(str(Path(found).resolve().parent))
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """A running server; ``dsn(database)`` gives a libpq URI for it."""

    def __init__(self, bin_dir: Path, timezone: str = "Europe/Moscow") -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="calltrack-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.run_as = "postgres" if os.geteuid() == 0 else None
        if self.run_as:
            account = pwd.getpwnam(self.run_as)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._pg("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                 "--encoding=UTF8", "--locale=C", "--no-sync")
        # Unix sockets go to our own folder (the default /var/run/postgresql may not exist).
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                 "-t", "60", "-o",
                 f"-p {self.port} -h 127.0.0.1 -k {self.root} -c fsync=off "
                 f"-c synchronous_commit=off -c full_page_writes=off -c timezone={timezone}",
                 "start")

    def _pg(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                cwd=self.root)
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed: {result.stderr[-2000:]}{tail}")

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        try:
            self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

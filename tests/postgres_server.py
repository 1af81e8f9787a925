"""A throwaway PostgreSQL server for the tests, built from the system's own binaries.

`running_postgres()` runs `initdb` and `pg_ctl` from /usr/lib/postgresql/<version>/bin (Debian's
`postgresql` package) or from PATH, in a new temporary directory, listening on 127.0.0.1 at a
free port with trust authentication, and always stops the server and deletes the directory on
exit. PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` system
user (created by the Debian package) and its commands run through `runuser`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEBIAN_BIN_DIRS = "/usr/lib/postgresql/*/bin"
SYSTEM_USER = "postgres"  # owns the cluster when the tests run as root
SUPERUSER = "postgres"  # the cluster's database superuser
START_TIMEOUT_S = 30
SETTINGS = {  # durability is pointless for a throwaway cluster; connections: 48 test threads
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def postgres_bin_dir() -> Path | None:
    """The directory holding `initdb` and `pg_ctl`: the newest Debian version, else PATH."""
    debian = sorted(Path("/").glob(DEBIAN_BIN_DIRS.lstrip("/")),
                    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else -1)
    for candidate in reversed(debian):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def missing_requirement() -> str | None:
    """Why no throwaway server can run here (a skip reason), or None when one can."""
    if postgres_bin_dir() is None:
        return (f"PostgreSQL server binaries (initdb, pg_ctl) not found in {DEBIAN_BIN_DIRS} or "
                "on PATH; install them with `apt-get install postgresql`")
    if importlib.util.find_spec("psycopg") is None:
        return "PostgreSQL driver psycopg not installed; `pip install -e '.[postgres]'`"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return f"running as root and there is no {SYSTEM_USER!r} system user to own a cluster"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` is missing (util-linux)"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway cluster: `root` holds its data directory, log and socket."""

    root: Path
    port: int

    def url(self, database: str) -> str:
        """SQLAlchemy URL of `database` (the default PostgreSQL driver: psycopg 3)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        self._admin(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        """Drop `name`, closing any connection still open to it."""
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _run(command: list[str], cwd: Path) -> None:
    prefix = ["runuser", "-u", SYSTEM_USER, "--"] if os.geteuid() == 0 else []
    done = subprocess.run(prefix + command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        log = cwd / "server.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): "
                           f"{done.stdout}{done.stderr}{detail}")


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a throwaway cluster; stop it and delete its directory on exit, whatever happens."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError(missing_requirement())
    root = Path(tempfile.mkdtemp(prefix="ttm-bench-postgres-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam(SYSTEM_USER)
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data = root / "data"
    port = _free_port()
    try:
        _run([str(bin_dir / "initdb"), "--pgdata", str(data), "--username", SUPERUSER,
              "--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync"], root)
        settings = {**SETTINGS, "port": str(port), "unix_socket_directories": f"'{root}'"}
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        _run([str(bin_dir / "pg_ctl"), "--pgdata", str(data), "--log", str(root / "server.log"),
              "--wait", "--timeout", str(START_TIMEOUT_S), "start"], root)
        yield PostgresServer(root, port)
    finally:
        try:
            if (data / "postmaster.pid").exists():
                _run([str(bin_dir / "pg_ctl"), "--pgdata", str(data), "--mode", "immediate",
                      "--wait", "stop"], root)
        finally:
            shutil.rmtree(root)

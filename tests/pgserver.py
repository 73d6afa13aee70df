"""A private PostgreSQL 15 server for tests that restart or crash it: the machine's own is shared with others.

Debian's server binaries (package postgresql-15, installed by `make system-deps`); when the suite runs
as root, the server's commands run as the `postgres` OS user (initdb refuses root), in a temporary
directory that user owns. Trust auth on loopback, a free port, small buffers, fsync on: a restart
takes the real durability path (a shutdown checkpoint, or recovery from the WAL after a crash).
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))

CONFIG = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 60
shared_buffers = 16MB
fsync = on
synchronous_commit = on
full_page_writes = on
logging_collector = off
log_min_messages = warning
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One PostgreSQL cluster in its own directory: `start`, `restart(mode)`, `stop(mode)`."""

    def __init__(self, root: Path, *, dbname: str = "infer"):
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = _free_port()
        self.dbname = dbname

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.dbname}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if result.returncode != 0:
            log = self.log.read_text()[-3000:] if self.log.exists() else ""
            raise AssertionError(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}\n{log}"
            )

    def init(self) -> "PostgresServer":
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(CONFIG.format(port=self.port, socket_dir=self.root))
        return self

    def _pg_ctl(self, *args: str) -> None:
        # -w waits until the server accepts connections (or is down); -t bounds that wait.
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", *args, timeout=90)

    def start(self) -> "PostgresServer":
        self._pg_ctl("start")
        with self.connect("postgres") as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.dbname]).fetchone():
                conn.execute(f'CREATE DATABASE "{self.dbname}"')
        return self

    def restart(self, mode: str) -> None:
        """`pg_ctl restart -m fast` (clean shutdown) or `-m immediate` (a crash: recovery from WAL)."""
        self._pg_ctl("restart", "-m", mode)

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", mode)

    def connect(self, dbname: str | None = None) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=dbname or self.dbname, autocommit=True
        )

    def ready(self) -> bool:
        try:
            with self.connect():
                return True
        except psycopg.OperationalError:
            return False


def _missing_binaries() -> list[str]:
    return [name for name in ("initdb", "pg_ctl", "postgres") if not (PG_BIN / name).exists()]


@pytest.fixture
def postgres_server():
    """A started private PostgreSQL 15 server with an empty database `infer`; removed afterwards."""
    missing = _missing_binaries()
    if missing:
        pytest.fail(
            f"PostgreSQL server binaries missing from {PG_BIN}: {', '.join(missing)}. "
            "Install Debian's postgresql-15 (`make system-deps` does) or set PG_BIN."
        )
    root = Path(tempfile.mkdtemp(prefix="infer-pg-"))
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(root, postgres.pw_uid, postgres.pw_gid)
    server = PostgresServer(root)
    try:
        server.init().start()
        yield server
    finally:
        try:
            server.stop("immediate")
        finally:
            shutil.rmtree(root, ignore_errors=True)

"""Real databases for the tests: a migrated SQLite file per test, or a PostgreSQL database of the
run's own (created, migrated once, truncated between tests, dropped at the end)."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

REPO = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# .ci/run sets this: there, a missing PostgreSQL (or any part a test needs) fails, not skips.
REQUIRE_POSTGRES = os.environ.get("CHATS_REQUIRE_POSTGRES") == "1"


def unavailable(reason: str) -> NoReturn:
    """A part the test needs is missing: skipped with the reason, or failed where CI runs."""
    if REQUIRE_POSTGRES:
        pytest.fail(reason)
    pytest.skip(reason)


TABLES = (
    "chat_events",
    "chats",
    "sessions",
    "artist_links",
    "memberships",
    "api_keys",
    "identities",
    "trusted_documents",
    "accounts",
)


def run_cli(
    args: Sequence[str], database_url: str, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """The real command line, in a process of its own; `timeout` (60 s by default) guards against
    a hang, it is no bound on speed."""
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "chats_api.cli", *args],
        cwd=kwargs.pop("cwd", REPO),
        env=env,
        capture_output=True,
        text=True,
        timeout=kwargs.pop("timeout", 60),
        **kwargs,
    )


def migrate(database_url: str) -> None:
    result = run_cli(["migrate"], database_url)
    assert result.returncode == 0, result.stdout + result.stderr


def url_for(admin_url: str, database: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + database


@dataclass
class Database:
    """Raw access to what the service stored, through the driver rather than the code under test."""

    engine: str
    url: str
    # Where the service connects, when not straight to `url` (through PgBouncer, say).
    app_url: str = ""

    def __post_init__(self) -> None:
        self.app_url = self.app_url or self.url

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        if self.engine == "sqlite":
            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as lite:
                lite.row_factory = sqlite3.Row
                params = [str(a) if isinstance(a, uuid.UUID) else a for a in args]
                found = lite.execute(sql, params).fetchall()
            return [{k: _text(row[k]) for k in row.keys()} for row in found]
        connection = await asyncpg.connect(self.url)
        try:
            rows = await connection.fetch(_numbered(sql), *args)
        finally:
            await connection.close()
        return [{k: _text(v) for k, v in row.items()} for row in rows]

    async def execute(self, sql: str) -> None:
        if self.engine == "sqlite":
            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as lite:
                lite.executescript(sql)
            return
        connection = await asyncpg.connect(self.url)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    async def count(self, table: str) -> int:
        rows = await self.fetch(f"SELECT COUNT(*) AS n FROM {table}")
        return int(rows[0]["n"])

    async def counts(self) -> dict[str, int]:
        return {table: await self.count(table) for table in ("sessions", "chats")}

    async def chat(self, chat_id: str) -> dict[str, Any] | None:
        rows = await self.fetch(
            "SELECT c.id, c.title, c.account_id, c.session_id, s.account_id AS session_account_id,"
            " s.artist_id FROM chats c JOIN sessions s ON s.id = c.session_id WHERE c.id = ?",
            uuid.UUID(chat_id),
        )
        return rows[0] if rows else None

    async def assert_nothing_lost(self, acknowledged: set[str]) -> None:
        """Every chat a client was told about is stored, and no session is left without its chat."""
        stored = {row["id"] for row in await self.fetch("SELECT id FROM chats")}
        assert acknowledged <= stored, acknowledged - stored
        orphans = await self.fetch(
            "SELECT s.id FROM sessions s"
            " WHERE NOT EXISTS (SELECT 1 FROM chats c WHERE c.session_id = s.id)"
        )
        assert orphans == []

    async def truncate(self) -> None:
        """Every row gone, children first. DELETE on PostgreSQL too: a test leaves a few dozen
        rows, and TRUNCATE's new files for every table and index cost 40 ms more a test."""
        await self.execute("".join(f"DELETE FROM {table};" for table in TABLES))


def _numbered(sql: str) -> str:
    """SQLite's `?` placeholders as PostgreSQL's `$1, $2, ...`."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${index}{part}" for index, part in enumerate(parts[1:], 1))


def _text(value: Any) -> Any:
    """Both engines' values in one form: ids and timestamps as text."""
    return str(value) if isinstance(value, uuid.UUID) else value


def sqlite_template(directory: Path) -> Path:
    path = directory / "template.sqlite3"
    migrate(f"sqlite:///{path}")
    return path


def sqlite_copy(template: Path, directory: Path) -> Database:
    path = directory / "chats.sqlite3"
    shutil.copy(template, path)
    return Database("sqlite", f"sqlite:///{path}")


async def postgres_reachable() -> str | None:
    """None when reachable, else why not."""
    try:
        connection = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}"
    await connection.close()
    return None


async def create_postgres_database() -> Database:
    name = f"chats_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        # A test database need not survive a crash: its commits skip the wait for the WAL flush,
        # so a slow disk on a busy machine cannot stall them past the tests' short deadlines.
        # Lock waits over a second are logged, for the post-mortem of a slow test.
        await connection.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        await connection.execute(f'ALTER DATABASE "{name}" SET log_lock_waits = on')
    finally:
        await connection.close()
    database = Database("postgres", url_for(PG_ADMIN_URL, name))
    migrate(database.url)
    return database


async def drop_postgres_database(database: Database) -> None:
    name = database.url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


class PgBouncer:
    """Debian's pgbouncer in transaction pooling mode, on a spare port, in front of the server."""

    def __init__(self, server_url: str) -> None:
        # Not under pytest's own temporary folder: pgbouncer drops root for `postgres`, which
        # must be able to read its files there.
        self.directory = Path(tempfile.mkdtemp(prefix="chats-pgbouncer-"))
        parts = urlsplit(server_url)
        self.server = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.user = parts.username or "postgres"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.directory.chmod(0o755)
        (self.directory / "users.txt").write_text(f'"{self.user}" ""\n')
        config = self.directory / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host={self.server[0]} port={self.server[1]}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\n"
            f"unix_socket_dir =\nauth_type = trust\nauth_file = {self.directory / 'users.txt'}\n"
            "pool_mode = transaction\nmax_client_conn = 500\ndefault_pool_size = 20\n"
        )
        for path in self.directory.iterdir():
            path.chmod(0o644)
        self.log = (self.directory / "pgbouncer.log").open("wb")
        command = [shutil.which("pgbouncer") or "/usr/sbin/pgbouncer", str(config)]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "postgres"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    error = (self.directory / "pgbouncer.log").read_text()
                    raise RuntimeError(f"pgbouncer did not start: {error}") from None
                time.sleep(0.05)

    def url_for(self, database_url: str) -> str:
        parts = urlsplit(database_url)
        return urlunsplit(parts._replace(netloc=f"{self.user}@127.0.0.1:{self.port}"))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def lingering_sqlite_threads(
    grace: float = 1.0, besides: Collection[threading.Thread] = ()
) -> list[threading.Thread]:
    """aiosqlite's threads (one per connection) still running after `grace` seconds, but for
    `besides` (another app's open connection): a thread told to stop ends just after answering
    its last call, a leaked one never does."""
    workers = [
        t
        for t in threading.enumerate()
        if "_connection_worker_thread" in t.name and t not in besides
    ]
    for worker in workers:
        worker.join(timeout=grace)
    return [worker for worker in workers if worker.is_alive()]

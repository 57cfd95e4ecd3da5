"""The engine named by DATABASE_URL, and its lifecycle."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from db.errors import Deadline
from db.events import hub

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")
# Long enough to ride out a burst of writers queued on SQLite's single write lock.
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


class LazyPostgresEngine(PostgresEngine):
    """A PostgresEngine that does not connect when constructed.

    Piccolo's engines check the server version from `__init__`, which means importing
    `piccolo_conf` opens a connection. The pool is opened by the app's lifespan instead.
    """

    async def check_version(self) -> None:
        return None


def sqlite_path(url: str) -> str:
    return url.removeprefix(SQLITE_PREFIX)


def create_engine(url: str, *, connect_timeout: float = 5.0) -> Engine[Any]:
    if url.startswith(SQLITE_PREFIX) and len(url) > len(SQLITE_PREFIX):
        return SQLiteEngine(path=sqlite_path(url), timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
    if url.startswith(POSTGRES_PREFIXES):
        return LazyPostgresEngine(config={"dsn": url, "timeout": connect_timeout})
    raise ValueError(
        "DATABASE_URL must start with sqlite:/// or postgresql:// "
        f"(got a value starting with {url.split(':', 1)[0]!r})"
    )


def bind(engine: Engine[Any]) -> None:
    """Point every table of the app at `engine` (Piccolo tables hold their engine)."""
    from db.tables import TABLES

    for table in TABLES:
        table._meta.db = engine


def write_transaction(engine: Engine[Any]) -> Any:
    """A transaction for a write. On SQLite it takes the write lock up front, so that
    concurrent writers wait for it (busy timeout) instead of failing with "database is locked"."""
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


async def open_engine(
    engine: Engine[Any],
    *,
    min_size: int,
    max_size: int,
    query_timeout: float,
    statement_cache_size: int = 100,
    events_url: str = "",
) -> None:
    """Called by the app's lifespan: a PostgreSQL pool, or SQLite's WAL mode."""
    Deadline.seconds = query_timeout if isinstance(engine, PostgresEngine) else None
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(
            min_size=min_size,
            max_size=max_size,
            reset=keep_session,
            statement_cache_size=statement_cache_size,
        )
        hub.use_postgres(events_url or engine.config["dsn"])
    elif isinstance(engine, SQLiteEngine):
        enable_wal(engine.path)
        hub.use_postgres(None)


async def keep_session(connection: asyncpg.Connection) -> None:
    """Released pool connections skip asyncpg's RESET ALL / UNLISTEN * / CLOSE ALL round trip.

    The service never changes session state (no SET, LISTEN, advisory locks or cursors on pooled
    connections: the rule that also keeps it safe behind a transaction pooler), so there is nothing
    to reset; asyncpg still ends any transaction left open before this is called.
    """


async def close_engine(engine: Engine[Any]) -> None:
    await hub.close()
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        await engine.close_connection_pool()


def enable_wal(path: str) -> None:
    """WAL lets readers run while a writer holds the lock; the setting is stored in the file."""
    with _sqlite(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


@contextmanager
def _sqlite(path: str) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
    try:
        yield connection
    finally:
        connection.close()

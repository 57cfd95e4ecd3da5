"""The engine named by DATABASE_URL, and its lifecycle."""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, ParamSpec, TypeVar, cast

import aiosqlite
import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import (
    SQLiteEngine,
    SQLiteTransaction,
    TransactionType,
    dict_factory,
)
from piccolo.table import Table, TableMeta

from db.connections import DatabaseHealth, FairGate, PooledConnection, ServiceTransaction
from db.errors import DatabaseUnavailable, translate
from db.events import EventHub
from db.shared import SharedState
from db.tables import TABLES

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")
# Long enough to ride out a burst of writers queued on SQLite's single write lock.
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


class LazyPostgresEngine(PostgresEngine):
    """A PostgresEngine that does not connect when constructed, and carries the service's state
    for its database: the query deadline and the hub of chat events.

    Piccolo's engines check the server version from `__init__`, which means importing
    `piccolo_conf` opens a connection. The pool is opened by the app's lifespan instead.
    """

    __slots__ = ("deadline", "gate", "health", "hub")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # How long one query function may take, pool wait and reconnection included, before the
        # database counts as unavailable; a silent network would otherwise hold a request (and a
        # pool connection) forever. Set by `open_engine`.
        self.deadline: float | None = None
        # Turns at the pool, in order of arrival (one per connection); set by `open_engine`.
        self.gate: FairGate | None = None
        self.hub = EventHub()
        self.health = DatabaseHealth()

    async def check_version(self) -> None:
        return None

    def transaction(self, allow_nested: bool = True) -> ServiceTransaction:
        return ServiceTransaction(engine=self, allow_nested=allow_nested)

    async def _run_in_pool(self, query: str, args: Sequence[Any] | None = None) -> Any:
        # Piccolo's, with a connection whose use was cut short terminated, never reused.
        if not self.pool:
            raise ValueError("A pool isn't currently running.")
        async with PooledConnection(self.pool, self.gate) as connection:
            return await connection.fetch(query, *(args or ()))


class TidySQLiteEngine(SQLiteEngine):
    """Piccolo's SQLiteEngine on one long-lived connection: one writer (SQLite has one write lock
    anyway), WAL so that other processes' readers are not blocked, and no thread started per
    query (aiosqlite runs each connection on a thread of its own; Piccolo opens a connection per
    query, which capped the service at a few hundred creates per second).

    Uses of the connection, a statement or a whole transaction, take turns (an asyncio lock). A
    use cut short (the request deadline, a client gone) or failed by anything but a constraint
    leaves the connection in a state nobody knows: it is discarded, closed in the background
    (SQLite's wait for a lock cannot be interrupted, and the deadline must hold), and the next
    use opens a new one. Shutdown waits for those closes, so that no thread outlives the loop.
    """

    __slots__ = ("_cleanups", "_connection", "_file", "_turn", "deadline", "health", "hub")

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(path=path, **kwargs)
        self._cleanups: set[asyncio.Future[None]] = set()
        self._connection: aiosqlite.Connection | None = None
        self._file: tuple[int, int] | None = None  # device and inode the connection opened
        self._turn = asyncio.Lock()
        # No query deadline: SQLite's waits are bounded by its busy timeout.
        self.deadline: float | None = None
        # Without Redis, SQLite's events go from the commit straight to this hub: SQLite serves
        # one process.
        self.hub = EventHub()
        self.health = DatabaseHealth()

    async def get_connection(self) -> aiosqlite.Connection:
        connection = aiosqlite.connect(**self.connection_kwargs)
        try:
            await connection
        except BaseException as error:
            # aiosqlite has told the thread to stop, without waiting for it.
            await self._clean_up(asyncio.to_thread(connection._thread.join), error)
            raise
        try:
            connection.row_factory = dict_factory  # type: ignore[assignment]  # typed too narrowly
            await connection.execute("PRAGMA foreign_keys = 1")
            # In WAL mode, NORMAL syncs at checkpoints rather than at every commit: a commit
            # survives the service crashing or being killed; only the machine losing power may
            # lose the last ones (SQLite's recommendation for WAL; production is PostgreSQL).
            await connection.execute("PRAGMA synchronous = NORMAL")
        except BaseException as error:
            await self.release(connection, error)
            raise
        return connection

    async def take_turn(self) -> aiosqlite.Connection:
        """The connection, for this use alone until `end_turn`."""
        await self._turn.acquire()
        try:
            if self._connection is not None and self._file != _identity(self.path):
                # The file was deleted or replaced under the open connection, which would go on
                # writing to a file nobody will read again: open the path anew (or fail, 503).
                connection, self._connection = self._connection, None
                await self.release(connection)
            if self._connection is None:
                self._connection = await self.get_connection()
                self._file = _identity(self.path)
        except BaseException:
            self._turn.release()
            raise
        return self._connection

    async def end_turn(self, error: BaseException | None = None) -> None:
        """Give the connection back; after `error` (other than a constraint, which SQLite
        rolls back by itself), discard it."""
        connection = self._connection
        try:
            if error is not None and not isinstance(error, sqlite3.IntegrityError):
                self._connection = None
                if connection is not None:
                    await self.release(connection, error)
        finally:
            self._turn.release()

    async def _run_in_existing_connection(
        self,
        connection: aiosqlite.Connection,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: type[Table] | None = None,
    ) -> Any:
        # Piccolo's, without its `PRAGMA foreign_keys = 1` before every statement (the
        # connection set it once when it opened), and in one trip to the connection's thread
        # instead of three (execute, fetch, close). SQLite here has RETURNING: 3.35 or later.
        return await connection.execute_fetchall(query, args or [])

    async def _run_in_new_connection(
        self,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: type[Table] | None = None,
    ) -> Any:
        # Outside a transaction: one statement, on the shared connection (autocommit).
        connection = await self.take_turn()
        try:
            rows = await self._run_in_existing_connection(
                connection, query, args, query_type=query_type, table=table
            )
        except BaseException as error:
            await self.end_turn(error)
            raise
        await self.end_turn()
        return rows

    async def write_atomically(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Run `statements` as one write transaction (BEGIN IMMEDIATE to COMMIT) in a single trip
        to the connection's thread, instead of one trip per statement: the hot path of creating a
        chat. A failure rolls back in that thread, so the connection is idle again."""
        connection = await self.take_turn()
        try:
            # aiosqlite's own way of running work on its thread (every method of it uses this).
            await connection._execute(_atomically, connection._conn, statements)  # type: ignore[no-untyped-call]
        except BaseException as error:
            await self.end_turn(error)
            raise
        await self.end_turn()

    def transaction(
        self,
        transaction_type: TransactionType = TransactionType.deferred,
        allow_nested: bool = True,
    ) -> SQLiteTransaction:
        return TidySQLiteTransaction(
            engine=self, transaction_type=transaction_type, allow_nested=allow_nested
        )

    async def release(
        self, connection: aiosqlite.Connection, error: BaseException | None = None
    ) -> None:
        """Close `connection`. After a cancellation its thread may still be running a statement
        (SQLite's wait for a lock cannot be interrupted): the close then goes on in the
        background, so that the deadline holds, and shutdown waits for it."""
        await self._clean_up(connection.close(), error)

    async def wait_closed(self) -> None:
        """At shutdown: the connection closed, and the closes still going on in the background
        over, threads ended."""
        async with self._turn:
            connection, self._connection = self._connection, None
            if connection is not None:
                await self.release(connection)
        await asyncio.gather(*self._cleanups, return_exceptions=True)

    async def _clean_up(self, work: Awaitable[None], error: BaseException | None) -> None:
        cleanup = asyncio.ensure_future(work)
        self._cleanups.add(cleanup)
        cleanup.add_done_callback(self._cleanups.discard)
        if not isinstance(error, asyncio.CancelledError):
            await asyncio.shield(cleanup)  # cancelled while waiting: it still completes


def _atomically(
    connection: sqlite3.Connection, statements: Sequence[tuple[str, Sequence[Any]]]
) -> None:
    """On the connection's thread: all of `statements`, or none."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        for statement, args in statements:
            connection.execute(statement, args)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _identity(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


class TidySQLiteTransaction(SQLiteTransaction):
    """A transaction on the engine's shared connection, holding its turn from BEGIN to COMMIT or
    ROLLBACK; a transaction cut short discards the connection instead of rolling back (the
    ROLLBACK could wait behind a statement still running in its thread)."""

    __slots__ = ()

    async def __aenter__(self) -> SQLiteTransaction:
        if self._parent is not None:
            return self._parent
        engine = cast(TidySQLiteEngine, self.engine)
        self.connection = await engine.take_turn()
        try:
            await self.connection.execute_fetchall(f"BEGIN {self.transaction_type.value}")
        except BaseException as error:
            await engine.end_turn(error)
            raise
        self.context = engine.current_transaction.set(self)
        return self

    async def __aexit__(self, *exc_info: Any) -> bool:
        if self._parent is not None:
            return exc_info[1] is None
        engine = cast(TidySQLiteEngine, self.engine)
        error: BaseException | None = exc_info[1]
        try:
            if error is None:
                if not self._committed and not self._rolled_back:
                    await self.connection.execute_fetchall("COMMIT")
                    self._committed = True
            elif isinstance(error, Exception):
                # Raised between statements: none is running, a rollback is quick.
                if not self._rolled_back:
                    await self.connection.execute_fetchall("ROLLBACK")
                    self._rolled_back = True
            # Otherwise (cancelled) a statement may still be running: end_turn discards it.
        except BaseException as failure:
            error = failure
            raise
        finally:
            engine.current_transaction.reset(self.context)
            await engine.end_turn(error)
        return exc_info[1] is None


def sqlite_path(url: str) -> str:
    return url.removeprefix(SQLITE_PREFIX)


def create_engine(url: str, *, connect_timeout: float = 5.0) -> ServiceEngine:
    if url.startswith(SQLITE_PREFIX) and len(url) > len(SQLITE_PREFIX):
        return TidySQLiteEngine(path=sqlite_path(url), timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
    if url.startswith(POSTGRES_PREFIXES):
        return LazyPostgresEngine(config={"dsn": url, "timeout": connect_timeout})
    raise ValueError(
        "DATABASE_URL must start with sqlite:/// or postgresql:// "
        f"(got a value starting with {url.split(':', 1)[0]!r})"
    )


ServiceEngine = TidySQLiteEngine | LazyPostgresEngine

# The engine of the app serving the current request or running the current command. Piccolo
# tables hold one engine for the whole process; ours look here first, so that two apps in one
# process each use their own database.
_current: ContextVar[ServiceEngine | None] = ContextVar("chats_api_engine", default=None)


def use_engine(engine: ServiceEngine | None) -> Token[ServiceEngine | None]:
    """Queries in this context (and the tasks it starts) run on `engine`."""
    return _current.set(engine)


def restore_engine(token: Token[ServiceEngine | None]) -> None:
    _current.reset(token)


def current_engine() -> ServiceEngine:
    engine = _current.get()
    if engine is None:
        raise RuntimeError("no engine in use: call db.engine.use_engine first")
    return engine


class _ContextTableMeta(TableMeta):
    @property
    def db(self) -> Engine[Any]:
        return _current.get() or cast(Engine[Any], TableMeta.db.fget(self))  # type: ignore[attr-defined]

    @db.setter
    def db(self, value: Engine[Any]) -> None:
        self._db = value


for _table in TABLES:
    _table._meta.__class__ = _ContextTableMeta


P = ParamSpec("P")
T = TypeVar("T")


def query(func: Callable[P, Awaitable[T]], *, observed: bool = True) -> Callable[P, Awaitable[T]]:
    """A query function: it runs within the current engine's deadline, and raises only the data
    layer's errors (or an unexpected exception, which the caller treats as a bug). Its outcome is
    the database's health (the outage's log lines) unless `observed` is false."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        engine = current_engine()
        try:
            async with asyncio.timeout(engine.deadline):
                result = await func(*args, **kwargs)
        except Exception as exc:
            translated = translate(exc)
            if observed and isinstance(translated, DatabaseUnavailable):
                engine.health.failed(exc)
            if translated is exc:
                raise
            raise translated from exc
        if observed:
            engine.health.succeeded()
        return result

    return wrapper


def background_query(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """A query the service runs by itself (a poll): a success on a fresh connection in the middle
    of an outage must not end it in the log, to begin again with the next request's failure."""
    return query(func, observed=False)


def write_transaction(engine: Engine[Any]) -> Any:
    """A transaction for a write. On SQLite it takes the write lock up front, so that
    concurrent writers wait for it (busy timeout) instead of failing with "database is locked"."""
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


async def open_engine(
    engine: ServiceEngine,
    *,
    min_size: int,
    max_size: int,
    query_timeout: float,
    statement_cache_size: int = 100,
    events_url: str = "",
    shared: SharedState | None = None,
) -> None:
    """Called by the app's lifespan: a PostgreSQL pool, or SQLite's WAL mode; and the way events
    travel (Redis when replicas share one, else NOTIFY on PostgreSQL, else in the process)."""
    if shared is not None:
        engine.hub.use_redis(shared)
    if isinstance(engine, LazyPostgresEngine):
        engine.deadline = query_timeout
        engine.gate = FairGate(max_size)
        await engine.start_connection_pool(
            min_size=min_size,
            max_size=max_size,
            reset=keep_session,
            statement_cache_size=statement_cache_size,
            # asyncpg's own bound on each query; it also bounds the cancel request asyncpg sends
            # in the background for a query cut short, which a partitioned server never answers.
            command_timeout=query_timeout + 1,
        )
        if shared is None:
            engine.hub.use_postgres(
                events_url or engine.config["dsn"], connect_timeout=engine.config["timeout"]
            )
    elif isinstance(engine, SQLiteEngine):
        enable_wal(engine.path)


async def keep_session(connection: asyncpg.Connection) -> None:
    """Released pool connections skip asyncpg's RESET ALL / UNLISTEN * / CLOSE ALL round trip.

    The service never changes session state (no SET, LISTEN, advisory locks or cursors on pooled
    connections: the rule that also keeps it safe behind a transaction pooler), so there is nothing
    to reset; asyncpg still ends any transaction left open before this is called.
    """


# Longest shutdown waits for the pool to close gracefully; a partitioned server never answers the
# goodbyes, and what is left is then terminated.
CLOSE_SECONDS = 2.0


async def close_engine(engine: ServiceEngine) -> None:
    await engine.hub.close(within=CLOSE_SECONDS)
    if isinstance(engine, TidySQLiteEngine):
        await engine.wait_closed()
    if isinstance(engine, LazyPostgresEngine) and engine.pool is not None:
        pool, engine.pool = engine.pool, None
        try:
            await asyncio.wait_for(pool.close(), CLOSE_SECONDS)
        except TimeoutError:
            pool.terminate()


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

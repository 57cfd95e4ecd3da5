"""SQLite through aiosqlite: Piccolo's engine on one long-lived connection."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import aiosqlite
from piccolo.engine.sqlite import (
    SQLiteEngine,
    SQLiteTransaction,
    TransactionType,
    dict_factory,
)
from piccolo.table import Table

from db.events import EventHub, InProcess, Transport
from db.health import DatabaseHealth
from db.rows import ChatRow, NextChunk, OwnMessage
from db.tracing import sqlite_span, traceparent

# Long enough to ride out a burst of writers queued on SQLite's single write lock.
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0

# Values go through the sqlite3 adapters Piccolo registers: stored as Piccolo stores them.
_INSERT_SESSION = "INSERT INTO sessions (id, account_id, artist_id, created_at) VALUES (?, ?, ?, ?)"
# A user's message in the account's own chat: each statement matches nothing when the chat is not
# the account's, so that nothing is written.
_OWN = " FROM chats WHERE id = ? AND account_id = ?"
_OWN_MOVE = (
    "UPDATE chats SET last_seq = last_seq + 1, updated_at = ? WHERE id = ? AND account_id = ?"
)
_OWN_MESSAGE = (
    "INSERT INTO messages (id, chat_id, seq, role, parts, status, chunks, created_at, updated_at)"
    " SELECT ?, id, last_seq, 'user', ?, 'complete', 0, ?, ?" + _OWN
)
_OWN_ENTRY = (
    "INSERT INTO chat_log (id, chat_id, seq, type, message_id, chunk_index, payload, created_at)"
    " SELECT ?, id, last_seq, 'ADDED', ?, NULL, ?, ?" + _OWN
)
_OWN_EVENT = (
    "INSERT INTO chat_events (account_id, chat_id, type, payload, created_at, trace)"
    " SELECT c.account_id, c.id, 'UPDATED', json_object('id', c.id, 'title', c.title,"
    " 'account_id', c.account_id, 'session_id', c.session_id, 'updated_at', c.updated_at,"
    " 'artist_id', s.artist_id, 'created_at', c.created_at), ?, ?"
    " FROM chats c JOIN sessions s ON s.id = c.session_id WHERE c.id = ? AND c.account_id = ?"
)
_OWN_CHAT = (
    "SELECT c.last_seq, c.title, c.session_id, c.created_at, c.updated_at, s.artist_id"
    " FROM chats c JOIN sessions s ON s.id = c.session_id WHERE c.id = ? AND c.account_id = ?"
)
# The next chunk of a streaming reply: each statement after the first goes on only if the one
# before it changed a row (`changes()`), so that nothing but the reply's own check is written when
# the reply no longer streams with `index` chunks.
_NEXT_REPLY = (
    "UPDATE messages SET parts = ?, chunks = chunks + 1, updated_at = ?"
    " WHERE id = ? AND chat_id = ? AND status = 'streaming' AND chunks = ?"
)
_NEXT_SEQ = "UPDATE chats SET last_seq = last_seq + 1 WHERE id = ? AND changes() = 1"
_NEXT_ENTRY = (
    "INSERT INTO chat_log (id, chat_id, seq, type, message_id, chunk_index, payload, created_at)"
    " SELECT ?, id, last_seq, 'CHUNK', ?, ?, ?, ? FROM chats WHERE id = ? AND changes() = 1"
)
_NEXT_SEQ_READ = "SELECT last_seq FROM chats WHERE id = ? AND changes() = 1"
_INSERT_CHAT = (
    "INSERT INTO chats (id, session_id, account_id, title, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_EVENT = (
    "INSERT INTO chat_events (account_id, chat_id, type, payload, created_at, trace)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


class TidySQLiteEngine(SQLiteEngine):
    """Piccolo's SQLiteEngine on one long-lived connection: one writer (SQLite has one write lock
    anyway), WAL so that other processes' readers are not blocked, and no thread started per
    query (aiosqlite runs each connection on a thread of its own, and Piccolo opens a connection
    per query).

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
        with sqlite_span(query):
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

    async def write_atomically(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Run `statements` as one write transaction (BEGIN IMMEDIATE to COMMIT) in a single trip
        to the connection's thread, instead of one trip per statement: the hot paths of creating a
        chat and of a user's message. A failure rolls back in that thread, so the connection is
        idle again. Returns the last statement's rows."""
        connection = await self.take_turn()
        try:
            # aiosqlite's own way of running work on its thread (every method of it uses this).
            with sqlite_span(statements):
                rows: list[Any] = await connection._execute(  # type: ignore[no-untyped-call]
                    _atomically, connection._conn, statements
                )
        except BaseException as error:
            await self.end_turn(error)
            raise
        await self.end_turn()
        return rows

    async def open(
        self,
        *,
        min_size: int,
        max_size: int,
        query_timeout: float,
        statement_cache_size: int,
        events_url: str,
    ) -> Transport:
        """WAL mode; without Redis, events go from the commit straight to this process's hub
        (SQLite serves one process). The pool's settings are PostgreSQL's."""
        enable_wal(self.path)
        return InProcess(self.hub)

    async def close(self) -> None:
        await self.wait_closed()

    def write_transaction(self) -> SQLiteTransaction:
        """Takes the write lock up front, so that concurrent writers wait for it (busy timeout)
        instead of failing with "database is locked"."""
        return self.transaction(transaction_type=TransactionType.immediate)

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

    async def create_chat(self, chat: ChatRow, event: str) -> None:
        """The chat, its session and its event in one trip to SQLite's thread; the event's hint
        after it."""
        session = (chat.session_id, chat.account_id, chat.artist_id, chat.created_at)
        await self.write_atomically(
            [
                (_INSERT_SESSION, session),
                (
                    _INSERT_CHAT,
                    (
                        chat.id,
                        chat.session_id,
                        chat.account_id,
                        chat.title,
                        chat.created_at,
                        chat.updated_at,
                    ),
                ),
                (
                    _INSERT_EVENT,
                    (
                        chat.account_id,
                        chat.id,
                        "CREATED",
                        event,
                        chat.created_at,
                        traceparent(),
                    ),
                ),
            ]
        )
        self.hub.hint_chat_events()

    async def add_own_message(self, message: OwnMessage) -> dict[str, Any] | None:
        """A user's message in a chat of the account's own, in one trip to SQLite's thread: the
        chat's next sequence number and updatedAt, the message and its log entry; the chat as it
        is then, or None (and nothing written) when the chat is not the account's."""
        own = (message.chat_id, message.account_id)
        rows = await self.write_atomically(
            [
                (_OWN_MOVE, (message.now, *own)),
                (
                    _OWN_MESSAGE,
                    (message.message_id, message.parts, message.now, message.now, *own),
                ),
                (
                    _OWN_ENTRY,
                    (message.log_id, message.message_id, message.payload, message.now, *own),
                ),
                (_OWN_EVENT, (message.now, traceparent(), *own)),
                (_OWN_CHAT, own),
            ]
        )
        return dict(rows[0]) if rows else None  # Piccolo's connections answer rows as dicts

    async def append_next_chunk(self, chunk: NextChunk) -> int | None:
        """The next chunk of a streaming reply in one trip to SQLite's thread; its sequence
        number, or None (nothing written) when the reply is no longer streaming with `index`
        chunks."""
        reply = (chunk.parts, chunk.now, chunk.message_id, chunk.chat_id, chunk.index)
        entry = (
            chunk.log_id,
            chunk.message_id,
            chunk.index,
            chunk.payload,
            chunk.now,
            chunk.chat_id,
        )
        rows = await self.write_atomically(
            [
                (_NEXT_REPLY, reply),
                (_NEXT_SEQ, (chunk.chat_id,)),
                (_NEXT_ENTRY, entry),
                (_NEXT_SEQ_READ, (chunk.chat_id,)),
            ]
        )
        return int(rows[0]["last_seq"]) if rows else None


def _atomically(
    connection: sqlite3.Connection, statements: Sequence[tuple[str, Sequence[Any]]]
) -> list[Any]:
    """On the connection's thread: all of `statements`, or none; the last one's rows."""
    connection.execute("BEGIN IMMEDIATE")
    rows: list[Any] = []
    try:
        for statement, args in statements:
            rows = connection.execute(statement, args).fetchall()
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return rows


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

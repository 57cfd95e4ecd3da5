"""PostgreSQL through asyncpg: Piccolo's engine with the service's pool, deadline and events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine

from db.connections import PooledConnection, ServiceTransaction
from db.errors import translate
from db.events import CHANNEL, EventHub, Transport
from db.health import DatabaseHealth
from db.rows import ChatRow, NextChunk, OwnMessage
from db.tracing import traceparent

# The chat's foreign key to its session is checked at the end of the statement, when the session
# row written by the CTE exists.
_CREATE = """
WITH session AS (
    INSERT INTO sessions (id, account_id, artist_id, created_at) VALUES ($1, $2, $3, $4)
), event AS (
    INSERT INTO chat_events (account_id, chat_id, type, payload, created_at, trace)
    VALUES ($2, $5, 'CREATED', $7, $4, $8)
)
INSERT INTO chats (id, session_id, account_id, title, created_at, updated_at)
VALUES ($5, $1, $2, $6, $4, $4)
"""
# A user's message in the account's own chat, in one statement: the chat's next sequence number and
# updatedAt, the message and its log entry; no row (and nothing written) when the chat is not the
# account's.
_OWN_MESSAGE = """
WITH chat AS (
    UPDATE chats SET last_seq = last_seq + 1, updated_at = $3
    WHERE id = $1 AND account_id = $2
    RETURNING id, last_seq, title, session_id, created_at, updated_at
), message AS (
    INSERT INTO messages (id, chat_id, seq, role, parts, status, chunks, created_at, updated_at)
    SELECT $4, id, last_seq, 'user', $5, 'complete', 0, $3, $3 FROM chat
), entry AS (
    INSERT INTO chat_log (id, chat_id, seq, type, message_id, chunk_index, payload, created_at)
    SELECT $6, id, last_seq, 'ADDED', $4, NULL, $7, $3 FROM chat
), moved AS (
    SELECT chat.*, sessions.artist_id FROM chat JOIN sessions ON sessions.id = chat.session_id
), event AS (
    INSERT INTO chat_events (account_id, chat_id, type, payload, created_at, trace)
    SELECT $2, id, 'UPDATED', json_build_object(
        'id', id, 'title', title, 'account_id', $2::uuid, 'session_id', session_id,
        'updated_at', updated_at, 'artist_id', artist_id, 'created_at', created_at
    )::text, $3, $8 FROM moved
)
SELECT last_seq, title, session_id, created_at, updated_at, artist_id FROM moved
"""
# The next chunk of a streaming reply, in one statement: the chat's row locked first (as every
# conversation write does), then the reply updated only if it still streams with `index` chunks,
# then the chat's next sequence number and the log entry, both only if the reply was. No row, and
# nothing written, otherwise.
_NEXT_CHUNK = """
WITH target AS (
    SELECT id FROM chats WHERE id = $1 FOR UPDATE
), reply AS (
    UPDATE messages SET parts = $4, chunks = chunks + 1, updated_at = $7
    WHERE id = $2 AND chat_id = (SELECT id FROM target) AND status = 'streaming' AND chunks = $3
    RETURNING chat_id
), chat AS (
    UPDATE chats SET last_seq = last_seq + 1 WHERE id = (SELECT chat_id FROM reply)
    RETURNING id, last_seq
), entry AS (
    INSERT INTO chat_log (id, chat_id, seq, type, message_id, chunk_index, payload, created_at)
    SELECT $5, id, last_seq, 'CHUNK', $2, $3, $6, $7 FROM chat
)
SELECT last_seq FROM chat
"""
# Longest shutdown waits for the pool to close gracefully; a partitioned server never answers the
# goodbyes, and what is left is then terminated.
CLOSE_SECONDS = 2.0


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
        self.gate: asyncio.Semaphore | None = None
        self.hub = EventHub()
        self.health = DatabaseHealth()

    async def check_version(self) -> None:
        return None

    async def open(
        self,
        *,
        min_size: int,
        max_size: int,
        query_timeout: float,
        statement_cache_size: int,
        events_url: str,
    ) -> Transport:
        """The pool (its gate, its deadline); what carries events without Redis: NOTIFY, on
        `events_url` (a direct connection, where the pool goes through a transaction pooler)."""
        self.deadline = query_timeout
        self.gate = asyncio.Semaphore(max_size)
        await self.start_connection_pool(
            min_size=min_size,
            max_size=max_size,
            reset=keep_session,
            statement_cache_size=statement_cache_size,
            # asyncpg's own bound on each query; it also bounds the cancel request asyncpg sends
            # in the background for a query cut short, which a partitioned server never answers.
            command_timeout=query_timeout + 1,
        )
        return PostgresNotify(
            self, events_url or self.config["dsn"], connect_timeout=self.config["timeout"]
        )

    async def close(self) -> None:
        """The pool closed within CLOSE_SECONDS; what a silent network holds, terminated."""
        if self.pool is not None:
            pool, self.pool = self.pool, None
            try:
                await asyncio.wait_for(pool.close(), CLOSE_SECONDS)
            except TimeoutError:
                pool.terminate()

    def transaction(self, allow_nested: bool = True) -> ServiceTransaction:
        return ServiceTransaction(engine=self, allow_nested=allow_nested)

    def write_transaction(self) -> ServiceTransaction:
        return self.transaction()

    async def _run_in_pool(self, query: str, args: Sequence[Any] | None = None) -> Any:
        # Piccolo's, with a connection whose use was cut short terminated, never reused.
        if not self.pool:
            raise ValueError("A pool isn't currently running.")
        async with PooledConnection(self.pool, self.gate) as connection:
            return await connection.fetch(query, *(args or ()))

    async def create_chat(self, chat: ChatRow, event: str) -> None:
        """The chat, its session and its event in one statement (one round trip, atomic by
        itself); the event's hint after it."""
        if not self.pool:
            raise ValueError("A pool isn't currently running.")
        args = (chat.session_id, chat.account_id, chat.artist_id, chat.created_at, chat.id)
        async with PooledConnection(self.pool, self.gate) as connection:
            await connection.execute(_CREATE, *args, chat.title, event, traceparent())
        self.hub.hint_chat_events()

    async def add_own_message(self, message: OwnMessage) -> dict[str, Any] | None:
        """A user's message in a chat of the account's own, in one statement (one round trip,
        atomic by itself); the chat as it is then, or None when the chat is not the account's."""
        if not self.pool:
            raise ValueError("A pool isn't currently running.")
        async with PooledConnection(self.pool, self.gate) as connection:
            row = await connection.fetchrow(
                _OWN_MESSAGE,
                message.chat_id,
                message.account_id,
                message.now,
                message.message_id,
                message.parts,
                message.log_id,
                message.payload,
                traceparent(),
            )
        return dict(row) if row is not None else None

    async def append_next_chunk(self, chunk: NextChunk) -> int | None:
        """The next chunk of a streaming reply in one statement; its sequence number, or None
        (nothing written) when the reply is no longer streaming with `index` chunks."""
        if not self.pool:
            raise ValueError("A pool isn't currently running.")
        async with PooledConnection(self.pool, self.gate) as connection:
            seq = await connection.fetchval(
                _NEXT_CHUNK,
                chunk.chat_id,
                chunk.message_id,
                chunk.index,
                chunk.parts,
                chunk.log_id,
                chunk.payload,
                chunk.now,
            )
        return None if seq is None else int(seq)


async def keep_session(connection: asyncpg.Connection) -> None:
    """Released pool connections skip asyncpg's RESET ALL / UNLISTEN * / CLOSE ALL round trip.

    The service never changes session state (no SET, LISTEN, advisory locks or cursors on pooled
    connections: the rule that also keeps it safe behind a transaction pooler), so there is nothing
    to reset; asyncpg still ends any transaction left open before this is called.
    """


class PostgresNotify:
    """Hints with `pg_notify`, after the write's commit, in a statement of their own (inside the
    write, NOTIFY's lock would make every write of the database wait on every other); `LISTEN` on
    one dedicated connection per process."""

    def __init__(self, engine: LazyPostgresEngine, dsn: str, *, connect_timeout: float) -> None:
        self._engine = engine
        self._hub = engine.hub
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._listener: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def publish(self, payloads: Sequence[str]) -> None:
        calls = ", ".join(f"pg_notify('{CHANNEL}', ${n})" for n in range(1, len(payloads) + 1))
        with contextlib.suppress(Exception):
            await self._engine._run_in_pool(f"SELECT {calls}", payloads)

    async def listen(self) -> None:
        async with self._lock:
            if self._listener is not None and not self._listener.is_closed():
                return
            try:
                self._listener = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
                self._listener.add_termination_listener(self._on_listener_lost)
                await self._listener.add_listener(CHANNEL, self._on_notification)
            except Exception as exc:
                raise translate(exc) from exc

    def _on_notification(self, connection: Any, pid: int, channel: str, payload: object) -> None:
        self._hub.deliver(str(payload))

    def _on_listener_lost(self, connection: Any) -> None:
        if connection is not self._listener:
            return  # closed on purpose by close()
        self._listener = None
        self._hub.lose_all()

    async def close(self, *, within: float) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.close(timeout=within)
            listener.terminate()  # what a silent network kept from closing

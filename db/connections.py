"""PostgreSQL connections that never outlive a fault, and the log of the database's outages.

A use of a connection cut short (the deadline, a client gone, a broken or silent network) leaves
the connection in a state nobody knows. Released to asyncpg's pool, it would wait for the server
to acknowledge the cancelled query before anyone could use it again: forever, in a network
partition, with the pool connection held for good; or it would go back into use mid-operation.
Such a connection is terminated instead: the pool opens a new one when it needs it, and the server
rolls back whatever the connection left open. A use that ended cleanly, or with an error the server
reported (so the connection is idle again), is released as it is: the fast path stays fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresTransaction

logger = logging.getLogger("chats_api.database")


def idle_after(error: BaseException) -> bool:
    """Whether a connection is idle and whole after `error`: only after an error the server
    reported and survived (severity ERROR: a constraint, a serialization failure). A FATAL one
    (the backend terminated, the server shutting down) arrives before the connection closes."""
    return (
        isinstance(error, asyncpg.PostgresError)
        and (getattr(error, "severity_en", None) or getattr(error, "severity", None)) == "ERROR"
    )


class PooledConnection:
    """A pool connection for one use, released or terminated as its state allows; with `gate`,
    connections are handed out in the order they were asked for. (A class rather than a
    generator-based context manager: it runs on every query.)

    The gate is an `asyncio.Semaphore` of the pool's size: first come, first served, none lost
    to a cancelled waiter (`tests/unit/test_pool_gate.py`). asyncpg's pool alone is not fair
    under load: a waiter woken for a released connection often finds it taken by a request that
    just arrived, and the latency's tail grows (`bench/README.md`, "The pool's gate")."""

    __slots__ = ("_connection", "_gate", "_pool")

    def __init__(self, pool: asyncpg.Pool, gate: asyncio.Semaphore | None = None) -> None:
        self._pool = pool
        self._gate = gate
        self._connection: Any = None

    async def __aenter__(self) -> Any:
        if self._gate is not None:
            await self._gate.__aenter__()
        try:
            self._connection = await self._pool.acquire()
        except BaseException:
            self._pass_turn()
            raise
        return self._connection

    async def __aexit__(self, _type: object, error: BaseException | None, _tb: object) -> None:
        try:
            if error is None or idle_after(error):
                await self._pool.release(self._connection)
            else:
                _terminate(self._connection)
        finally:
            self._pass_turn()

    def _pass_turn(self) -> None:
        if self._gate is not None:
            self._gate.release()


def _terminate(connection: Any) -> None:
    """Terminate a pool connection; the pool takes its holder back at once. One the server closed
    has been taken back already, and says so."""
    with contextlib.suppress(asyncpg.InterfaceError):
        connection.terminate()


class ServiceTransaction(PostgresTransaction):
    """Piccolo's transaction, whose connection is terminated rather than rolled back and released
    when the transaction was cut short: a ROLLBACK on a silent network never returns. Its
    connection, like every other use of the pool, waits its turn at the engine's gate."""

    __slots__ = ("_turn",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turn: asyncio.Semaphore | None = None

    async def get_connection(self) -> Any:
        gate: asyncio.Semaphore | None = getattr(self.engine, "gate", None)
        if gate is not None and self.engine.pool:
            await gate.__aenter__()
            self._turn = gate
        return await super().get_connection()  # type: ignore[no-untyped-call]  # Piccolo untyped

    async def __aenter__(self) -> PostgresTransaction:
        try:
            return await super().__aenter__()
        except BaseException as error:
            self._discard(error)
            self._pass_turn()
            raise

    async def __aexit__(self, *exc_info: Any) -> bool:
        error = exc_info[1]
        try:
            if error is None or idle_after(error) or self._parent is not None:
                return await super().__aexit__(*exc_info)
            self._discard(error)
            self.engine.current_transaction.reset(self.context)
            return False
        finally:
            self._pass_turn()

    def _discard(self, error: BaseException) -> None:
        connection = getattr(self, "connection", None)  # unset when acquiring failed
        if connection is not None and not idle_after(error):
            _terminate(connection)

    def _pass_turn(self) -> None:
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.release()

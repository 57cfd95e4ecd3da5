"""Turns SQLite's and asyncpg's exceptions into the few facts the service cares about.

Every query function in `db.queries` runs under `db.engine.query`, which translates with
`translate`, so nothing above this package ever sees a driver exception it would have to recognise.
"""

from __future__ import annotations

import asyncio
import functools
import random
import sqlite3
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import asyncpg

P = ParamSpec("P")
T = TypeVar("T")


class DatabaseError(Exception):
    """Base of the data layer's own errors."""


class DuplicateKey(DatabaseError):
    """A primary key or unique index already holds the value."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached right now; the request may be retried later."""


class Refused(DatabaseError):
    """A write whose precondition did not hold when it ran (its transaction rolled back, nothing
    written); `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientConflict(DatabaseError):
    """A serialization failure or deadlock: the whole transaction may be run again."""


_SQLITE_DUPLICATE = {"SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"}
# Each with its extended codes (SQLITE_READONLY_DIRECTORY, SQLITE_IOERR_WRITE, ...): the file or
# its folder cannot be opened, written or locked right now.
_SQLITE_UNAVAILABLE = (
    "SQLITE_CANTOPEN",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_READONLY",
)


def translate(exc: BaseException) -> BaseException:
    """Return the data-layer error for a driver exception, or the exception itself."""
    if isinstance(exc, DatabaseError):
        return exc
    if isinstance(exc, asyncpg.UniqueViolationError):
        return DuplicateKey(exc.constraint_name or "unique")
    if isinstance(exc, sqlite3.IntegrityError) and exc.sqlite_errorname in _SQLITE_DUPLICATE:
        return DuplicateKey(exc.sqlite_errorname)
    if isinstance(exc, asyncpg.exceptions.TransactionRollbackError):
        return TransientConflict(type(exc).__name__)
    if isinstance(exc, sqlite3.OperationalError) and (exc.sqlite_errorname or "").startswith(
        _SQLITE_UNAVAILABLE
    ):
        return DatabaseUnavailable(exc.sqlite_errorname)
    if isinstance(
        exc,
        OSError
        | TimeoutError
        | asyncpg.PostgresConnectionError
        | asyncpg.exceptions.CannotConnectNowError
        | asyncpg.exceptions.AdminShutdownError
        | asyncpg.exceptions.TooManyConnectionsError,
    ):
        return DatabaseUnavailable(type(exc).__name__)
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return DatabaseUnavailable(type(exc).__name__)
    if isinstance(exc, asyncpg.InternalClientError):
        # A pooled connection the server had just ended (a terminated backend, a restart) whose
        # end asyncpg had not yet seen: refused before anything was sent, and terminated since.
        return DatabaseUnavailable(type(exc).__name__)
    return exc


RETRY_ATTEMPTS = 4


def retry_transient(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Runs a whole transaction again after a serialization failure or deadlock, a few times with
    a short random pause: what SERIALIZABLE isolation and distributed engines ask of clients."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                return await func(*args, **kwargs)
            except TransientConflict:
                if attempt == RETRY_ATTEMPTS:
                    raise
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
        raise AssertionError("unreachable")

    return wrapper

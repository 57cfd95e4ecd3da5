"""The engine named by DATABASE_URL: one module per engine (`db.postgres`, `db.sqlite`), each whole
(opening, closing, its write transaction, its one-trip writes); here what they share: which one a
URL names, the engine of the current request, the query wrapper, and how events travel."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from piccolo.engine.base import Engine
from piccolo.table import TableMeta

from db.errors import DatabaseUnavailable, translate
from db.postgres import CLOSE_SECONDS, LazyPostgresEngine
from db.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, TidySQLiteEngine
from db.tables import TABLES

if TYPE_CHECKING:
    from db.redis_client import SharedState

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


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
        started = time.monotonic()
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
            engine.health.succeeded(started)
        return result

    return wrapper


def background_query(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """A query the service runs by itself (a poll): a success on a fresh connection in the middle
    of an outage must not end it in the log, to begin again with the next request's failure."""
    return query(func, observed=False)


def write_transaction(engine: ServiceEngine) -> Any:
    """A transaction for a write, as the engine takes one (SQLite: its write lock up front)."""
    return engine.write_transaction()


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
    """Called by the app's lifespan: the engine opened (a PostgreSQL pool, or SQLite's WAL mode),
    and the way events travel handed to its hub: Redis when replicas share one, else the
    engine's own (NOTIFY on PostgreSQL, the process on SQLite)."""
    own = await engine.open(
        min_size=min_size,
        max_size=max_size,
        query_timeout=query_timeout,
        statement_cache_size=statement_cache_size,
        events_url=events_url,
    )
    if shared is None:
        engine.hub.use(own)
        return
    # Imported only by a process that uses Redis: redis-py imports OpenTelemetry's SDK when it
    # is installed, ~0.1 s at every start of a server or a command that has no Redis.
    from db.redis_events import RedisPubSub

    engine.hub.use(RedisPubSub(engine.hub, shared))


async def close_engine(engine: ServiceEngine) -> None:
    await engine.hub.close(within=CLOSE_SECONDS)
    await engine.close()

"""Chat events, from the write that made them to this process's subscribers.

Where an event travels depends on the deployment, never on the caller:

- **Redis** (`REDIS_URL` set, either engine): published after the commit, before the response, on
  one channel every process subscribes to with one connection (`db/redis_events.py`). The writing
  transaction carries nothing: PostgreSQL serialises the commits of every transaction that sent a
  `pg_notify` on one lock, which halves what a database can create.
- **PostgreSQL's `NOTIFY`** (no Redis): `pg_notify` inside the writing transaction, so an event
  leaves only when the transaction commits, and reaches every worker process and replica: each
  listens on one dedicated connection (never a pooled one, which a transaction pooler would hand to
  someone else).
- **In the process** (SQLite, no Redis): SQLite serves a single process, so its events reach the
  subscribers right after the commit.

Whatever the transport, a subscriber that may have missed an event is told (its stream ends with an
error; the client subscribes again and refetches) rather than left quietly deaf.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import asyncpg
import orjson

from db.errors import translate
from db.rows import ChatRow

if TYPE_CHECKING:
    from db.shared import SharedState

CHANNEL = "chat_events"
EventType = Literal["CREATED", "UPDATED", "DELETED"]
# A subscriber this far behind is cut off rather than allowed to grow memory without end.
QUEUE_SIZE = 1000


def encode(event_type: EventType, chat: ChatRow) -> str:
    # orjson writes the record, its UUIDs and datetimes (RFC 3339, microseconds kept) natively;
    # asyncpg's own UUID type, as read from the database, goes through str().
    return orjson.dumps({"type": event_type, "chat": chat}, default=str).decode()


def decode(payload: str) -> tuple[EventType, ChatRow]:
    data = orjson.loads(payload)
    return data["type"], ChatRow.from_json(data["chat"])


class SubscriberTooSlow(Exception):
    """The subscriber's queue overflowed; its stream ends instead of silently losing events."""


class EventsUnavailable(Exception):
    """Events may have been missed (the listening connection died, or an event could not be
    sent), or cannot be received now: the stream ends with an error, and the client subscribes
    again and refetches."""


class _Subscriber:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False
        self.lost = False

    def wake(self) -> None:
        try:
            self.queue.put_nowait("")
        except asyncio.QueueFull:
            self.overflowed = True


class Transport(Protocol):
    """How events leave a write and reach this process's hub."""

    async def publish(self, payloads: Sequence[str]) -> None:
        """After the commit; never raises (the write has happened whatever becomes of its
        events)."""

    async def listen(self) -> None:
        """Until `close`, this process receives every event; raises when it cannot start."""

    async def close(self, *, within: float) -> None: ...


class EventHub:
    """Fans events out to the subscribers of this process."""

    def __init__(self) -> None:
        self._subscribers: set[_Subscriber] = set()
        self._transport: Transport = InProcess(self)

    @property
    def transport(self) -> Transport:
        return self._transport

    def use_postgres(self, dsn: str, *, connect_timeout: float = 5.0) -> None:
        self._transport = PostgresNotify(self, dsn, connect_timeout=connect_timeout)

    def use_redis(self, shared: SharedState) -> None:
        from db.redis_events import RedisPubSub  # only deployments with Redis load it

        self._transport = RedisPubSub(self, shared)

    @property
    def notifies_in_transaction(self) -> bool:
        """Whether a write sends its events itself, with `pg_notify` before its commit, instead
        of handing them to `publish` after."""
        return isinstance(self._transport, PostgresNotify)

    async def publish(self, payloads: Sequence[str]) -> None:
        if payloads:
            await self._transport.publish(payloads)

    def deliver(self, payload: str) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber.queue.put_nowait(payload)
            except asyncio.QueueFull:
                subscriber.overflowed = True

    def lose_all(self) -> None:
        """Every current subscriber may have missed an event: their streams end."""
        for subscriber in list(self._subscribers):
            subscriber.lost = True
            subscriber.wake()

    async def subscribe(self) -> AsyncIterator[tuple[EventType, ChatRow]]:
        subscriber = _Subscriber()
        self._subscribers.add(subscriber)
        try:
            await self._transport.listen()
            while True:
                payload = await subscriber.queue.get()
                if subscriber.overflowed:
                    raise SubscriberTooSlow()
                if subscriber.lost:
                    raise EventsUnavailable("events may have been missed")
                yield decode(payload)
        finally:
            self._subscribers.discard(subscriber)

    async def close(self, *, within: float) -> None:
        await self._transport.close(within=within)


class InProcess:
    """SQLite's: one process, so the commit hands its events straight to the hub."""

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub

    async def publish(self, payloads: Sequence[str]) -> None:
        for payload in payloads:
            self._hub.deliver(payload)

    async def listen(self) -> None:
        return None

    async def close(self, *, within: float) -> None:
        return None


class PostgresNotify:
    """`pg_notify` in the writing transaction; `LISTEN` on one dedicated connection per process."""

    def __init__(self, hub: EventHub, dsn: str, *, connect_timeout: float) -> None:
        self._hub = hub
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._listener: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def publish(self, payloads: Sequence[str]) -> None:
        return None  # sent by the transaction itself, and left with its commit

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

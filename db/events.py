"""Chat events, from the transaction that made them to this process's subscribers.

On PostgreSQL an event is sent with `pg_notify` inside the writing transaction, so it leaves only
when the transaction commits, and reaches every worker process and replica: each listens on one
dedicated connection (never a pooled one, which a transaction pooler would hand to someone else).
SQLite serves a single process, so its events reach the subscribers right after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Literal

import asyncpg
import orjson

from db.errors import DatabaseUnavailable, translate
from db.rows import ChatRow

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


class _Subscriber:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False
        # The LISTEN connection died: events may have been missed, so the stream ends with an
        # error (the client subscribes again and refetches) instead of going quietly deaf.
        self.lost = False

    def wake(self) -> None:
        try:
            self.queue.put_nowait("")
        except asyncio.QueueFull:
            self.overflowed = True


class EventHub:
    """Fans events out to the subscribers of this process."""

    def __init__(self) -> None:
        self._subscribers: set[_Subscriber] = set()
        self._listener: asyncpg.Connection | None = None
        self._dsn: str | None = None
        self._connect_timeout = 5.0
        self._lock = asyncio.Lock()

    def use_postgres(self, dsn: str | None, *, connect_timeout: float = 5.0) -> None:
        self._dsn = dsn
        self._connect_timeout = connect_timeout

    def deliver(self, payload: str) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber.queue.put_nowait(payload)
            except asyncio.QueueFull:
                subscriber.overflowed = True

    async def subscribe(self) -> AsyncIterator[tuple[EventType, ChatRow]]:
        subscriber = _Subscriber()
        self._subscribers.add(subscriber)
        try:
            await self._listen()
            while True:
                payload = await subscriber.queue.get()
                if subscriber.overflowed:
                    raise SubscriberTooSlow()
                if subscriber.lost:
                    raise DatabaseUnavailable("the LISTEN connection was lost")
                yield decode(payload)
        finally:
            self._subscribers.discard(subscriber)

    async def _listen(self) -> None:
        if self._dsn is None:
            return
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
        self.deliver(str(payload))

    def _on_listener_lost(self, connection: Any) -> None:
        if connection is not self._listener:
            return  # closed on purpose by close()
        self._listener = None
        for subscriber in list(self._subscribers):
            subscriber.lost = True
            subscriber.wake()

    async def close(self, *, within: float) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.close(timeout=within)
            listener.terminate()  # what a silent network kept from closing

"""Chat events, from the write that made them to this process's subscribers: the event and hint
codecs, the hub that fans them out, and the in-process transport. Which transport carries them
(Redis, `db/redis_events.py`; PostgreSQL's NOTIFY, `db/postgres.py`; the process, on SQLite) is
handed to the hub by whoever opens the engine; docs/operations.md's Live events tells the story.

Whatever the transport, a subscriber that may have missed an event is told (its stream ends with an
error; the client subscribes again and refetches) rather than left quietly deaf.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Literal, Protocol
from uuid import UUID

import orjson

from db.rows import ChatRow, LogEntry

logger = logging.getLogger("chats_api.events")

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


# A chat log's hint: "m", the chat's id, its sequence number and, when it fits in a NOTIFY payload
# (8,000 bytes), the entry itself, so that a watcher in step needs no read. A hint is never the
# record: a watcher that misses one reads the log.
HINT = "m"
_HINT_INLINE_BYTES = 7000


def encode_hint(entry: LogEntry, body: str) -> str:
    """`body` is the entry's payload as the log stores it (JSON text), made once per write."""
    head = f"{HINT}{entry.chat_id} {entry.seq} {entry.type}"
    # NOTIFY's limit is in bytes: a chunk of non-Latin text is up to three bytes a character.
    inline = len(head) + 1 + len(body.encode()) < _HINT_INLINE_BYTES
    return f"{head} {body}" if inline else head


Hint = tuple[int, LogEntry | None]
Event = tuple[EventType, ChatRow]
# What a payload that is not an event raises when decoded (JSON, UUIDs, numbers, fields).
UNREADABLE = (ValueError, KeyError, TypeError, AttributeError)


def decode_hint(payload: str) -> Hint:
    """The hint's sequence number, and its entry when the hint carries it."""
    chat_id, seq, event_type, *body = payload[1:].split(" ", 3)
    entry = None
    if body:
        entry = LogEntry.of(UUID(chat_id), int(seq), event_type, orjson.loads(body[0]))
    return int(seq), entry


class Watcher:
    """A live reader of one chat's log in this process: woken by each hint for the chat, and told
    when hints may have been lost (it then reads the log)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        # Hints for the chat, decoded; None when some may have been lost.
        self.queue: asyncio.Queue[Hint | None] = asyncio.Queue(QUEUE_SIZE)
        # Hints may have been missed (a full queue, a lost transport): read the log.
        self.behind = False
        # No transport reaches this process now: the log is read on a timer alone.
        self.deaf = False

    def put(self, hint: Hint | None) -> None:
        try:
            self.queue.put_nowait(hint)
        except asyncio.QueueFull:
            self.behind = True

    def lose(self) -> None:
        self.behind = True
        self.put(None)

    async def relisten(self) -> None:
        """After a loss: this process listens again if it can (Redis back, NOTIFY's connection
        reopened); until then the log is read on a timer."""
        try:
            await self._transport.listen()
            self.deaf = False
        except Exception:
            self.deaf = True


class SubscriberTooSlow(Exception):
    """The subscriber's queue overflowed; its stream ends instead of silently losing events."""


class EventsUnavailable(Exception):
    """Events may have been missed (the listening connection died, or an event could not be
    sent), or cannot be received now: the stream ends with an error, and the client subscribes
    again and refetches."""


class _Subscriber:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False
        self.lost = False

    def wake(self) -> None:
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            self.overflowed = True


class Transport(Protocol):
    """How events leave a write and reach this process's hub."""

    # Whether the writing transaction sends the events itself (`pg_notify`), not `publish`.
    in_transaction: bool

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
        self._watchers: dict[str, set[Watcher]] = {}
        self._transport: Transport = InProcess(self)

    @property
    def transport(self) -> Transport:
        return self._transport

    def use(self, transport: Transport) -> None:
        """How events travel, as whoever opens the engine decides (`db.engine.open_engine`)."""
        self._transport = transport

    @property
    def notifies_in_transaction(self) -> bool:
        """Whether a write sends its events itself, with `pg_notify` before its commit, instead
        of handing them to `publish` after."""
        return self._transport.in_transaction

    async def publish(self, payloads: Sequence[str]) -> None:
        if payloads:
            await self._transport.publish(payloads)

    def deliver(self, payload: str) -> None:
        """Decoded once, for whoever listens. A payload that is not an event (anyone who can
        publish on the channel can send one) is a lost message: logged, and every stream told."""
        try:
            if payload.startswith(HINT):
                watchers = self._watchers.get(payload[1:37])
                if watchers:
                    hint = decode_hint(payload)
                    for watcher in list(watchers):
                        watcher.put(hint)
                return
            if not self._subscribers:
                return
            event = decode(payload)
        except UNREADABLE as exc:
            self.unreadable(type(exc).__name__)
            return
        for subscriber in list(self._subscribers):
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscriber.overflowed = True

    def unreadable(self, reason: str) -> None:
        """A message that is not an event reached this process: whatever it stood for is lost."""
        logger.warning("an event that cannot be read was dropped", extra={"reason": reason})
        self.lose_all()

    def lose_all(self) -> None:
        """Every current subscriber may have missed an event: their streams end."""
        for subscriber in list(self._subscribers):
            subscriber.lost = True
            subscriber.wake()
        for watchers in list(self._watchers.values()):
            for watcher in list(watchers):
                watcher.lose()

    @contextlib.asynccontextmanager
    async def watch(self, chat_id: UUID) -> AsyncIterator[Watcher]:
        """Hints of one chat's new log entries, from now on. A transport that cannot start leaves
        the watcher deaf (it reads the log on a timer) rather than failing its stream."""
        key = str(chat_id)
        watcher = Watcher(self._transport)
        self._watchers.setdefault(key, set()).add(watcher)
        try:
            await watcher.relisten()
            yield watcher
        finally:
            watchers = self._watchers.get(key)
            if watchers is not None:
                watchers.discard(watcher)
                if not watchers:
                    del self._watchers[key]

    async def subscribe(self) -> AsyncIterator[tuple[EventType, ChatRow]]:
        subscriber = _Subscriber()
        self._subscribers.add(subscriber)
        try:
            await self._transport.listen()
            while True:
                event = await subscriber.queue.get()
                if subscriber.overflowed:
                    raise SubscriberTooSlow()
                if subscriber.lost or event is None:
                    raise EventsUnavailable("events may have been missed")
                yield event
        finally:
            self._subscribers.discard(subscriber)

    async def close(self, *, within: float) -> None:
        await self._transport.close(within=within)


class InProcess:
    """SQLite's: one process, so the commit hands its events straight to the hub."""

    in_transaction = False

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub

    async def publish(self, payloads: Sequence[str]) -> None:
        for payload in payloads:
            self._hub.deliver(payload)

    async def listen(self) -> None:
        return None

    async def close(self, *, within: float) -> None:
        return None

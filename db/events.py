"""Live events, from the write that made them to this process's readers: hints, the hub that
hands them out, and the in-process transport. Which transport carries hints between processes
(Redis, `db/redis_events.py`; PostgreSQL's NOTIFY, `db/postgres.py`; none, on SQLite) is handed to
the hub by whoever opens the engine; docs/operations.md's Live events tells the story.

Hints are never the record: the logs are (a chat's `chat_log`, the accounts' `chat_events`). A
reader woken by a hint reads the log, and a reader that may have missed one reads it anyway.
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


# The hint that the accounts' chat events have new entries (the reader reads the log).
TAIL_HINT = "e"


def encode(chat: ChatRow) -> str:
    """A chat as a chat event carries it. orjson writes the record, its UUIDs and datetimes
    (RFC 3339, microseconds kept) natively; asyncpg's own UUID type goes through str()."""
    return orjson.dumps(chat, default=str).decode()


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


class EventsUnavailable(Exception):
    """Hints cannot be received now (the transport cannot listen): readers read the log on a
    timer until it can."""


class Wakeup:
    """Wakes the reader of the accounts' chat events: a counter of hints, and an event to wait
    on. A reader notes the counter before it reads, and waits only if no hint came since."""

    def __init__(self) -> None:
        self.count = 0
        self._event = asyncio.Event()

    def wake(self) -> None:
        self.count += 1
        self._event.set()

    async def wait(self, seen: int, seconds: float) -> None:
        while self.count == seen:
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), seconds)
            except TimeoutError:
                return


class Transport(Protocol):
    """How hints leave a write and reach every process's hub."""

    async def publish(self, payloads: Sequence[str]) -> None:
        """After the commit; never raises (the write has happened whatever becomes of its
        hints)."""

    async def listen(self) -> None:
        """Until `close`, this process receives hints; raises when it cannot start."""

    async def close(self, *, within: float) -> None: ...


class EventHub:
    """Hands hints out to the readers of this process: a chat's watchers, and the reader of the
    accounts' chat events (`chat_events`)."""

    def __init__(self) -> None:
        self._watchers: dict[str, set[Watcher]] = {}
        self._transport: Transport = InProcess(self)
        self.chat_events = Wakeup()
        # Chat events committed since the last hint left: one hint goes for all of them.
        self._hint_due = False
        self._hinting: asyncio.Task[None] | None = None
        # Readers' tasks that live as long as their streams, stopped with the hub at the latest.
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def transport(self) -> Transport:
        return self._transport

    def use(self, transport: Transport) -> None:
        """How hints travel, as whoever opens the engine decides (`db.engine.open_engine`)."""
        self._transport = transport

    async def publish(self, payloads: Sequence[str]) -> None:
        if payloads:
            await self._transport.publish(payloads)

    def hint_chat_events(self) -> None:
        """After a commit that logged chat events: this process's reader wakes at once, the
        others' once the hint arrives. The write does not wait for it; hints sent while one is
        on its way go as one."""
        self.chat_events.wake()
        self._hint_due = True
        if self._hinting is None or self._hinting.done():
            self._hinting = asyncio.create_task(self._send_chat_hints())

    async def _send_chat_hints(self) -> None:
        while self._hint_due:
            self._hint_due = False
            await self._transport.publish([TAIL_HINT])

    def deliver(self, payload: str) -> None:
        """Decoded once, for whoever listens. A payload that is not a hint (anyone who can
        publish on the channel can send one) stands for a lost hint: logged, and every reader
        reads its log."""
        if payload == TAIL_HINT:
            self.chat_events.wake()
            return
        try:
            if not payload.startswith(HINT):
                raise ValueError("not a hint")
            watchers = self._watchers.get(payload[1:37])
            if watchers:
                hint = decode_hint(payload)
                for watcher in list(watchers):
                    watcher.put(hint)
        except UNREADABLE as exc:
            self.unreadable(type(exc).__name__)

    def unreadable(self, reason: str) -> None:
        """A message that is not a hint reached this process: whatever it stood for is lost."""
        logger.warning("an event that cannot be read was dropped", extra={"reason": reason})
        self.lose_all()

    def lose_all(self) -> None:
        """Hints may have been missed: every reader reads its log now."""
        self.chat_events.wake()
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

    async def close(self, *, within: float) -> None:
        for task in [self._hinting, *self.tasks]:
            if task is not None:
                task.cancel()
        self.tasks.clear()
        await self._transport.close(within=within)


class InProcess:
    """SQLite's: one process, so the commit hands its hints straight to the hub."""

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub

    async def publish(self, payloads: Sequence[str]) -> None:
        for payload in payloads:
            self._hub.deliver(payload)

    async def listen(self) -> None:
        return None

    async def close(self, *, within: float) -> None:
        return None

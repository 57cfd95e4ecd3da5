"""The accounts' chat events, followed: from a reader's place in the log, then live, each event
once and in the log's order.

One reader per process (`Tail`) reads the whole log as it grows, woken by hints (a write of this
process, Redis, NOTIFY) and at least every TAIL_POLL_SECONDS whatever the hints, and hands each
event to the followers of its account. A follower catches up from the log by itself first, and
again whenever it fell behind (its queue overflowed, the tail's read failed): the tail's events
at or before its place are skipped, so nothing is seen twice and nothing is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from uuid import UUID
from weakref import WeakKeyDictionary

from db import event_log
from db.engine import current_engine
from db.event_log import LoggedEvent, Position, Since
from db.events import QUEUE_SIZE, EventHub

# A hint lost on the way (Redis dropped it, NOTIFY's connection broke) costs a follower at most
# this long.
TAIL_POLL_SECONDS = 1.0
BATCH = 500


class Follower:
    def __init__(self) -> None:
        # The tail's events of the account; None when the tail could not read the log.
        self.queue: asyncio.Queue[LoggedEvent | None] = asyncio.Queue(QUEUE_SIZE)
        self.behind = False

    def put(self, event: LoggedEvent | None) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.behind = True

    def drain(self) -> None:
        """Forgets what is queued: a catch-up from the log reads it again."""
        self.behind = False
        while not self.queue.empty():
            self.queue.get_nowait()


class Tail:
    """This process's one reader of the whole log, for as long as anyone follows it."""

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub
        self._followers: dict[UUID, set[Follower]] = {}
        self._position: Position | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def follow(self, account_id: UUID) -> AsyncIterator[Follower]:
        """The account's events the tail reads from now on. The tail's place is known before
        this returns: a follower's catch-up, which starts after, reaches at least that far."""
        follower = Follower()
        self._followers.setdefault(account_id, set()).add(follower)
        try:
            async with self._lock:
                if self._position is None:
                    self._position = (await event_log.horizon_now()).position
                if self._task is None:
                    self._task = asyncio.create_task(self._run())
                    self._hub.tasks.add(self._task)
                    self._task.add_done_callback(self._hub.tasks.discard)
            yield follower
        finally:
            followers = self._followers[account_id]
            followers.discard(follower)
            if not followers:
                del self._followers[account_id]
            if not self._followers and self._task is not None:
                self._task.cancel()
                self._task, self._position = None, None

    async def _run(self) -> None:
        wakeup = self._hub.chat_events
        listening: asyncio.Task[None] | None = None
        while True:
            if listening is None or listening.done():
                # Hints from other processes, once their transport starts (it returns at once
                # while it runs); in the background, so that a Redis that hangs delays nothing.
                listening = asyncio.create_task(self._listen())
            seen = wakeup.count
            assert self._position is not None
            try:
                batch = await event_log.read_all(self._position, BATCH)
            except Exception:  # the followers find out by reading the log themselves
                for followers in list(self._followers.values()):
                    for follower in followers:
                        follower.put(None)
                await wakeup.wait(seen, TAIL_POLL_SECONDS)
                continue
            for account_id, event in batch:
                self._position = event.position
                for follower in self._followers.get(account_id, ()):
                    follower.put(event)
            if len(batch) < BATCH:
                await wakeup.wait(seen, TAIL_POLL_SECONDS)

    async def _listen(self) -> None:
        with contextlib.suppress(Exception):  # Redis or NOTIFY away: the timer alone, meanwhile
            await self._hub.transport.listen()


_tails: WeakKeyDictionary[EventHub, Tail] = WeakKeyDictionary()


def _tail() -> Tail:
    hub = current_engine().hub
    tail = _tails.get(hub)
    if tail is None:
        tail = _tails[hub] = Tail(hub)
    return tail


async def follow(account_id: UUID, since: Since) -> AsyncGenerator[tuple[LoggedEvent, Since], None]:
    """The account's events after `since`, each with the place after it; raises
    DatabaseUnavailable when the log cannot be read."""
    async with _tail().follow(account_id) as follower:
        while True:
            follower.drain()
            while True:
                read = await event_log.read_account(account_id, since.position, BATCH)
                for event in read:
                    skipped, since = since.skips(event), since.passed(event)
                    if not skipped:
                        yield event, since
                if len(read) < BATCH:
                    break
            while True:
                live = await follower.queue.get()
                if live is None or follower.behind:
                    break
                if live.position <= since.position:
                    continue
                skipped, since = since.skips(live), since.passed(live)
                if not skipped:
                    yield live, since

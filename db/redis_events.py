"""Hints through Redis Pub/Sub, when replicas share a Redis (`REDIS_URL`).

A write publishes its hints after its commit, through the fail-open guard of
`db/redis_client.py` (within `REDIS_TIMEOUT`; the hint that chat events were logged leaves in the
background, and the write does not wait for it). Every process that has readers listens on one
connection of its own to one channel.

Pub/Sub delivers at most once, and that is all a hint needs: the logs are the record. A hint that
could not be published, or a listening connection that breaks or goes silent, makes this
process's readers read their logs at once; the other processes' readers read theirs on their
timer. Nobody's stream ends for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import redis.asyncio
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from db.events import CHANNEL, EventHub, EventsUnavailable
from db.redis_client import SharedState

# A subscriber may wait this long for its stream to start; a write never waits for its event
# longer than REDIS_TIMEOUT.
LISTEN_SECONDS = 3.0
# A quiet listening connection is pinged this often, and counts as lost once it has heard nothing,
# not even a pong, this long: a partition never closes it.
PING_SECONDS = 1.0
SILENT_SECONDS = 3.0


def channel_of(shared: SharedState) -> str:
    # Pub/Sub channels are global to a Redis server, unlike keys: the database number in the name
    # keeps apart the deployments (and test runs) that share one Redis on different numbers.
    number = shared.pool.connection_kwargs.get("db", 0)
    return f"chats-api:{number}:{CHANNEL}"


class RedisPubSub:
    def __init__(self, hub: EventHub, shared: SharedState) -> None:
        self._hub = hub
        self._shared = shared
        self.channel = channel_of(shared)
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def publish(self, payloads: Sequence[str]) -> None:
        async def send(client: redis.asyncio.Redis) -> bool:
            if len(payloads) == 1:
                await client.publish(self.channel, payloads[0])
                return True
            async with client.pipeline(transaction=False) as pipeline:
                for payload in payloads:
                    pipeline.publish(self.channel, payload)
                await pipeline.execute()
            return True

        if not await self._shared.run(send, False):
            self._hub.lose_all()  # this process's readers read their logs now

    async def listen(self) -> None:
        async with self._lock:
            if self._reader is not None and not self._reader.done():
                return
            if self._shared.resting:
                raise EventsUnavailable("redis is away")
            client = redis.asyncio.Redis.from_url(
                self._shared.url,
                socket_connect_timeout=LISTEN_SECONDS,
                # A broken connection is never quietly reconnected: events were missed meanwhile.
                retry=Retry(NoBackoff(), 0),
            )
            pubsub = client.pubsub()
            try:
                async with asyncio.timeout(LISTEN_SECONDS):
                    await pubsub.subscribe(self.channel)
                    # Events published from now on reach this process once Redis confirmed.
                    while await pubsub.get_message(timeout=LISTEN_SECONDS) is None:
                        pass
            except (RedisError, OSError, TimeoutError) as exc:
                await _close(client, pubsub)
                self._shared.failed(exc)
                raise EventsUnavailable("redis is not reachable") from exc
            self._shared.answered()
            self._reader = asyncio.create_task(self._read(client, pubsub))

    async def _read(self, client: redis.asyncio.Redis, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        try:
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=PING_SECONDS
                )
                if message is None:
                    if loop.time() - heard >= SILENT_SECONDS:
                        raise TimeoutError("the listening connection went silent")
                    await pubsub.ping()
                    continue
                heard = loop.time()
                if message["type"] != "message":
                    continue  # a pong
                data: bytes = message["data"]
                try:
                    text = data.decode()
                except UnicodeDecodeError:
                    self._hub.unreadable("not UTF-8")
                    continue
                self._hub.deliver(text)
        except (RedisError, OSError, TimeoutError) as exc:
            self._shared.failed(exc)
            self._hub.lose_all()
        finally:
            await _close(client, pubsub)

    async def close(self, *, within: float) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(reader, within)


async def _close(client: redis.asyncio.Redis, pubsub: PubSub) -> None:
    # Closing a connection to a silent server must not hang whoever closes it.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()

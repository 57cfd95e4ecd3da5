"""Automatic persisted queries (Apollo's APQ): documents by their SHA-256.

The most recently used documents are kept in this worker's memory. With Redis (REDIS_URL) every
document registered by any worker or replica is shared for a day, at most SHARED_DOCUMENTS of
them; while Redis is away, an unknown hash answers PersistedQueryNotFound and the client sends the
document again, as it does for any unknown hash.
"""

from __future__ import annotations

import time

import redis.asyncio
from cachetools import LRUCache

from db.shared import SharedState

LOCAL_DOCUMENTS = 1000
SHARED_DOCUMENTS = 10_000
SHARED_TTL_SECONDS = 24 * 3600
_PREFIX = "chats_api:apq:"
_INDEX = "chats_api:apq-index"  # hashes by registration time, to keep the newest only


class PersistedQueries:
    def __init__(self, shared: SharedState | None = None) -> None:
        self._local: LRUCache[str, str] = LRUCache(LOCAL_DOCUMENTS)
        self._shared = shared

    async def get(self, digest: str) -> str | None:
        document = self._local.get(digest)
        if document is None and self._shared is not None:
            found = await self._shared.run(lambda r: r.get(_PREFIX + digest), None)
            if found is not None:
                document = found.decode() if isinstance(found, bytes) else str(found)
                self._local[digest] = document
        return document

    async def put(self, digest: str, document: str) -> None:
        self._local[digest] = document
        if self._shared is not None:

            async def register(client: redis.asyncio.Redis) -> None:
                async with client.pipeline(transaction=False) as pipe:
                    pipe.set(_PREFIX + digest, document, ex=SHARED_TTL_SECONDS)
                    pipe.zadd(_INDEX, {digest: time.time()})
                    pipe.zcard(_INDEX)
                    *_, size = await pipe.execute()
                if size > SHARED_DOCUMENTS:
                    evicted: list[tuple[bytes, float]] = await client.zpopmin(  # type: ignore[assignment]
                        _INDEX, size - SHARED_DOCUMENTS
                    )
                    await client.delete(*(_PREFIX.encode() + name for name, _ in evicted))

            await self._shared.run(register, None)

"""Automatic persisted queries in Redis, shared by every worker and replica: each for a day, the
newest SHARED_DOCUMENTS of them. Fails open (`SharedState.run`): while Redis is away a document is
neither found nor stored, and its client sends it again."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis.asyncio

    from db.redis_client import SharedState

SHARED_DOCUMENTS = 10_000
SHARED_TTL_SECONDS = 24 * 3600
_PREFIX = "chats_api:apq:"
_INDEX = "chats_api:apq-index"  # hashes by registration time, to keep the newest only


class SharedDocuments:
    def __init__(self, shared: SharedState) -> None:
        self._shared = shared

    async def get(self, digest: str) -> str | None:
        found = await self._shared.run(lambda r: r.get(_PREFIX + digest), None)
        if found is None:
            return None
        return found.decode() if isinstance(found, bytes) else str(found)

    async def put(self, digest: str, document: str) -> None:
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

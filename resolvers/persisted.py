"""Automatic persisted queries (Apollo's APQ): documents by their SHA-256.

The most recently used documents are kept in this worker's memory. With Redis (REDIS_URL) every
document registered by any worker or replica is shared for a day, at most SHARED_DOCUMENTS of
them; while Redis is away, an unknown hash answers PersistedQueryNotFound and the client sends the
document again, as it does for any unknown hash.

A document is registered only up to MAX_DOCUMENT_BYTES (comments count), and each caller registers
at most `registrations` documents (APQ_REGISTRATIONS): the store is bounded in bytes, and no caller
can fill it for the others. A document not registered still runs; its client sends it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachetools import LRUCache
from limits import parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from db.persisted_queries import SharedDocuments
from resolvers.auth import fail_open, limit_storage
from resolvers.models import Caller

if TYPE_CHECKING:
    from db.redis_client import SharedState

LOCAL_DOCUMENTS = 1000
MAX_DOCUMENT_BYTES = 4096
REGISTRATIONS = "100/hour"  # per caller


class PersistedQueries:
    def __init__(
        self, shared: SharedState | None = None, registrations: str = REGISTRATIONS
    ) -> None:
        self._local: LRUCache[str, str] = LRUCache(LOCAL_DOCUMENTS)
        self._shared = shared
        self._store = SharedDocuments(shared) if shared is not None else None
        self._registrations = parse(registrations)
        self._limiter = SlidingWindowCounterRateLimiter(limit_storage(shared))

    async def register(self, caller: Caller, digest: str, document: str) -> bool:
        """Stores a document that ran for `caller`, within the size and the caller's budget of
        registrations (counted in Redis with the rate limits, failing open while it is away:
        this worker's store is bounded anyway)."""
        if len(document.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
            return False
        allowed = await fail_open(
            self._shared,
            lambda: self._limiter.hit(self._registrations, "apq", caller.rate_key),
            fallback=True,
        )
        if allowed:
            await self.put(digest, document)
        return allowed

    async def get(self, digest: str) -> str | None:
        document = self._local.get(digest)
        if document is None and self._store is not None:
            document = await self._store.get(digest)
            if document is not None:
                self._local[digest] = document
        return document

    async def put(self, digest: str, document: str) -> None:
        self._local[digest] = document
        if self._store is not None:
            await self._store.put(digest, document)

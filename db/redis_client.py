"""What replicas must agree on beyond the database: Redis, when REDIS_URL is set.

Redis holds the per-key rate limit and the persisted-query store, and carries live chat events
(`db/redis_events.py`). It is never in the way: every operation has a short deadline, and while
Redis is unreachable, stopped or slow, callers get their fallback at once (the rate limit fails
open, an unknown persisted query is sent again, an event is not sent and its subscribers are told).
The outage is logged as its transitions (unreachable, then back after N s), not once per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

T = TypeVar("T")
logger = logging.getLogger("chats_api.redis")

# After a failure, Redis is left alone this long: a dead or silent Redis must not cost every
# request its deadline.
RETRY_AFTER_FAILURE_SECONDS = 1.0


class SharedState:
    """One Redis connection pool per worker, behind a fail-open guard."""

    def __init__(self, url: str, *, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.pool = redis.asyncio.ConnectionPool.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # A pooled connection Redis closed (a restart) fails once on its next use: tried
            # again at once on a new connection, within the same deadline, instead of counting as
            # a new outage just after Redis came back.
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
        self.client = redis.asyncio.Redis(connection_pool=self.pool)
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._missed = 0

    @property
    def available(self) -> bool:
        return self._down_since is None

    @property
    def resting(self) -> bool:
        """Redis failed a moment ago, and is left alone until it is tried again."""
        return self._down_since is not None and time.monotonic() < self._retry_at

    async def run(self, operation: Callable[[redis.asyncio.Redis], Awaitable[T]], fallback: T) -> T:
        """`operation` on Redis within the deadline, or `fallback` while Redis is away."""
        if self.resting:
            self._missed += 1
            return fallback
        try:
            async with asyncio.timeout(self.timeout):
                result = await operation(self.client)
        except (RedisError, OSError, TimeoutError) as exc:
            self.failed(exc)
            return fallback
        self.answered()
        return result

    def failed(self, exc: BaseException) -> None:
        """Redis did not answer (here, or on a connection of the caller's own): left alone for a
        while, and the outage's first line logged."""
        self._missed += 1
        self._retry_at = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
        if self._down_since is None:
            self._down_since = time.monotonic()
            logger.warning(
                "redis unreachable (%s): rate limits fail open, persisted queries are asked for"
                " again, live events are not sent and their subscribers are told",
                type(exc).__name__,
            )

    def answered(self) -> None:
        if self._down_since is not None:
            logger.warning(
                "redis back after %.1f s (%d operations fell back meanwhile)",
                time.monotonic() - self._down_since,
                self._missed,
            )
            self._down_since = None
            self._missed = 0

    async def close(self) -> None:
        await self.client.aclose()
        await self.pool.aclose()

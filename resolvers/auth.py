"""API keys: how they look, how a request's credentials become a Caller, and the rate limit."""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from cachetools import TTLCache
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from db import queries
from db.shared import SharedState
from resolvers.clock import now
from resolvers.errors import AmbiguousCredentials, RateLimited, Unauthenticated
from resolvers.models import Caller
from resolvers.usecase import use_case

T = TypeVar("T")

# A recognisable prefix lets secret scanners spot leaked keys.
KEY_PREFIX = "chats_"
KEY_RANDOM_BYTES = 32  # 256 bits


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_BYTES)


def hash_key(key: str) -> str:
    """Keys are high-entropy, so a fast unsalted hash is enough to make the stored value useless."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def bearer_token(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


# A key found valid is trusted this long without asking the database again, so revocation and
# expiry take effect within this time in every worker.
KEY_CACHE_SECONDS = 1.0
KEY_CACHE_SIZE = 10_000


class Authenticator:
    """Turns the credentials of a request into a Caller, then spends one unit of its rate limit.

    The limit is a sliding window counter (it never lets twice the budget through at a window's
    edge). With `shared` (Redis) one budget per key holds across every worker and replica, and
    fails open while Redis is away; without it the limit is counted in this process's memory, and
    N workers give a key up to N times the limit. Valid keys are remembered for
    KEY_CACHE_SECONDS; unknown ones are asked for every time (caching them would let anyone fill
    the cache).
    """

    def __init__(self, rate_limit: str = "", shared: SharedState | None = None) -> None:
        self._limit: RateLimitItem | None = parse(rate_limit) if rate_limit else None
        self._limiter: SlidingWindowCounterRateLimiter | None = None
        self._shared = shared
        self._valid_keys: TTLCache[str, Caller] = TTLCache(KEY_CACHE_SIZE, KEY_CACHE_SECONDS)
        self._lookups: dict[str, asyncio.Future[Caller]] = {}

    @use_case()
    async def authenticate(
        self, *, api_keys: Sequence[str], authorizations: Sequence[str]
    ) -> Caller:
        """`api_keys` and `authorizations` are every value the request sent for each header."""
        if len(api_keys) + len(authorizations) != 1:
            raise AmbiguousCredentials()
        key = api_keys[0] if api_keys else bearer_token(authorizations[0])
        if not key:
            raise Unauthenticated()
        key_hash = hash_key(key)
        caller = self._valid_keys.get(key_hash) or await self._look_up(key_hash)
        await self._spend(caller)
        return caller

    async def _look_up(self, key_hash: str) -> Caller:
        """One query per key however many requests ask at once: when a busy key's entry
        expires, every request in flight for it would otherwise query the database together.
        The lookup runs in a task of its own, so that one request cut short stops no other."""
        pending = self._lookups.get(key_hash)
        if pending is None:
            pending = asyncio.ensure_future(self._find(key_hash))
            self._lookups[key_hash] = pending
            pending.add_done_callback(lambda done: self._forget(key_hash, done))
        return await asyncio.shield(pending)

    async def _find(self, key_hash: str) -> Caller:
        row = await queries.find_active_key(key_hash, now())
        if row is None:
            raise Unauthenticated()
        caller = Caller(account_id=row["account_id"], key_id=row["id"])
        self._valid_keys[key_hash] = caller
        return caller

    def _forget(self, key_hash: str, done: asyncio.Future[Caller]) -> None:
        del self._lookups[key_hash]
        if not done.cancelled():
            done.exception()  # retrieved here too: every request waiting for it may be gone

    def _storage(self) -> Storage:
        if self._shared is None:
            return MemoryStorage()
        return RedisStorage(
            "async+redis://",  # the connection comes from the shared pool
            implementation="redispy",
            key_prefix="chats_api:limits",
            connection_pool=self._shared.pool,  # type: ignore[arg-type]  # typed as options
        )

    async def _spend(self, caller: Caller) -> None:
        if self._limit is None:
            return
        if self._limiter is None:
            self._limiter = SlidingWindowCounterRateLimiter(self._storage())
        limiter, limit, identity = self._limiter, self._limit, str(caller.key_id)
        if await self._guarded(lambda: limiter.hit(limit, identity), fallback=True):
            return
        stats = await self._guarded(lambda: limiter.get_window_stats(limit, identity), None)
        reset_in = stats.reset_time - time.time() if stats is not None else 1
        raise RateLimited(retry_after=max(1, math.ceil(reset_in)))

    async def _guarded(self, operation: Callable[[], Awaitable[T]], fallback: T) -> T:
        """In memory, as it is; in Redis, failing open to `fallback` while Redis is away."""
        if self._shared is None:
            return await operation()
        return await self._shared.run(lambda _: operation(), fallback)

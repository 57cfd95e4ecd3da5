"""API keys: how they look, how a request's credentials become a Caller, and the rate limit."""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Sequence

from cachetools import TTLCache
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from db import queries
from resolvers.clock import now
from resolvers.errors import AmbiguousCredentials, RateLimited, Unauthenticated
from resolvers.models import Caller
from resolvers.usecase import use_case

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

    The limit is counted in this process's memory: with N workers a key gets up to N times the
    limit. Valid keys are remembered for KEY_CACHE_SECONDS; unknown ones are asked for every time
    (caching them would let anyone fill the cache).
    """

    def __init__(self, rate_limit: str = "") -> None:
        self._limit: RateLimitItem | None = parse(rate_limit) if rate_limit else None
        self._limiter: SlidingWindowCounterRateLimiter | None = None
        self._valid_keys: TTLCache[str, Caller] = TTLCache(KEY_CACHE_SIZE, KEY_CACHE_SECONDS)

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
        caller = self._valid_keys.get(key_hash)
        if caller is None:
            row = await queries.find_active_key(key_hash, now())
            if row is None:
                raise Unauthenticated()
            caller = Caller(account_id=row["account_id"], key_id=row["id"])
            self._valid_keys[key_hash] = caller
        await self._spend(caller)
        return caller

    async def _spend(self, caller: Caller) -> None:
        if self._limit is None:
            return
        if self._limiter is None:
            self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        identity = str(caller.key_id)
        if not await self._limiter.hit(self._limit, identity):
            stats = await self._limiter.get_window_stats(self._limit, identity)
            raise RateLimited(retry_after=max(1, math.ceil(stats.reset_time - time.time())))

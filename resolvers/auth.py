"""API keys and access tokens: how a request's credentials become a Caller, and the rate limit."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from cachetools import TTLCache
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from db import queries
from resolvers import identities
from resolvers.clock import now
from resolvers.errors import (
    AccessDenied,
    AmbiguousCredentials,
    InvalidToken,
    RateLimited,
    ServiceError,
    Unauthenticated,
)
from resolvers.flight import SingleFlight
from resolvers.models import Caller
from resolvers.tokens import Identity, TokenVerifier, is_token
from resolvers.usecase import use_case

if TYPE_CHECKING:
    from db.redis_client import SharedState

T = TypeVar("T")
logger = logging.getLogger("chats_api.auth")

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


def limit_storage(shared: SharedState | None) -> Storage:
    """Where rate limits count: in Redis when replicas share one, else in this process."""
    if shared is None:
        return MemoryStorage()
    return RedisStorage(
        "async+redis://",  # the connection comes from the shared pool
        implementation="redispy",
        key_prefix="chats_api:limits",
        connection_pool=shared.pool,  # type: ignore[arg-type]  # typed as options
    )


async def fail_open(
    shared: SharedState | None, operation: Callable[[], Awaitable[T]], fallback: T
) -> T:
    """`operation` in memory, as it is; in Redis, failing open to `fallback` while it is away."""
    if shared is None:
        return await operation()
    return await shared.run(lambda _: operation(), fallback)


# A key found valid, or an identity's account, is trusted this long without asking the database
# again, so revocation, expiry and unlinking take effect within this time in every worker.
KEY_CACHE_SECONDS = 1.0
KEY_CACHE_SIZE = 10_000
# The cost budget's keys, apart from the operations budget's even when both read alike.
COST_NAMESPACE = "COST"


class Authenticator:
    """Turns the credentials of a request into a Caller, then spends one unit of its rate limit.

    A credential is an API key or, with `tokens` (an OpenID Connect issuer configured), a signed
    access token sent as a Bearer value: its identity is linked to an account, provisioned on
    first sight when `provision`. The caller is the account either way.

    The limit is a sliding window counter (it never lets twice the budget through at a window's
    edge), per key, or per account for tokens. With `shared` (Redis) one budget holds across
    every worker and replica, and fails open while Redis is away; without it the limit is counted
    in this process's memory, and N workers give a caller up to N times the limit. Valid keys
    and identities' accounts are remembered for KEY_CACHE_SECONDS; unknown keys are asked for
    every time (caching them would let anyone fill the cache).
    """

    def __init__(
        self,
        rate_limit: str = "",
        shared: SharedState | None = None,
        tokens: TokenVerifier | None = None,
        *,
        provision: bool = True,
        cost_rate_limit: str = "",
    ) -> None:
        self._limit: RateLimitItem | None = parse(rate_limit) if rate_limit else None
        # A second budget, of estimated cost units, counted apart from operations.
        self._units: RateLimitItem | None = None
        if cost_rate_limit:
            units = parse(cost_rate_limit)
            self._units = type(units)(units.amount, units.multiples, namespace=COST_NAMESPACE)
        self._limiter: SlidingWindowCounterRateLimiter | None = None
        self._shared = shared
        self._tokens = tokens
        self._provision = provision
        self._valid_keys: TTLCache[str, Caller] = TTLCache(KEY_CACHE_SIZE, KEY_CACHE_SECONDS)
        self._accounts: TTLCache[tuple[str, str], Caller] = TTLCache(
            KEY_CACHE_SIZE, KEY_CACHE_SECONDS
        )
        # One query per key or identity however many requests ask at once: when a busy entry
        # expires, every request in flight for it would otherwise query the database together.
        self._key_lookups: SingleFlight[str, Caller] = SingleFlight()
        self._identity_lookups: SingleFlight[tuple[str, str], Caller] = SingleFlight()

    @use_case()
    async def authenticate(
        self,
        *,
        api_keys: Sequence[str],
        authorizations: Sequence[str],
        cost: int = 1,
        units: int = 0,
        recheck: bool = False,
    ) -> Caller:
        """`api_keys` and `authorizations` are every value the request sent for each header.
        `cost` units of the rate limit are spent (a mutation's root fields); 0 checks the
        credentials without touching the limit; `units` of COST_RATE_LIMIT are spent too (an
        operation's estimated cost, a REST route's fixed one). A `recheck` (an open stream's
        caller, checked again while it lives) never provisions: an identity unlinked meanwhile is
        refused, not given a new account behind the operator's back."""
        if len(api_keys) + len(authorizations) != 1:
            raise AmbiguousCredentials()
        credential = api_keys[0] if api_keys else bearer_token(authorizations[0])
        if not credential:
            raise Unauthenticated()
        if not api_keys and self._tokens is not None and is_token(credential):
            caller = await self._token_caller(self._tokens, credential, provision=not recheck)
        else:
            caller = await self._key_caller(hash_key(credential))
        await self.spend(caller, cost, units)
        return caller

    async def still_allowed(
        self, caller: Caller, *, api_keys: Sequence[str], authorizations: Sequence[str]
    ) -> bool:
        """An open stream's credentials checked again (no rate limit spent): refused, or now
        acting as another account, the stream ends; the database away, it goes on until the next
        check."""
        try:
            again = await self.authenticate(
                api_keys=api_keys, authorizations=authorizations, cost=0, recheck=True
            )
        except (Unauthenticated, AccessDenied):
            return False
        except ServiceError:
            return True
        return again.account_id == caller.account_id

    async def _key_caller(self, key_hash: str) -> Caller:
        cached = self._valid_keys.get(key_hash)
        if cached is not None:
            return cached
        return await self._key_lookups.run(key_hash, lambda: self._find_key(key_hash))

    async def _find_key(self, key_hash: str) -> Caller:
        row = await queries.find_active_key(key_hash, now())
        if row is None:
            raise Unauthenticated()
        caller = Caller(account_id=row["account_id"], key_id=row["id"])
        self._valid_keys[key_hash] = caller
        return caller

    async def _token_caller(self, tokens: TokenVerifier, token: str, *, provision: bool) -> Caller:
        try:
            identity = await tokens.verify(token)
        except InvalidToken as refused:
            # One answer for every reason; the reason, never the token, goes to the log.
            logger.info("access token refused", extra={"reason": refused.reason})
            raise
        pair = (identity.issuer, identity.subject)
        cached = self._accounts.get(pair)
        if cached is not None:
            return cached
        provision = provision and self._provision
        return await self._identity_lookups.run(
            pair, lambda: self._find_account(identity, provision=provision)
        )

    async def _find_account(self, identity: Identity, *, provision: bool) -> Caller:
        account_id = await identities.account_for(identity, provision=provision)
        caller = Caller(account_id=account_id)
        self._accounts[(identity.issuer, identity.subject)] = caller
        return caller

    async def spend(self, caller: Caller, cost: int = 1, units: int = 0) -> None:
        """`cost` units of the caller's operations budget and `units` of its cost budget, or
        RateLimited when fewer are left (nothing spent of the budget that refused; the cost
        budget is asked first, so an operation it refuses spends nothing at all)."""
        for limit, amount in ((self._units, units), (self._limit, cost)):
            if limit is None or amount <= 0:
                continue
            if self._limiter is None:
                self._limiter = SlidingWindowCounterRateLimiter(limit_storage(self._shared))
            limiter, identity, shared = self._limiter, caller.rate_key, self._shared
            hit = partial(limiter.hit, limit, identity, cost=amount)
            if await fail_open(shared, hit, True):
                continue
            window = partial(limiter.get_window_stats, limit, identity)
            stats = await fail_open(shared, window, None)
            reset_in = stats.reset_time - time.time() if stats is not None else 1
            raise RateLimited(retry_after=max(1, math.ceil(reset_in)))

"""Access tokens: JWTs signed by the OpenID Connect issuer, verified with the keys it publishes.

RFC 8725's rules: an allow-list of asymmetric algorithms (never `none`, never HMAC, whose key
would be the issuer's public key), each key used only with an algorithm that fits it, `iss` and
`aud` always checked, `kid` only to choose among keys already trusted. Verification is PyJWT's;
fetching the key set is the caller's (`FetchKeys`), so that this module knows no HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
from cachetools import TLRUCache

from resolvers.errors import InvalidToken, ServiceUnavailable
from resolvers.flight import SingleFlight

logger = logging.getLogger("chats_api.auth")

# A JWS compact serialization: three base64url parts. The signature may be empty (`alg: none`),
# which is still a token, refused as one, rather than an API key.
JWS_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Real access tokens are a few hundred bytes to a few KiB; anything bigger is refused unread.
MAX_TOKEN_CHARS = 8192
# Algorithms that may ever verify a token, whatever OIDC_ALGORITHMS says.
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# The key type each algorithm family needs (RFC 7518), checked before PyJWT sees the key.
KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
# An unknown `kid` fetches the keys again at most this often, however many tokens ask.
REFETCH_SECONDS = 30.0
# The keys are fetched again this long after the last fetch, whatever the tokens ask (a key the
# issuer removed stops verifying), or after the key set's own max-age, within these bounds.
REFRESH_SECONDS = 600.0
MAX_REFRESH_SECONDS = 24 * 3600.0
# What a token's `typ` header may say when OIDC_TOKEN_TYPE asks for nothing in particular.
JWT_TYPES = frozenset({"jwt", "application/jwt", "at+jwt", "application/at+jwt"})
NUMERIC_DATES = ("exp", "nbf", "iat")
# After a failed fetch, the issuer is asked again no sooner than this (the 503's Retry-After).
RETRY_SECONDS = 5.0
VERIFIED_CACHE_SIZE = 10_000
MAX_NAME_CHARS = 200


def is_token(credential: str) -> bool:
    """A Bearer value shaped as a JWS is an access token; anything else is an API key (keys
    never hold a dot)."""
    return JWS_COMPACT.fullmatch(credential) is not None


class IssuerUnreachable(Exception):
    """The issuer did not answer, or not in time, or answered with an error status."""


class KeySetInvalid(Exception):
    """The issuer answered, but not with a usable JSON Web Key Set."""


@dataclass(frozen=True, slots=True)
class KeySet:
    """The issuer's JWKS document, and how long it may be kept (its Cache-Control max-age)."""

    document: bytes
    max_age: float | None = None


# Returns the issuer's key set; raises IssuerUnreachable or KeySetInvalid.
FetchKeys = Callable[[], Awaitable[KeySet]]


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified token's identity, `(issuer, subject)`, and what a new account is named."""

    issuer: str
    subject: str
    name: str
    expires_at: float  # the token's `exp`, in seconds since the epoch


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    issuer: str
    audience: str
    algorithms: frozenset[str]
    leeway: float = 30.0
    token_type: str = ""  # the `typ` tokens must carry; empty: any that names a JWT, or none

    @classmethod
    def of(
        cls,
        issuer: str,
        audience: str,
        algorithms: tuple[str, ...],
        leeway: float,
        token_type: str = "",
    ) -> TokenPolicy:
        if not audience:
            raise ValueError("OIDC_AUDIENCE is required with OIDC_ISSUER")
        allowed = frozenset(algorithms) & ASYMMETRIC
        if not allowed:
            raise ValueError(f"OIDC_ALGORITHMS allows none of {', '.join(sorted(ASYMMETRIC))}")
        return cls(
            issuer=issuer,
            audience=audience,
            algorithms=allowed,
            leeway=leeway,
            token_type=token_type.strip(),
        )


class IssuerKeys:
    """The issuer's published keys, kept per process. A `kid` not among them fetches the set
    again, at most once every REFETCH_SECONDS (one fetch however many requests ask; the others
    wait for it); after a fetch that failed, once every RETRY_SECONDS. Past REFRESH_SECONDS (or
    the set's own max-age) the set is fetched again in the background while the keys held go on
    verifying; a key the issuer no longer publishes then verifies nothing. A fetch that fails
    keeps the keys held so far."""

    def __init__(
        self,
        fetch: FetchKeys,
    ) -> None:
        self._fetch = fetch
        self._keys: dict[str | None, dict[str, Any]] = {}
        self._fetched_at = -float("inf")
        self._refresh_after = REFRESH_SECONDS
        self._failed = False
        self._flight: SingleFlight[None, None] = SingleFlight()
        self._background: asyncio.Task[None] | None = None

    def holds(self, jwk: dict[str, Any]) -> bool:
        """Whether this key is still among those the issuer publishes."""
        return jwk in self._keys.values()

    async def key(self, kid: str | None) -> dict[str, Any]:
        """The JWK named `kid` (or the only key, for a token that names none)."""
        found = self._find(kid)
        if found is not None:
            return found
        waited = time.monotonic() - self._fetched_at
        # A fetch under way is joined whatever the interval: it may bring the key.
        if self._flight.running(None) or waited >= (
            RETRY_SECONDS if self._failed else REFETCH_SECONDS
        ):
            await self._flight.run(None, self._refresh)
            found = self._find(kid)
            if found is not None:
                return found
        if self._failed:
            raise ServiceUnavailable()  # the user did nothing wrong: the issuer is away
        raise InvalidToken("unknown_kid")

    def refresh_if_stale(self) -> None:
        """Starts fetching the set again in the background once it has aged."""
        fetched_at = self._fetched_at
        stale = time.monotonic() - fetched_at >= self._refresh_after
        # Never fetched: the first key asked for fetches, and is waited for.
        if stale and fetched_at > -float("inf") and not self._flight.running(None):
            self._background = asyncio.create_task(self._flight.run(None, self._refresh))

    async def close(self) -> None:
        """Stops a background fetch (the HTTP client it uses is about to close)."""
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background

    def _find(self, kid: str | None) -> dict[str, Any] | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid) if kid is not None else None

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            fetched = await self._fetch()
            keys = parse_key_set(fetched.document)
        except IssuerUnreachable as exc:
            self._failed = True
            logger.warning("identity provider unreachable: %s", exc)
            return
        except KeySetInvalid as exc:
            # An answer, but not one to trust: keep what we had, as for an outage, but the
            # tokens it cannot verify are refused (the issuer, not the network, is at fault).
            self._failed = False
            logger.error("identity provider's key set refused: %s", exc)
            return
        if self._failed:
            logger.info("identity provider reachable again")
        self._failed = False
        self._keys = keys
        max_age = fetched.max_age if fetched.max_age is not None else REFRESH_SECONDS
        self._refresh_after = min(max(max_age, REFETCH_SECONDS), MAX_REFRESH_SECONDS)


def parse_key_set(document: bytes) -> dict[str | None, dict[str, Any]]:
    """The signing keys of a JWKS document by `kid`; raises KeySetInvalid."""
    try:
        data = orjson.loads(document)
    except orjson.JSONDecodeError:
        raise KeySetInvalid("not JSON") from None
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list):
        raise KeySetInvalid("no `keys` list")
    usable: dict[str | None, dict[str, Any]] = {}
    for jwk in keys:
        if (
            isinstance(jwk, dict)
            and jwk.get("kty") in KEY_TYPE.values()
            and jwk.get("use", "sig") == "sig"
            and isinstance(jwk.get("kid", ""), str)
            and "d" not in jwk  # a private key published by mistake is no key to trust
        ):
            usable[jwk.get("kid")] = jwk
    if not usable:
        raise KeySetInvalid("no signing keys")
    return usable


class TokenVerifier:
    """Verifies access tokens. A verified token is remembered by its digest until it expires (a
    bounded cache), so that a signed-in request costs what a key's does."""

    def __init__(self, policy: TokenPolicy, keys: IssuerKeys) -> None:
        self.policy = policy
        self._keys = keys
        # Kept as long as a fresh verification would accept it: until `exp` plus the leeway,
        # with the key that verified it (a key the issuer stops publishing verifies it no more).
        self._verified: TLRUCache[bytes, tuple[Identity, dict[str, Any]]] = TLRUCache(
            VERIFIED_CACHE_SIZE,
            ttu=lambda _digest, verified, _now: verified[0].expires_at + policy.leeway,
            timer=time.time,
        )
        self._prepared: dict[tuple[str, str], jwt.PyJWK] = {}

    async def verify(self, token: str) -> Identity:
        """The token's identity; InvalidToken (with the reason, for the log) or, when the issuer
        is unreachable and no kept key can verify it, ServiceUnavailable."""
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("too_large")
        digest = hashlib.sha256(token.encode("ascii", "replace")).digest()
        verified = self._verified.get(digest)
        self._keys.refresh_if_stale()
        if verified is None or not self._keys.holds(verified[1]):
            verified = self._verified[digest] = await self._verify(token)
        return verified[0]

    async def _verify(self, token: str) -> tuple[Identity, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if not isinstance(algorithm, str) or algorithm not in self.policy.algorithms:
            raise InvalidToken("algorithm")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("malformed")
        self._check_type(header.get("typ"))
        jwk = await self._keys.key(kid)
        key = self._prepare(jwk, algorithm)
        policy = self.policy
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=policy.audience,
                issuer=policy.issuer,
                leeway=policy.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(_reason(exc)) from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not 0 < len(subject) <= 255:
            raise InvalidToken("subject")
        # PyJWT reads a date that is a numeric string as a number; RFC 7519 says NumericDate.
        if any(name in claims and not _is_numeric_date(claims[name]) for name in NUMERIC_DATES):
            raise InvalidToken("malformed")
        if "nonce" in claims:
            raise InvalidToken("id_token")  # an ID token proves a sign-in to its client only
        identity = Identity(
            issuer=policy.issuer,
            subject=subject,
            name=_display_name(claims),
            expires_at=float(claims["exp"]),
        )
        return identity, jwk

    def _check_type(self, typ: object) -> None:
        """`typ` is OIDC_TOKEN_TYPE's where one is set (`at+jwt`, RFC 9068, also with its
        `application/` prefix); else, when present, one that names a JWT."""
        if typ is None and not self.policy.token_type:
            return
        if not isinstance(typ, str):
            raise InvalidToken("type")
        typ = typ.lower()
        wanted = self.policy.token_type.lower()
        allowed = {wanted, f"application/{wanted}"} if wanted else JWT_TYPES
        if typ not in allowed:
            raise InvalidToken("type")

    async def close(self) -> None:
        await self._keys.close()

    def _prepare(self, jwk: dict[str, Any], algorithm: str) -> jwt.PyJWK:
        """The key for this algorithm, when the key allows it: its type fits the algorithm's
        family and, where it names one, its own `alg` is this one."""
        if KEY_TYPE.get(algorithm[:2]) != jwk.get("kty") or jwk.get("alg", algorithm) != algorithm:
            raise InvalidToken("algorithm")
        cache_key = (orjson.dumps(jwk, option=orjson.OPT_SORT_KEYS).decode(), algorithm)
        prepared = self._prepared.get(cache_key)
        if prepared is None:
            try:
                prepared = jwt.PyJWK(jwk, algorithm=algorithm)
            except jwt.PyJWTError:
                raise InvalidToken("algorithm") from None
            if len(self._prepared) > 64:
                self._prepared.clear()  # keys rotate; the set in use is small
            self._prepared[cache_key] = prepared
        return prepared


_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "audience"),
    (jwt.InvalidIssuerError, "issuer"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidSignatureError, "signature"),
    (jwt.InvalidAlgorithmError, "algorithm"),
)


def _reason(exc: jwt.PyJWTError) -> str:
    for error_class, reason in _REASONS:
        if isinstance(exc, error_class):
            return reason
    return "malformed"


def _is_numeric_date(value: object) -> bool:
    """RFC 7519's NumericDate: a JSON number (JSON's true and false are Python ints)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _display_name(claims: dict[str, Any]) -> str:
    """A new account's name: the token's `name`, else `email`, else `sub`, without control or
    bidirectional characters, at most 200 characters."""
    for claim in ("name", "email", "sub"):
        value = claims.get(claim)
        if isinstance(value, str):
            cleaned = "".join(c for c in value if unicodedata.category(c)[0] != "C").strip()
            if cleaned:
                return cleaned[:MAX_NAME_CHARS]
    return "user"

"""Signed-in users: access tokens from an OpenID Connect issuer, on both protocols and engines.

The issuer here is a stand-in in this process (tests/support/issuer.py), so that a test can sign
hostile tokens and break, slow down or stop the issuer at will; the real provider's tokens, login
and restarts are in tests/system/test_signed_in.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from resolvers import identities, tokens
from tests.support.api import Api, assert_stored
from tests.support.apps import AppFactory, http_client, make_api
from tests.support.databases import Database
from tests.support.issuer import (
    AUDIENCE,
    SigningKey,
    StandInIssuer,
    b64,
    hmac_with_public_key,
    resigned_claims,
    unsigned,
)
from tests.support.world import build_world

pytestmark = pytest.mark.anyio
UNAUTHORIZED = (401, "Unauthorized")
INVALID_TOKEN = 'Bearer error="invalid_token"'
NOT_LINKED = (403, "No account is linked to this identity")
BLOCKED = (403, "This identity is blocked")


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def signed_in(
    protocol: str, app_for: AppFactory, issuer: StandInIssuer, request: pytest.FixtureRequest
) -> AsyncIterator[Api]:
    """The protocol's client on an app that accepts the stand-in issuer's tokens; a test's
    `settings` marker adds settings."""
    marker = request.node.get_closest_marker("settings")
    overrides: dict[str, Any] = marker.kwargs if marker else {}
    async with app_for(**issuer.settings(**overrides)) as app, http_client(app) as client:
        yield make_api(protocol, client)


async def stored_identities(database: Database) -> list[dict[str, Any]]:
    return await database.fetch(
        "SELECT i.issuer, i.subject, a.id, a.name, a.kind"
        " FROM identities i JOIN accounts a ON a.id = i.account_id"
    )


async def test_a_signed_in_user_gets_an_account_on_the_first_request(
    signed_in: Api, database: Database, issuer: StandInIssuer
) -> None:
    first = await signed_in.create_chat(
        {"topic": "Signed in"}, headers=bearer(issuer.token("ada", name="Ada Lovelace"))
    )
    assert first.status == 200, first
    assert first.chat is not None
    await assert_stored(database, first)
    [identity] = await stored_identities(database)
    assert identity == {
        "issuer": issuer.url,
        "subject": "ada",
        "id": first.chat["accountId"],
        "name": "Ada Lovelace",
        "kind": "user",
    }
    # Another token of the same user (an EC key this time) acts as the same account.
    again = await signed_in.create_chat(
        {}, headers=bearer(issuer.token("ada", key=issuer.keys[1], jti="second"))
    )
    assert again.status == 200
    assert again.chat is not None
    assert again.chat["accountId"] == first.chat["accountId"]
    assert await database.count("accounts") == 1
    assert await database.count("identities") == 1


@pytest.mark.parametrize(
    ("claims", "name"),
    [
        pytest.param({"name": "Ada", "email": "ada@example.com"}, "Ada", id="name"),
        pytest.param({"email": "ada@example.com"}, "ada@example.com", id="email"),
        pytest.param({}, "ada", id="subject"),
        pytest.param({"name": "A\u202eda\u200b\x00"}, "Ada", id="controls-removed"),
        pytest.param({"name": "x" * 500}, "x" * 200, id="cut-to-200"),
    ],
)
async def test_a_new_account_is_named_after_the_token(
    signed_in: Api, database: Database, issuer: StandInIssuer, claims: dict[str, Any], name: str
) -> None:
    outcome = await signed_in.viewer(bearer(issuer.token("ada", **claims)))
    assert outcome.status == 200
    assert outcome.account is not None
    assert outcome.account["name"] == name
    assert outcome.account["kind"] == "user"


async def test_concurrent_first_requests_of_one_identity_make_one_account(
    signed_in: Api, database: Database, issuer: StandInIssuer
) -> None:
    outcomes = await asyncio.gather(
        *(
            signed_in.create_chat({}, headers=bearer(issuer.token("eve", jti=str(n))))
            for n in range(16)
        )
    )
    assert [o.status for o in outcomes] == [200] * 16
    assert len({o.chat["accountId"] for o in outcomes if o.chat}) == 1
    assert await database.count("accounts") == 1
    assert await database.count("identities") == 1
    assert await database.count("chats") == 16


def _hostile(issuer: StandInIssuer, case: str, stranger: SigningKey) -> str:
    """Each a token the service must refuse."""
    now = int(time.time())
    rsa = issuer.keys[0]
    builders: dict[str, Callable[[], str]] = {
        "alg-none": lambda: unsigned(issuer),
        "hs256-keyed-with-the-public-key": lambda: hmac_with_public_key(issuer),
        "signature-over-other-claims": lambda: resigned_claims(issuer),
        "wrong-issuer": lambda: issuer.token(iss="https://evil.example"),
        "wrong-audience": lambda: issuer.token(aud="https://other-api.example"),
        "audience-list-without-ours": lambda: issuer.token(aud=["https://a.example", "b"]),
        "expired": lambda: issuer.token(exp=now - 120),
        "expired-within-a-second-past-the-leeway": lambda: issuer.token(exp=now - 32),
        "not-yet-valid": lambda: issuer.token(nbf=now + 120),
        "issued-in-the-future": lambda: issuer.token(iat=now + 120),
        "no-sub": lambda: issuer.token(None),
        "empty-sub": lambda: issuer.token(""),
        "sub-not-a-string": lambda: issuer.token(42),  # type: ignore[arg-type]
        "no-exp": lambda: issuer.token(exp=None, lifetime=0),
        "kid-nobody-published": lambda: issuer.token(key=stranger),
        "published-kid-other-key": lambda: issuer.token(
            key=SigningKey(rsa.kid, "RS256", stranger.private)
        ),
        "alg-that-does-not-fit-the-key": lambda: issuer.token(
            key=SigningKey(rsa.kid, "ES256", issuer.keys[1].private)
        ),
        "three-parts-of-garbage": lambda: "abc.def.ghi",
        "header-not-json": lambda: f"{b64(b'not json')}.{b64({'sub': 'x'})}.c2ln",
        "100-kib": lambda: issuer.token(padding="x" * 100 * 1024),
        "exp-a-string": lambda: issuer.token(exp=str(now + 300)),
        "nbf-a-string": lambda: issuer.token(nbf=str(now - 10)),
        "iat-a-boolean": lambda: issuer.token(iat=True),
        "an-id-token": lambda: issuer.token(nonce="n-0S6_WzA2Mj", azp="spa"),
        "typ-jwe": lambda: issuer.token(headers={"typ": "JWE"}),
    }
    return builders[case]()


HOSTILE = {
    "alg-none": "algorithm",
    "hs256-keyed-with-the-public-key": "algorithm",
    "signature-over-other-claims": "signature",
    "wrong-issuer": "issuer",
    "wrong-audience": "audience",
    "audience-list-without-ours": "audience",
    "expired": "expired",
    "expired-within-a-second-past-the-leeway": "expired",
    "not-yet-valid": "not_yet_valid",
    "issued-in-the-future": "not_yet_valid",
    "no-sub": "missing_claim",
    "empty-sub": "subject",
    "sub-not-a-string": "malformed",
    "no-exp": "missing_claim",
    "kid-nobody-published": "unknown_kid",
    "published-kid-other-key": "signature",
    "alg-that-does-not-fit-the-key": "algorithm",
    "three-parts-of-garbage": "malformed",
    "header-not-json": "malformed",
    "100-kib": "too_large",
    "exp-a-string": "malformed",
    "nbf-a-string": "malformed",
    "iat-a-boolean": "malformed",
    "an-id-token": "id_token",
    "typ-jwe": "type",
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_hostile_token_is_refused_alike_and_writes_nothing(
    signed_in: Api,
    database: Database,
    issuer: StandInIssuer,
    signing_keys: list[SigningKey],
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    token = _hostile(issuer, case, stranger=signing_keys[2])
    with caplog.at_level(logging.INFO, logger="chats_api.auth"):
        outcome = await signed_in.create_chat({"topic": "forged"}, headers=bearer(token))
        viewer = await signed_in.viewer(bearer(token))
    assert outcome.error == UNAUTHORIZED
    assert viewer.error == UNAUTHORIZED
    if signed_in.name == "rest":
        assert outcome.headers["www-authenticate"] == INVALID_TOKEN
        assert viewer.headers["www-authenticate"] == INVALID_TOKEN
    assert await database.counts() == {"sessions": 0, "chats": 0}
    assert await database.count("accounts") == 0
    assert await database.count("identities") == 0
    refusals = [r for r in caplog.records if r.getMessage() == "access token refused"]
    assert [getattr(r, "reason", None) for r in refusals] == [HOSTILE[case]] * 2
    # The log says why, and never holds the token.
    assert all(token[-20:] not in r.getMessage() + str(r.__dict__) for r in caplog.records)


async def test_a_bearer_token_is_an_api_key_when_no_issuer_is_configured(
    api: Api, issuer: StandInIssuer
) -> None:
    outcome = await api.create_chat({}, headers=bearer(issuer.token()))
    assert outcome.error == UNAUTHORIZED
    assert "www-authenticate" not in outcome.headers


async def test_the_api_key_header_always_carries_a_key(
    signed_in: Api, issuer: StandInIssuer
) -> None:
    outcome = await signed_in.create_chat({}, headers={"x-api-key": issuer.token()})
    assert outcome.error == UNAUTHORIZED
    assert "www-authenticate" not in outcome.headers


async def test_keys_and_tokens_side_by_side(
    signed_in: Api, database: Database, issuer: StandInIssuer
) -> None:
    world = await build_world()
    key_viewer = await signed_in.viewer({"x-api-key": world.keys["alice"]})
    assert key_viewer.account == {"id": str(world.alice), "name": "Alice", "kind": "user"}
    both = {"x-api-key": world.keys["alice"], **bearer(issuer.token())}
    outcome = await signed_in.create_chat({}, headers=both)
    assert outcome.error == (401, "Exactly one of x-api-key or Authorization must be provided")


@pytest.mark.settings(oidc_provision=False)
async def test_without_provisioning_an_identity_acts_once_linked(
    signed_in: Api, database: Database, issuer: StandInIssuer
) -> None:
    world = await build_world()
    accounts = await database.count("accounts")
    token = issuer.token("alice-at-idp")
    outcome = await signed_in.create_chat({"topic": "x"}, headers=bearer(token))
    assert outcome.error == NOT_LINKED
    assert (await signed_in.viewer(bearer(token))).error == NOT_LINKED
    assert await database.counts() == {"sessions": 0, "chats": 0}
    assert await database.count("accounts") == accounts
    assert await database.count("identities") == 0

    await identities.link(str(world.alice), issuer.url, "alice-at-idp")
    await asyncio.sleep(1.1)  # the refusal is not cached, but be fair to the key cache's second
    # The linked account is the caller, under the same access rules as its key.
    mine = await signed_in.create_chat({"topic": "mine"}, headers=bearer(token))
    assert mine.status == 200
    assert mine.chat is not None
    assert mine.chat["accountId"] == str(world.alice)
    for_label = await signed_in.create_chat({"accountId": str(world.label)}, headers=bearer(token))
    assert for_label.status == 200
    for_bob = await signed_in.create_chat({"accountId": str(world.bob)}, headers=bearer(token))
    assert for_bob.error == (403, "Access denied to specified accountId")
    assert await database.count("accounts") == accounts


async def test_a_blocked_identity_is_refused_and_never_provisioned(
    signed_in: Api, database: Database, issuer: StandInIssuer
) -> None:
    """Blocked before its first sign-in: refused, and no account is made. Blocked once linked:
    refused within a second, its account kept; unblocked, it acts as that account again."""
    await identities.block(issuer.url, "mallory")
    refused = await signed_in.create_chat({"topic": "x"}, headers=bearer(issuer.token("mallory")))
    assert refused.error == BLOCKED
    assert await database.count("accounts") == 0
    assert await database.counts() == {"sessions": 0, "chats": 0}

    ada = bearer(issuer.token("ada"))
    first = await signed_in.create_chat({}, headers=ada)
    assert first.chat is not None
    await identities.block(issuer.url, "ada")
    await asyncio.sleep(1.1)  # the identity's account is remembered for a second
    assert (await signed_in.create_chat({}, headers=ada)).error == BLOCKED
    assert (await signed_in.viewer(ada)).error == BLOCKED
    await identities.unblock(issuer.url, "ada")
    again = await signed_in.create_chat({}, headers=ada)
    assert again.chat is not None
    assert again.chat["accountId"] == first.chat["accountId"]
    assert await database.count("accounts") == 1
    assert await database.counts() == {"sessions": 2, "chats": 2}


@pytest.mark.settings(rate_limit="2/minute")
async def test_the_rate_limit_counts_per_account_for_tokens(
    signed_in: Api, issuer: StandInIssuer
) -> None:
    # Three different tokens of one user spend one budget.
    statuses = [
        (await signed_in.create_chat({}, headers=bearer(issuer.token("ada", jti=str(n))))).status
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]
    # Another user has a budget of their own.
    other = await signed_in.create_chat({}, headers=bearer(issuer.token("bob")))
    assert other.status == 200


# The key set, as the service fetches and keeps it (one protocol and engine: this is about the
# issuer, not the answer).
ONE = pytest.mark.parametrize(("protocol", "database"), [("rest", "sqlite")], indirect=True)


@ONE
async def test_keys_are_fetched_once_then_again_on_an_unknown_kid_at_most_every_30_s(
    signed_in: Api, issuer: StandInIssuer, signing_keys: list[SigningKey]
) -> None:
    first = [issuer.token(f"user-{n}") for n in range(10)]
    outcomes = await asyncio.gather(*(signed_in.viewer(bearer(t)) for t in first))
    assert {o.status for o in outcomes} == {200}
    assert issuer.fetches == 1  # ten new tokens at once: one fetch

    # The issuer rotates: a new key, the old one gone. Tokens of the new key are followed with
    # one fetch, however many arrive at once.
    rotated = signing_keys[3]
    issuer.keys = [rotated]
    await asyncio.sleep(0)
    tokens.REFETCH_SECONDS, saved = 0.0, tokens.REFETCH_SECONDS
    try:
        new = [issuer.token(f"user-{n}", key=rotated) for n in range(10)]
        outcomes = await asyncio.gather(*(signed_in.viewer(bearer(t)) for t in new))
    finally:
        tokens.REFETCH_SECONDS = saved
    assert {o.status for o in outcomes} == {200}
    assert issuer.fetches == 2

    # Within 30 s of that fetch, unknown kids fetch nothing more: 401 each.
    stranger = signing_keys[2]
    outcomes = await asyncio.gather(
        *(signed_in.viewer(bearer(issuer.token(f"u{n}", key=stranger))) for n in range(20))
    )
    assert {o.error for o in outcomes} == {UNAUTHORIZED}
    assert issuer.fetches == 2
    # A token verified with a key the issuer no longer publishes is verified again, and refused,
    # as new ones of that key are.
    assert (await signed_in.viewer(bearer(first[0]))).error == UNAUTHORIZED
    old = signing_keys[0]
    assert (await signed_in.viewer(bearer(issuer.token("late", key=old)))).error == UNAUTHORIZED


@ONE
async def test_the_key_set_is_fetched_again_as_it_ages(
    signed_in: Api, issuer: StandInIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every REFRESH_SECONDS (ten minutes; here 0.3 s), in the background, with no unknown kid
    asking: a key the issuer removed stops verifying even the tokens it verified before."""
    monkeypatch.setattr(tokens, "REFRESH_SECONDS", 0.3)
    monkeypatch.setattr(tokens, "REFETCH_SECONDS", 0.3)
    token = bearer(issuer.token("ada"))
    assert (await signed_in.viewer(token)).status == 200
    assert issuer.fetches == 1
    issuer.keys = issuer.keys[1:]  # the first key is withdrawn
    await asyncio.sleep(0.4)
    assert (await signed_in.viewer(token)).status == 200  # still cached; a refresh starts
    await asyncio.sleep(0.2)
    assert issuer.fetches == 2
    assert (await signed_in.viewer(token)).error == UNAUTHORIZED
    assert (await signed_in.viewer(bearer(issuer.token("bob", key=issuer.keys[0])))).status == 200


@pytest.mark.settings(oidc_token_type="at+jwt")
async def test_oidc_token_type_asks_for_access_tokens_typed_as_such(
    signed_in: Api, issuer: StandInIssuer
) -> None:
    for typ in ("at+jwt", "application/at+JWT"):
        assert (await signed_in.viewer(bearer(issuer.token(headers={"typ": typ})))).status == 200
    # A JWT typed as a plain JWT, and one with no `typ` (PyJWT writes one unless told None).
    for header in ({"typ": "JWT"}, {"typ": None}):
        token = issuer.token(headers=header)
        assert (await signed_in.viewer(bearer(token))).error == UNAUTHORIZED


@ONE
async def test_an_unreachable_issuer_keeps_kept_keys_and_answers_503_for_the_others(
    signed_in: Api,
    issuer: StandInIssuer,
    signing_keys: list[SigningKey],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tokens, "REFETCH_SECONDS", 0.0)
    monkeypatch.setattr(tokens, "RETRY_SECONDS", 0.5)
    assert (await signed_in.viewer(bearer(issuer.token("ada")))).status == 200
    issuer.stop()
    # A key already fetched verifies new tokens as before.
    assert (await signed_in.viewer(bearer(issuer.token("ada", jti="new")))).status == 200
    # One it does not hold cannot be verified: the user did nothing wrong.
    rotated = signing_keys[3]
    issuer.keys = [*issuer.keys, rotated]
    for _ in range(3):
        started = time.monotonic()
        outcome = await signed_in.viewer(bearer(issuer.token("ada", key=rotated)))
        assert outcome.error == (503, "Service temporarily unavailable")
        assert outcome.headers["retry-after"] == "5"
        assert time.monotonic() - started < 1
    issuer.start()
    await asyncio.sleep(0.6)
    assert (await signed_in.viewer(bearer(issuer.token("ada", key=rotated)))).status == 200


@ONE
@pytest.mark.settings(request_timeout=1.5)
async def test_a_slow_issuer_never_holds_a_request_past_its_deadline(
    signed_in: Api, issuer: StandInIssuer
) -> None:
    issuer.mode, issuer.delay = "slow", 20.0
    started = time.monotonic()
    outcome = await signed_in.viewer(bearer(issuer.token()))
    elapsed = time.monotonic() - started
    assert outcome.error == (503, "Service temporarily unavailable")
    assert 1.5 <= elapsed < 2.5


@ONE
@pytest.mark.parametrize("mode", ["garbage", "huge", "error"])
async def test_a_broken_key_set_verifies_nothing(
    signed_in: Api, issuer: StandInIssuer, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer.mode = mode
    outcome = await signed_in.viewer(bearer(issuer.token()))
    # An answer that is no key set: the token cannot be verified (401); an issuer failing with
    # 5xx is an outage (503).
    unavailable = (503, "Service temporarily unavailable")
    assert outcome.error == (unavailable if mode == "error" else UNAUTHORIZED)
    # Keys fetched before a broken answer are kept.
    issuer.mode = "ok"
    monkeypatch.setattr(tokens, "REFETCH_SECONDS", 0.0)
    monkeypatch.setattr(tokens, "RETRY_SECONDS", 0.0)
    assert (await signed_in.viewer(bearer(issuer.token()))).status == 200
    issuer.mode = mode
    assert (await signed_in.viewer(bearer(issuer.token(jti="again")))).status == 200


def test_settings_refuse_an_issuer_without_an_audience_or_allowed_algorithm() -> None:
    with pytest.raises(ValueError, match="OIDC_AUDIENCE is required"):
        tokens.TokenPolicy.of("https://idp.example", "", ("RS256",), 30)
    with pytest.raises(ValueError, match="OIDC_ALGORITHMS allows none"):
        tokens.TokenPolicy.of("https://idp.example", AUDIENCE, ("HS256", "none"), 30)
    policy = tokens.TokenPolicy.of("https://idp.example", AUDIENCE, ("RS256", "HS256"), 30)
    assert policy.algorithms == {"RS256"}

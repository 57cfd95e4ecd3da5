"""Signed-in users: access tokens from an OpenID Connect issuer, on both protocols and engines.

The issuer here is a stand-in in this process (tests/support/issuer.py), so that a test can sign
hostile tokens and break, slow down or stop the issuer at will; the real provider's tokens, login
and restarts are in tests/system/test_signed_in.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from resolvers import identities
from tests.support.api import Api, assert_stored
from tests.support.databases import Database
from tests.support.issuer import (
    SigningKey,
    StandInIssuer,
    b64,
    hmac_with_public_key,
    resigned_claims,
    unsigned,
)
from tests.support.tokens import (
    BLOCKED,
    INVALID_TOKEN,
    NOT_LINKED,
    UNAUTHORIZED,
    bearer,
)
from tests.support.world import build_world

pytestmark = pytest.mark.anyio


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

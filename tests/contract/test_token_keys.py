"""The identity provider's keys as the service follows them: fetched once, again on an unknown
`kid` at most every 30 s and as the set ages, kept through an outage, never trusted when broken."""

from __future__ import annotations

import asyncio
import time

import pytest

from resolvers import tokens
from tests.support.api import Api
from tests.support.issuer import AUDIENCE, SigningKey, StandInIssuer
from tests.support.tokens import UNAUTHORIZED, bearer

pytestmark = pytest.mark.anyio

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

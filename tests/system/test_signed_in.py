"""Signed-in users against a real identity provider (panva's oidc-provider, tests/js/oidc.mjs), and
WebSockets whose caller is checked while they live.

The provider's tokens are accepted, and its tokens for another audience, expired ones and forged
ones are not; its key rotation and its outage are followed with no restart; several workers make
one account for one new user; Apollo Client's GraphQLWsLink is closed with 4403 when its token
expires and comes back with a fresh one; Chromium signs a user in with PKCE and creates a chat.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from resolvers.auth import KEY_CACHE_SECONDS
from schema.sockets import RECHECK_SECONDS
from tests.support.databases import REPO, Database, run_cli
from tests.support.issuer import AUDIENCE, new_key
from tests.support.oidc import JS, OTHER_AUDIENCE, Provider, node
from tests.support.servers import provision, serving
from tests.support.ws import CHAT_EVENTS, PROTOCOL, GraphQLSocket, graphql_socket

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
INVALID_TOKEN = 'Bearer error="invalid_token"'
CREATE = 'mutation { createChat(input: {topic: "ws"}) { chat { id } } }'


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def viewer(base: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{base}/api/accounts/me", headers=headers)


def graphql_viewer(base: str, headers: dict[str, str]) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/graphql",
        json={"query": "{ viewer { account { id name kind } } }"},
        headers=headers,
    )
    assert response.status_code == 200
    return dict(response.json())


def assert_refused(base: str, token: str) -> None:
    """401 with RFC 6750's header over REST, UNAUTHENTICATED over GraphQL, nothing written."""
    response = viewer(base, bearer(token))
    assert response.status_code == 401
    assert response.json() == {"status": "error", "message": "Unauthorized"}
    assert response.headers["www-authenticate"] == INVALID_TOKEN
    created = httpx.post(f"{base}/api/chats", json={}, headers=bearer(token))
    assert created.status_code == 401
    body = graphql_viewer(base, bearer(token))
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def forged(provider: Provider, token: str) -> str:
    """The provider's own claims and kid, signed by a key it never published."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(
        claims,
        new_key("forger").private,
        algorithm="RS256",
        headers={"kid": provider.kid, "typ": "at+jwt"},
    )


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_the_providers_tokens_and_no_others(database: Database, provider: Provider) -> None:
    with serving(database, env=provider.environment(OIDC_LEEWAY="0")) as base:
        token = provider.token("alice")
        created = httpx.post(f"{base}/api/chats", json={"topic": "Hi"}, headers=bearer(token))
        assert created.status_code == 200, created.text
        account = graphql_viewer(base, bearer(token))["data"]["viewer"]["account"]
        assert account == {
            "id": created.json()["chat"]["accountId"],
            "name": "alice",
            "kind": "USER",
        }

        assert_refused(base, provider.token("alice", audience=OTHER_AUDIENCE))
        assert_refused(base, forged(provider, token))
        started = time.monotonic()
        short = provider.token_response("short-lived")
        assert viewer(base, bearer(short["access_token"])).status_code == 200
        provider.wait_for_expiry(short, started)
        assert_refused(base, short["access_token"])

    assert asyncio.run(database.count("chats")) == 1
    identities = asyncio.run(
        database.fetch("SELECT issuer, subject FROM identities ORDER BY subject")
    )
    assert identities == [
        {"issuer": provider.url, "subject": "alice"},
        {"issuer": provider.url, "subject": "short-lived"},
    ]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_rotation_and_outage_are_followed_with_no_restart(
    database: Database, provider: Provider
) -> None:
    """The provider stopped: tokens of the key already fetched keep working; a token of a key the
    service does not hold is a 503 with Retry-After, within the deadline (once the 30 s since
    the last fetch are over: before, an unknown kid is refused without asking). The provider
    back, with a new key: its tokens work, with no restart of the service, and those of the key
    it dropped no longer do."""
    with serving(database, env=provider.environment(REQUEST_TIMEOUT="4")) as base:
        first, spare = provider.token("alice"), provider.token("bob")
        assert viewer(base, bearer(first)).status_code == 200
        fetched_at = time.monotonic()
        provider.stop()
        assert viewer(base, bearer(first)).status_code == 200
        assert viewer(base, bearer(spare)).status_code == 200  # new, verified by the kept key

        unknown = jwt.encode(
            jwt.decode(first, options={"verify_signature": False}),
            new_key("rotated").private,
            algorithm="RS256",
            headers={"kid": "rotated"},
        )
        assert viewer(base, bearer(unknown)).status_code == 401  # within 30 s: not asked
        time.sleep(max(0.0, fetched_at + 30.5 - time.monotonic()))
        for _ in range(3):
            started = time.monotonic()
            response = viewer(base, bearer(unknown))
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
            assert time.monotonic() - started < 4

        provider.restart()  # a new signing key under a new kid
        rotated = provider.token("carol")
        deadline = time.monotonic() + 6  # a failed fetch is retried after 5 s
        while (status := viewer(base, bearer(rotated)).status_code) != 200:
            assert status == 503
            assert time.monotonic() < deadline
            time.sleep(0.5)
        # Verified before, by a key the provider no longer publishes: verified again, refused.
        assert viewer(base, bearer(first)).status_code == 401


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_one_new_user_on_several_workers_gets_one_account(
    database: Database, provider: Provider
) -> None:
    tokens = [provider.token("user-7") for _ in range(30)]
    with serving(database, "--workers", "3", env=provider.environment()) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            responses = await asyncio.gather(
                *(client.post("/api/chats", json={}, headers=bearer(t)) for t in tokens)
            )
    assert [r.status_code for r in responses] == [200] * 30
    assert len({r.json()["chat"]["accountId"] for r in responses}) == 1
    rows = await database.fetch(
        "SELECT a.kind FROM identities i JOIN accounts a ON a.id = i.account_id"
        " WHERE i.subject = 'user-7'"
    )
    assert rows == [{"kind": "user"}]
    assert await database.count("accounts") == 1


def run_node(script: str, *args: str, timeout: float = 90) -> dict[str, Any]:
    result = subprocess.run(
        [node(), script, *args], cwd=JS, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@pytest.mark.serial
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_apollo_reconnects_with_a_fresh_token_when_its_token_expires(
    database: Database, provider: Provider
) -> None:
    with serving(database, env=provider.environment(OIDC_LEEWAY="0")) as base:
        seen = run_node("tokens.mjs", f"{base}/graphql", provider.url, AUDIENCE)
    assert seen["events"] == ["Before expiry", "After reconnect"]
    assert 4403 in seen["closes"]
    assert seen["connects"] == 2
    assert "error" not in seen


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_browser_follows_a_reply_through_three_cuts(
    database: Database, provider: Provider
) -> None:
    """Chromium with @microsoft/fetch-event-source and the provider's access token follows the
    reply the agent writes (with an API key of the user's account), the connection cut three times
    mid-reply: every chunk once, in order, and the text the agent wrote."""
    token = provider.token("alice")
    with serving(database, env=provider.environment()) as base:
        created = httpx.post(f"{base}/api/chats", headers=bearer(token), json={"topic": "Live"})
        chat = created.json()["chat"]
        key = run_cli(["keys", "create", "--account", chat["accountId"]], database.url)
        page = httpx.get(f"{base}/api/chats/{chat['id']}/messages", headers=bearer(token))
        seen = run_node(
            "stream.mjs", base, token, key.stdout.strip(), chat["id"], page.json()["cursor"]
        )
    assert seen["pageErrors"] == []
    assert seen["opened"] == 4  # the first connection, and one after each cut
    assert seen["chunkIndices"] == list(range(60))
    assert seen["idsAreCursors"] is True
    assert seen["shown"] == seen["written"]
    assert seen["final"]["status"] == "complete"
    assert seen["final"]["parts"] == [{"type": "text", "text": seen["written"]}]


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_browser_keeps_its_chats_list_live_through_three_cuts(
    database: Database, provider: Provider
) -> None:
    """Chromium with @microsoft/fetch-event-source and the provider's access token follows
    `chatEvents` over graphql-sse from the list's eventCursor, the connection cut three times
    while chats are created: every chat once, in order, each event's id its cursor."""
    token = provider.token("alice")
    with serving(database, env=provider.environment()) as base:
        listed = httpx.get(f"{base}/api/chats", headers=bearer(token))
        seen = run_node("events_browser.mjs", base, token, listed.json()["cursor"])
    assert seen["pageErrors"] == []
    assert seen["opened"] == 4  # the first connection, and one after each cut
    assert seen["heard"] == seen["created"]
    assert seen["idsAreCursors"] is True
    assert seen["shown"] == [f"Chat {n}" for n in range(12)]


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_browser_signs_in_with_pkce_and_creates_a_chat(
    database: Database, provider: Provider
) -> None:
    artifacts = REPO / "test-artifacts" / "signin"
    with (
        tempfile.TemporaryFile("w+") as log,
        serving(database, env=provider.environment(), output=log) as base,
    ):
        seen = run_node(
            "signin.mjs", base, provider.url, AUDIENCE, str(provider.page_port), str(artifacts)
        )
        log.seek(0)
        lines = [json.loads(line) for line in log if line.startswith("{")]
    assert seen["pageErrors"] == []
    assert seen["loginPage"] == provider.url  # the provider's own login form
    assert seen["callback"] == "/callback"
    page = seen["page"]
    assert page["me"]["status"] == 200
    account = page["me"]["body"]["account"]
    assert account["name"] == "ada"
    assert page["created"]["status"] == 200
    assert page["created"]["body"]["chat"]["accountId"] == account["id"]
    assert page["graphql"]["body"]["data"]["createChat"]["chat"]["accountId"] == account["id"]
    # The browser asked first (the Authorization header is not CORS-safelisted), and was let in.
    preflights = {
        (line["route"], line["status"]) for line in lines if line.get("method") == "OPTIONS"
    }
    assert {("/api/accounts/me", 200), ("/api/chats", 200), ("/graphql", 200)} <= preflights
    for name in ("signin-login.png", "signin-result.png"):
        assert (artifacts / name).stat().st_size > 0


# An open WebSocket is not a free pass ---------------------------------------------------------

# A refused caller's socket is closed within this long: the key cache, one check, some slack.
CLOSE_WITHIN = KEY_CACHE_SECONDS + RECHECK_SECONDS + 0.5


async def closed_code(step: Callable[[], Awaitable[object]]) -> int | None:
    """`step` again and again until the server closes the socket; its close code."""
    try:
        while True:
            await step()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


def mutating(socket: GraphQLSocket) -> Callable[[], Awaitable[None]]:
    """One createChat over the socket, read to its end (an unread socket would hold the server's
    close frame behind its answers), then a pause of 50 ms."""

    async def step() -> None:
        operation_id = await socket.subscribe(CREATE)
        while True:
            message = await socket.receive()
            if message.get("id") == operation_id and message["type"] in ("complete", "error"):
                break
        await asyncio.sleep(0.05)

    return step


@pytest.mark.serial
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_socket_is_closed_when_its_key_is_revoked_or_expires(database: Database) -> None:
    with serving(database) as base:
        for attempt in range(3):
            account, key = provision(database)
            async with graphql_socket(base) as socket:
                assert (await socket.init({"x-api-key": key}))["type"] == "connection_ack"
                await socket.subscribe(CHAT_EVENTS)
                await asyncio.sleep(0.2)
                async with httpx.AsyncClient() as client:
                    await client.post(
                        f"{base}/api/chats", json={"topic": "seen"}, headers={"x-api-key": key}
                    )
                assert (await socket.next_event())["chat"]["title"] == "seen"
                assert run_cli(["keys", "revoke", key], database.url).returncode == 0
                revoked = time.monotonic()
                assert await closed_code(mutating(socket)) == 4403, attempt
                assert time.monotonic() - revoked < CLOSE_WITHIN
            # Nothing a revoked key sent after the cache's second was written (this attempt's
            # key: its account's chats).
            chats = await database.fetch(
                "SELECT title FROM chats WHERE title = 'ws' AND account_id = ?", account
            )
            assert len(chats) <= (KEY_CACHE_SECONDS + RECHECK_SECONDS) / 0.05

        account = run_cli(["accounts", "create", "--name", "Brief"], database.url).stdout.strip()
        expires = datetime.now(UTC) + timedelta(seconds=2)
        key = run_cli(
            ["keys", "create", "--account", account, "--expires-at", expires.isoformat()],
            database.url,
        ).stdout.strip()
        async with graphql_socket(base) as socket:
            assert (await socket.init({"x-api-key": key}))["type"] == "connection_ack"
            assert await closed_code(mutating(socket)) == 4403
            late = time.time() - expires.timestamp()
            assert 0 <= late < CLOSE_WITHIN


@pytest.mark.serial
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_socket_is_closed_when_its_token_expires(
    database: Database, provider: Provider
) -> None:
    with serving(database, env=provider.environment(OIDC_LEEWAY="0")) as base:
        started = time.monotonic()
        short = provider.token_response("short-lived")
        async with graphql_socket(base) as socket:
            init = await socket.init({"authorization": f"Bearer {short['access_token']}"})
            assert init["type"] == "connection_ack"
            await socket.subscribe(CHAT_EVENTS)
            assert await closed_code(socket.receive) == 4403
            lived = time.monotonic() - started
            assert short["expires_in"] <= lived + 1 < short["expires_in"] + CLOSE_WITHIN + 1


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("allowed", "origin", "accepted"),
    [
        pytest.param("*", "https://app.example", True, id="any-origin-by-default"),
        pytest.param("https://app.example", "https://app.example", True, id="listed-origin"),
        pytest.param("https://app.example", "https://evil.example", False, id="unlisted-origin"),
    ],
)
async def test_websocket_origins_follow_cors(
    database: Database, allowed: str, origin: str, accepted: bool
) -> None:
    _, key = provision(database)
    with serving(database, env={"CORS_ALLOW_ORIGINS": allowed}) as base:
        url = base.replace("http://", "ws://") + "/graphql"
        if not accepted:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, subprotocols=[PROTOCOL], origin=origin):  # type: ignore[list-item, arg-type]
                    pass
            assert refused.value.response.status_code == 403
            return
        async with connect(url, subprotocols=[PROTOCOL], origin=origin) as connection:  # type: ignore[list-item, arg-type]
            await connection.send(
                json.dumps({"type": "connection_init", "payload": {"x-api-key": key}})
            )
            assert json.loads(await connection.recv())["type"] == "connection_ack"


@pytest.mark.serial
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_socket_is_closed_when_its_identity_is_unlinked(
    database: Database, provider: Provider
) -> None:
    """The socket, acting as the old account, is closed rather than carried over; its re-checks
    never provision (they used to give the identity a new account at once, so relinking it failed
    and an orphan account was left)."""
    with serving(database, env=provider.environment()) as base:
        async with graphql_socket(base) as socket:
            init = await socket.init({"authorization": f"Bearer {provider.token('carol')}"})
            assert init["type"] == "connection_ack"
            [row] = await database.fetch("SELECT account_id FROM identities")
            accounts = await database.count("accounts")
            unlink = ["identities", "unlink", "--issuer", provider.url, "--subject", "carol"]
            assert run_cli(unlink, database.url).returncode == 0
            unlinked = time.monotonic()
            assert await closed_code(mutating(socket)) == 4403
            assert time.monotonic() - unlinked < CLOSE_WITHIN
        await asyncio.sleep(2 * CLOSE_WITHIN)  # what re-checks there were, are done
        assert await database.count("identities") == 0
        assert await database.count("accounts") == accounts
        relink = ["identities", "link", "--account", str(row["account_id"])]
        relink += ["--issuer", provider.url, "--subject", "carol"]
        assert run_cli(relink, database.url).returncode == 0

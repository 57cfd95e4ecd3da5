"""Subscriptions over streaming HTTP (Server-Sent Events, multipart) are admitted as every
request of /graphql and kept as a WebSocket is: the caller's credentials (refused at once, checked
again while open), one cap on open streams per caller whatever carries them, and an end at once
on SIGTERM."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from pathlib import Path

import httpx
import pytest

from tests.support.databases import Database, run_cli
from tests.support.servers import serving, stop_server
from tests.support.streams import (
    CHAT_EVENTS,
    MULTIPART_ACCEPT,
    SSE_ACCEPT,
    events_of,
    subscription,
)
from tests.support.world import World

# Admission does not depend on the engine behind it: SQLite and PostgreSQL, not PgBouncer too.
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True),
]
STREAMED = ("sse", "multipart")


async def test_a_caller_without_credentials_gets_an_error_and_the_end(
    database: Database, world: World
) -> None:
    with serving(database) as base:
        for transport in STREAMED:
            async with subscription(transport, base, {}) as items, aclosing(items):
                _, payload = await anext(items)
                [error] = payload["errors"]
                assert (error["message"], error["extensions"]["code"]) == (
                    "Exactly one of x-api-key or Authorization must be provided",
                    "UNAUTHENTICATED",
                )
                assert [item async for item in items] == []  # then the stream completes


async def test_one_cap_covers_every_transport(database: Database, world: World) -> None:
    """MAX_SOCKETS_PER_CALLER counts a WebSocket and the HTTP streams together: with a socket
    and an SSE stream open, a multipart stream is 429 (a GraphQL error, Retry-After)."""
    headers = {"x-api-key": world.keys["alice"]}
    body = {"query": CHAT_EVENTS}
    with serving(database, env={"MAX_SOCKETS_PER_CALLER": "2"}) as base:
        async with (
            subscription("websocket", base, headers),
            subscription("sse", base, headers),
            httpx.AsyncClient(base_url=base) as client,
        ):
            for accept in (MULTIPART_ACCEPT, SSE_ACCEPT):
                refused = await client.post(
                    "/graphql", json=body, headers={**headers, "accept": accept}
                )
                assert refused.status_code == 429
                assert refused.headers["retry-after"] == "1"
                [error] = refused.json()["errors"]
                assert error["extensions"]["code"] == "TOO_MANY_REQUESTS"
        # Every client gone: a stream is admitted again.
        deadline = asyncio.get_running_loop().time() + 2
        while True:
            try:
                async with subscription("multipart", base, headers):
                    break
            except AssertionError:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.1)


async def test_a_revoked_keys_streams_end(database: Database, world: World) -> None:
    key = world.keys["alice"]
    headers = {"x-api-key": key}
    with serving(database) as base:
        async with (
            subscription("sse", base, headers) as sse,
            subscription("multipart", base, headers) as multipart,
        ):
            run_cli(["keys", "revoke", key], database.url)
            for items in (sse, multipart):
                async with asyncio.timeout(3):
                    rest = [payload async for _, payload in items]
                [error] = rest[-1]["errors"]
                assert error["extensions"]["code"] == "FORBIDDEN"


async def test_streams_end_at_once_on_sigterm(database: Database, world: World) -> None:
    """A draining process ends its streams (an SSE stream without `complete`, so graphql-sse
    reconnects; multipart with SERVICE_UNAVAILABLE) and refuses new ones with 503."""
    headers = {"x-api-key": world.keys["alice"]}
    with serving(database, env={"DRAIN_SECONDS": "3"}) as base:
        async with (
            subscription("sse", base, headers) as sse,
            subscription("multipart", base, headers) as multipart,
            httpx.AsyncClient(base_url=base, headers=headers) as client,
        ):
            await client.post("/api/chats", json={"topic": "before"})
            assert events_of((await anext(sse))[1])["chat"]["title"] == "before"
            assert events_of((await anext(multipart))[1])["chat"]["title"] == "before"
            stop_server(base)
            async with asyncio.timeout(2):
                assert [payload async for _, payload in sse] == []
                [ended] = [payload async for _, payload in multipart]
            assert ended["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            refused = await client.post(
                "/graphql", json={"query": CHAT_EVENTS}, headers={"accept": SSE_ACCEPT}
            )
            assert refused.status_code == 503


async def test_a_hostile_last_event_id_is_an_expired_cursor(
    database: Database, world: World, tmp_path: Path
) -> None:
    """`Last-Event-ID` is the client's to send: anything but a live cursor of the caller's events
    (too long, not base64, not ASCII once decoded, another kind's cursor, empty fields) is
    CURSOR_EXPIRED, then
    the end; nothing written, no traceback in the log."""
    headers = {"x-api-key": world.keys["alice"]}
    hostile = ["A" * 4000, "%%%%", "w6k", "ZTowMWEyNTFiYToxOjI", "Yzo6Ojo6Ojo6"]
    with (tmp_path / "server.log").open("w+") as output:
        with serving(database, output=output) as base:
            counts = await database.counts()
            for value in hostile:
                resent = {**headers, "last-event-id": value}
                async with subscription("sse", base, resent) as items, aclosing(items):
                    _, payload = await anext(items)
                    assert [item async for item in items] == []
                [error] = payload["errors"]
                assert error["extensions"]["code"] == "CURSOR_EXPIRED", value
            assert await database.counts() == counts
        output.seek(0)
        assert "Traceback" not in output.read()

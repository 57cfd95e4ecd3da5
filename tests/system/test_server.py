"""The real thing: `chats-api serve` in its own process, reached over TCP."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.support.databases import Database
from tests.support.servers import provision, serving

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_readme_flow_over_tcp(database: Database) -> None:
    account, key = provision(database)
    with serving(database) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            rest = await client.post(
                "/api/chats",
                headers={"x-api-key": key, "content-type": "application/json"},
                content=b'{"topic": "Pulse Feb 2"}',
            )
            assert rest.status_code == 200
            assert rest.json()["chat"]["title"] == "Pulse Feb 2"
            assert rest.json()["chat"]["accountId"] == account
            graphql = await client.post(
                "/graphql",
                headers={"authorization": f"Bearer {key}"},
                json={
                    "query": 'mutation { createChat(input: {topic: "Hi"}) { chat { id title } } }'
                },
            )
            assert graphql.json()["data"]["createChat"]["chat"]["title"] == "Hi"
    assert await database.counts() == {"sessions": 2, "chats": 2}


async def test_two_workers_one_chat_per_chat_id(database: Database) -> None:
    _, key = provision(database)
    chat_id = str(uuid.uuid4())
    with serving(database, "--workers", "2") as base:
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, limits=limits) as client:
            responses = await asyncio.gather(
                *(
                    client.post("/api/chats", headers={"x-api-key": key}, json={"chatId": chat_id})
                    for _ in range(16)
                )
            )
    assert [r.status_code for r in responses] == [200] * 16
    assert len({r.content for r in responses}) == 1
    assert await database.counts() == {"sessions": 1, "chats": 1}

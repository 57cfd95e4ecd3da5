"""Concurrent requests: one chat per chatId, no "database is locked", on both engines."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.support.api import Api
from tests.support.databases import Database
from tests.support.world import World

pytestmark = pytest.mark.anyio
CONCURRENCY = 16


async def test_concurrent_retries_create_exactly_one_chat(
    api: Api, database: Database, world: World
) -> None:
    payload = {"chatId": str(uuid.uuid4()), "topic": "same request"}
    outcomes = await asyncio.gather(
        *(api.create_chat(payload, key=world.keys["alice"]) for _ in range(CONCURRENCY))
    )
    assert [o.status for o in outcomes] == [200] * CONCURRENCY
    assert len({str(o.chat) for o in outcomes}) == 1
    assert await database.counts() == {"sessions": 1, "chats": 1}


async def test_concurrent_conflicting_requests_create_one_chat(
    api: Api, database: Database, world: World
) -> None:
    chat_id = str(uuid.uuid4())
    outcomes = await asyncio.gather(
        *(
            api.create_chat({"chatId": chat_id, "topic": f"title {n}"}, key=world.keys["alice"])
            for n in range(CONCURRENCY)
        )
    )
    statuses = sorted(o.status for o in outcomes)
    assert statuses == [200] + [409] * (CONCURRENCY - 1)
    assert await database.counts() == {"sessions": 1, "chats": 1}


async def test_concurrent_distinct_creates_all_succeed(
    api: Api, database: Database, world: World
) -> None:
    outcomes = await asyncio.gather(
        *(
            api.create_chat({"topic": f"chat {n}"}, key=world.keys["alice"])
            for n in range(CONCURRENCY)
        )
    )
    assert [o.status for o in outcomes] == [200] * CONCURRENCY
    assert await database.counts() == {"sessions": CONCURRENCY, "chats": CONCURRENCY}

"""Concurrent requests: one chat per chatId, no "database is locked", on both engines."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from starlette.applications import Starlette

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


async def test_mixed_operations_beyond_the_pool_all_succeed_and_the_pool_is_whole(
    app: Starlette, api: Api, database: Database, world: World
) -> None:
    # Four times more requests than pool connections: creates, renames, deletes and lists wait
    # their turn at the pool (queries and transactions alike); afterwards every turn is back.
    key = world.keys["alice"]
    made = [await api.create_chat({"topic": f"seed {n}"}, key=key) for n in range(CONCURRENCY)]
    ids = [o.chat["id"] for o in made if o.chat]
    outcomes = await asyncio.gather(
        *(api.create_chat({"topic": f"new {n}"}, key=key) for n in range(CONCURRENCY)),
        *(api.update_chat({"chatId": i, "topic": "renamed"}, key=key) for i in ids[:8]),
        *(api.delete_chat({"chatId": i}, key=key) for i in ids[8:]),
        *(api.list_chats(key=key) for _ in range(CONCURRENCY)),
    )
    assert [o.status for o in outcomes] == [200] * len(outcomes)
    assert await database.counts() == {"sessions": 24, "chats": 24}
    if database.engine != "sqlite":  # SQLite has one connection, no pool
        gate = app.state.engine.gate
        assert gate is not None
        # Every turn back, none lost: the test apps' pool holds 4, all free and no more.
        for _ in range(4):
            assert not gate.locked()
            await gate.acquire()
        assert gate.locked()
        for _ in range(4):
            gate.release()

"""Chats created while things break, each fault three times, followed by a chats list resuming
`chatEvents` over Server-Sent Events from its last cursor: the follower's server killed,
PostgreSQL unreachable, Redis dropping hints. The follower ends with every chat once, in order;
its stream ends only when the database cannot be read (SERVICE_UNAVAILABLE)."""

from __future__ import annotations

import asyncio
import signal
import uuid
from contextlib import ExitStack

import httpx
import pytest

from tests.support.databases import Database
from tests.support.faults import proxied
from tests.support.followers import Follower
from tests.support.redis import redis_behind_proxy
from tests.support.servers import provision, serving, start_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def _create_all(base: str, key: str, ids: list[str], pause: float) -> None:
    """Each chat by its own id, retried (the same id) until acknowledged, as a careful client
    does: a retry of a chat that was stored answers with it, and makes no second event."""
    async with httpx.AsyncClient(base_url=base, headers={"x-api-key": key}, timeout=10) as client:
        for chat_id in ids:
            while True:
                try:
                    answer = await client.post("/api/chats", json={"chatId": chat_id})
                except httpx.TransportError:
                    answer = None
                if answer is not None and answer.status_code == 200:
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(pause)


def _cursor(base: str, key: str) -> str:
    return str(httpx.get(f"{base}/api/chats", headers={"x-api-key": key}).json()["cursor"])


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_the_followers_server_killed_three_times(database: Database) -> None:
    _, key = provision(database)
    ids = [str(uuid.uuid4()) for _ in range(60)]
    with serving(database) as writing:
        follower = Follower(key, _cursor(writing, key))
        writer = asyncio.create_task(_create_all(writing, key, ids, 0.03))
        for _ in range(3):
            process, reading = await asyncio.to_thread(start_server, database)
            following = asyncio.create_task(follower.follow(reading, until=len(ids)))
            await asyncio.sleep(0.6)
            process.send_signal(signal.SIGKILL)  # the follower's server dies mid-stream
            await asyncio.to_thread(process.wait)
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
        # The list reconnects to the server that is left, from its last cursor.
        async with asyncio.timeout(20):
            await follower.follow(writing, until=len(ids))
        await writer
    assert follower.ids() == ids
    assert follower.ended == []


# Not in the serial phase: what it checks does not depend on how long anything takes.
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_postgres_unreachable_while_chats_are_followed(database: Database) -> None:
    _, key = provision(database)
    proxy, env = await proxied(database)
    env["DB_QUERY_TIMEOUT"] = "1"
    ids = [str(uuid.uuid4()) for _ in range(40)]
    # In a thread: the proxy runs on this event loop, which must go on while the server starts.
    process, base = await asyncio.to_thread(start_server, database, env=env)
    try:
        follower = Follower(key, await asyncio.to_thread(_cursor, base, key))
        following = asyncio.create_task(follower.follow(base, until=len(ids)))
        writer = asyncio.create_task(_create_all(base, key, ids, 0.05))
        for _ in range(3):
            await asyncio.sleep(0.6)
            proxy.partition()
            await asyncio.sleep(3)  # past the tail's read and the follower's own (1 s each)
            proxy.heal()
        await writer
        async with asyncio.timeout(20):
            await following
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 20)
        await proxy.stop()
    assert follower.ids() == ids
    # Told when the database could not be read, and only then; whole after each resume.
    assert follower.ended
    assert set(follower.ended) == {"SERVICE_UNAVAILABLE"}


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_redis_dropping_hints_loses_no_event(database: Database) -> None:
    """Two replicas share a Redis whose connections go silent three times (publishes time out,
    hints are lost): the follower on the other replica hears every chat anyway, from the log, and
    its stream never ends."""
    _, key = provision(database)
    redis_server, proxy, redis_url = await redis_behind_proxy()
    env = {"REDIS_URL": redis_url, "REDIS_TIMEOUT": "0.25"}
    ids = [str(uuid.uuid4()) for _ in range(60)]
    with ExitStack() as stack:
        stack.callback(redis_server.stop)
        writing = stack.enter_context(serving(database, env=env))
        reading = stack.enter_context(serving(database, env=env))
        follower = Follower(key, _cursor(reading, key))
        following = asyncio.create_task(follower.follow(reading, until=len(ids)))
        writer = asyncio.create_task(_create_all(writing, key, ids, 0.05))
        for _ in range(3):
            await asyncio.sleep(0.5)
            proxy.silence()
            await asyncio.sleep(1.5)
            proxy.resume()
        await writer
        async with asyncio.timeout(20):
            await following
        await proxy.stop()
    assert follower.ids() == ids
    assert follower.ended == []

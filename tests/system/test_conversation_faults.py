"""A reply being written while things break, each fault three times: Redis restarting and slow, the
reader's server killed, PostgreSQL unreachable, the agent going silent. A frontend that resumes
from its last cursor ends with every chunk once, in order; nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.support.databases import Database
from tests.support.faults import proxied
from tests.support.redis import redis_behind_proxy
from tests.support.servers import provision, serving, start_server

# Faults on timers: the serial phase, where no CPU-bound phase stretches their clocks.
pytestmark = [pytest.mark.anyio, pytest.mark.slow]
TEXT = "tok "


async def events(
    client: httpx.AsyncClient, chat: str, last: str | None
) -> AsyncIterator[dict[str, Any]]:
    """The chat's events from `last` (Last-Event-ID), as a browser's EventSource reads them."""
    headers = {"last-event-id": last} if last else {}
    async with client.stream("GET", f"/api/chats/{chat}/stream", headers=headers) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                data = json.loads(line[6:])
                if "cursor" not in data:
                    return  # an `error` event (the database away): the stream ends
                yield data


class Agent:
    """Streams replies of `chunks` chunks, retrying a chunk that was not acknowledged (503, a
    dropped connection) with the same index, as the platform's agent must."""

    def __init__(self, base: str, key: str, chat: str) -> None:
        self.client = httpx.AsyncClient(base_url=base, headers={"x-api-key": key}, timeout=10)
        self.chat = chat
        self.refused = 0
        self.replies: list[str] = []

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        while True:
            try:
                answer = await self.client.post(f"/api/chats/{self.chat}{path}", json=body)
            except httpx.TransportError:
                self.refused += 1
                await asyncio.sleep(0.2)
                continue
            if answer.status_code == 200:
                return answer.json()  # type: ignore[no-any-return]
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"]
            self.refused += 1
            await asyncio.sleep(0.2)

    async def reply(self, chunks: int, pause: float) -> None:
        message_id = str(uuid.uuid4())
        await self.post("/replies", {"messageId": message_id})  # a retried start is a retry
        self.replies.append(message_id)
        for index in range(chunks):
            await self.post(
                f"/replies/{message_id}/chunks",
                {"index": index, "parts": [{"type": "text", "text": TEXT}]},
            )
            await asyncio.sleep(pause)
        await self.post(f"/replies/{message_id}/finish", {})


def assert_every_chunk_once(seen: list[dict[str, Any]], replies: list[str], chunks: int) -> None:
    for reply in replies:
        indices = [
            e["chunk"]["index"]
            for e in seen
            if e["type"] == "chunk" and e["chunk"]["messageId"] == reply
        ]
        assert indices == list(range(chunks)), reply
        [finished] = [e for e in seen if e["type"] == "finished" and e["message"]["id"] == reply]
        assert finished["message"]["parts"] == [{"type": "text", "text": TEXT * chunks}]
    cursors = [e["cursor"] for e in seen]
    assert len(cursors) == len(set(cursors)), "an event seen twice"


async def follow_until(
    base: str, key: str, chat: str, seen: list[dict[str, Any]], done: int, start: str
) -> None:
    """Reads the chat's events from the cursor `start` (a page's), reconnecting with the last
    cursor whenever the stream breaks, until `done` replies have finished."""
    async with httpx.AsyncClient(base_url=base, headers={"x-api-key": key}, timeout=None) as client:
        while sum(e["type"] == "finished" for e in seen) < done:
            try:
                async for event in events(client, chat, seen[-1]["cursor"] if seen else start):
                    seen.append(event)
                    if sum(e["type"] == "finished" for e in seen) >= done:
                        return
            except (httpx.TransportError, AssertionError):
                await asyncio.sleep(0.2)


async def new_chat(base: str, key: str) -> tuple[str, str]:
    """A new chat, and its event log's position as a page read says it."""
    async with httpx.AsyncClient(base_url=base, headers={"x-api-key": key}) as client:
        chat = str((await client.post("/api/chats", json={})).json()["chat"]["id"])
        return chat, (await client.get(f"/api/chats/{chat}/messages")).json()["cursor"]


@pytest.mark.serial(seconds=30)
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_redis_restarting_and_slow_during_a_reply(database: Database) -> None:
    _, key = provision(database)
    redis_server, proxy, redis_url = await redis_behind_proxy()
    env = {"REDIS_URL": redis_url}
    with ExitStack() as stack:
        stack.callback(redis_server.stop)
        writing = stack.enter_context(serving(database, env=env))
        reading = stack.enter_context(serving(database, env=env))
        chat, start = await new_chat(writing, key)
        seen: list[dict[str, Any]] = []
        agent = Agent(writing, key, chat)
        follower = asyncio.create_task(follow_until(reading, key, chat, seen, 3, start))
        await asyncio.sleep(0.5)
        writer = asyncio.create_task(_replies(agent, 3, 60, 0.05))
        for _ in range(3):
            await asyncio.sleep(1)
            redis_server.stop()
            await asyncio.sleep(1)
            redis_server.start()
            await asyncio.sleep(1)
            proxy.delay = 0.3
            await asyncio.sleep(1)
            proxy.delay = 0.0
        await writer
        async with asyncio.timeout(20):
            await follower
        await agent.client.aclose()
        await proxy.stop()
    assert_every_chunk_once(seen, agent.replies, 60)


async def _replies(agent: Agent, count: int, chunks: int, pause: float) -> None:
    for _ in range(count):
        await agent.reply(chunks, pause)


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_the_readers_server_killed_three_times(database: Database) -> None:
    _, key = provision(database)
    with serving(database) as writing:
        chat, start = await new_chat(writing, key)
        agent = Agent(writing, key, chat)
        writer = asyncio.create_task(_replies(agent, 1, 90, 0.03))
        seen: list[dict[str, Any]] = []
        for _ in range(3):
            process, reading = await asyncio.to_thread(start_server, database)
            follower = asyncio.create_task(follow_until(reading, key, chat, seen, 1, start))
            await asyncio.sleep(0.8)
            process.send_signal(signal.SIGKILL)  # the reader's worker dies mid-stream
            await asyncio.to_thread(process.wait)
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
        # The frontend reconnects to the server that is left, from its last cursor.
        await follow_until(writing, key, chat, seen, 1, start)
        await writer
        await agent.client.aclose()
    assert_every_chunk_once(seen, agent.replies, 90)


@pytest.mark.serial(seconds=25)
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_postgres_unreachable_during_a_reply(database: Database) -> None:
    _, key = provision(database)
    proxy, env = await proxied(database)
    env["DB_QUERY_TIMEOUT"] = "1"
    # In a thread: the proxy runs on this event loop, which must go on while the server starts.
    process, base = await asyncio.to_thread(start_server, database, env=env)
    try:
        chat, start = await new_chat(base, key)
        agent = Agent(base, key, chat)
        seen: list[dict[str, Any]] = []
        follower = asyncio.create_task(follow_until(base, key, chat, seen, 1, start))
        await asyncio.sleep(0.5)
        writer = asyncio.create_task(_replies(agent, 1, 80, 0.03))
        outages = []
        for _ in range(3):
            await asyncio.sleep(0.6)
            proxy.partition()
            started = time.monotonic()
            await asyncio.sleep(2)
            proxy.heal()
            outages.append(time.monotonic() - started)
        await writer
        async with asyncio.timeout(20):
            await follower
        await agent.client.aclose()
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 20)
        await proxy.stop()
    assert agent.refused > 0  # the outages were felt: 503 with Retry-After, then retried
    assert_every_chunk_once(seen, agent.replies, 80)
    rows = await database.fetch("SELECT count(*) AS n FROM chat_log WHERE type = 'CHUNK'")
    assert int(rows[0]["n"]) == 80  # nothing doubled by the retries


async def test_a_silent_agents_reply_is_stopped_and_every_subscriber_told(
    database: Database,
) -> None:
    _, key = provision(database)
    with serving(database, env={"REPLY_TIMEOUT": "1"}) as base:
        async with httpx.AsyncClient(base_url=base, headers={"x-api-key": key}) as client:
            for _ in range(3):
                chat, cursor = await new_chat(base, key)
                reply = (await client.post(f"/api/chats/{chat}/replies", json={})).json()
                started = time.monotonic()
                async with (
                    asyncio.timeout(10),
                    client.stream("GET", f"/api/chats/{chat}/stream?after={cursor}") as stream,
                ):
                    async for line in stream.aiter_lines():
                        if line.startswith("data: ") and '"stopped"' in line:
                            event = json.loads(line[6:])
                            break
                assert event["message"]["id"] == reply["message"]["id"]
                assert event["message"]["status"] == "stopped"
                assert time.monotonic() - started < 1 + 5  # REPLY_TIMEOUT, then within 5 s

"""A reply streamed while the agent writes it, read live by a frontend on another process, over
Server-Sent Events and over graphql-transport-ws, with the connection cut mid-reply and resumed
from the last cursor: every chunk once, in order, whichever transport carries the hints."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.databases import Database, run_cli
from tests.support.servers import serving
from tests.support.world import World
from tests.support.ws import graphql_socket

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
CHUNKS = 40
CHAT_MESSAGES = (
    "subscription($chatId: UUID!, $after: String) { chatMessages(chatId: $chatId, after: $after)"
    " { cursor type chunk { messageId index parts } message { id status parts } } }"
)


async def sse(response: httpx.Response) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
    """(id, event, data) of each event of a text/event-stream; comments skipped."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue
        if line:
            name, _, value = line.partition(": ")
            fields[name] = value
            continue
        if "data" in fields:
            yield fields.get("id", ""), fields["event"], json.loads(fields["data"])
        fields = {}


async def agent(base: str, key: str, chat: str) -> str:
    """The platform's agent: a reply of CHUNKS chunks, written at its own pace, then finished."""
    async with httpx.AsyncClient(base_url=base, headers={"x-api-key": key}) as client:
        started = await client.post(f"/api/chats/{chat}/replies", json={})
        reply = started.json()["message"]["id"]
        for index in range(CHUNKS):
            answer = await client.post(
                f"/api/chats/{chat}/replies/{reply}/chunks",
                json={"index": index, "parts": [{"type": "text", "text": f"{index} "}]},
            )
            assert answer.status_code == 200, answer.text
            await asyncio.sleep(0.01)
        assert (await client.post(f"/api/chats/{chat}/replies/{reply}/finish")).status_code == 200
        return str(reply)


async def new_chat(base: str, key: str) -> tuple[str, str]:
    """A chat with the user's message, and the log's position as the page was read."""
    async with httpx.AsyncClient(base_url=base, headers={"x-api-key": key}) as client:
        chat = (await client.post("/api/chats", json={"topic": "Live"})).json()["chat"]["id"]
        sent = await client.post(
            f"/api/chats/{chat}/messages", json={"parts": [{"type": "text", "text": "Go"}]}
        )
        assert sent.status_code == 200
        page = (await client.get(f"/api/chats/{chat}/messages")).json()
        assert [m["role"] for m in page["messages"]] == ["user"]
        return chat, page["cursor"]


def assert_whole(events: list[dict[str, Any]], reply: str) -> None:
    chunks = [e["chunk"]["index"] for e in events if e["type"].lower() == "chunk"]
    assert chunks == list(range(CHUNKS))  # each once, in order
    kinds = [e["type"].lower() for e in events]
    assert kinds[0] == "added"
    assert kinds[-1] == "finished"
    final = events[-1]["message"]
    assert final["id"] == reply
    assert final["parts"] == [{"type": "text", "text": "".join(f"{i} " for i in range(CHUNKS))}]


async def test_sse_resumes_after_cuts(two_servers: tuple[str, str], world: World) -> None:
    reading, writing = two_servers
    key = world.keys["alice"]
    chat, cursor = await new_chat(reading, key)
    writer = asyncio.create_task(agent(writing, key, chat))
    seen: list[dict[str, Any]] = []
    cuts = 0
    async with httpx.AsyncClient(base_url=reading, timeout=30) as client:
        last: str | None = None
        while not seen or seen[-1]["type"] != "finished":
            # The first connection starts from the page's cursor; each later one, as a browser's
            # EventSource does, sends the last id it saw (and the stale `after` is ignored).
            headers = {"x-api-key": key, **({"last-event-id": last} if last else {})}
            url = f"/api/chats/{chat}/stream?after={cursor}"
            async with client.stream("GET", url, headers=headers) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                async for event_id, kind, data in sse(response):
                    assert event_id == data["cursor"]
                    assert kind == data["type"]
                    seen.append(data)
                    last = event_id
                    if cuts < 3 and len(seen) >= 8 * (cuts + 1):
                        cuts += 1
                        break  # the connection is cut mid-reply
                    if kind == "finished":
                        break
    assert cuts == 3
    assert_whole(seen, await writer)


async def test_graphql_subscription_resumes_after_cuts(
    two_servers: tuple[str, str], world: World
) -> None:
    reading, writing = two_servers
    key = world.keys["alice"]
    chat, cursor = await new_chat(reading, key)
    writer = asyncio.create_task(agent(writing, key, chat))
    seen: list[dict[str, Any]] = []
    after = cursor
    for cut in range(4):
        async with graphql_socket(reading) as socket:
            assert await socket.init({"x-api-key": key}) == {"type": "connection_ack"}
            await socket.subscribe(CHAT_MESSAGES, {"chatId": chat, "after": after})
            while True:
                message = await socket.receive()
                if message["type"] == "ping":
                    continue
                assert message["type"] == "next", message
                event = message["payload"]["data"]["chatMessages"]
                seen.append(event)
                after = event["cursor"]
                if event["type"] == "FINISHED" or (cut < 3 and len(seen) >= 8 * (cut + 1)):
                    break
        if seen[-1]["type"] == "FINISHED":
            break
    assert_whole(seen, await writer)


async def test_streams_refuse_what_they_cannot_resume(database: Database, world: World) -> None:
    key = world.keys["alice"]
    with serving(database) as base:
        chat, cursor = await new_chat(base, key)
        _, other_cursor = await new_chat(base, key)
        async with httpx.AsyncClient(base_url=base, headers={"x-api-key": key}) as client:
            for bad in ("nope", other_cursor, cursor + "A"):
                answer = await client.get(f"/api/chats/{chat}/stream", params={"after": bad})
                assert (answer.status_code, answer.json()) == (
                    410,
                    {"status": "error", "message": "Cursor expired"},
                )
            hidden = await client.get(
                f"/api/chats/{chat}/stream", headers={"x-api-key": world.keys["bob"]}
            )
            assert (hidden.status_code, hidden.json()["message"]) == (404, "Chat not found")
            async with graphql_socket(base) as socket:
                assert await socket.init({"x-api-key": key}) == {"type": "connection_ack"}
                await socket.subscribe(CHAT_MESSAGES, {"chatId": chat, "after": other_cursor})
                message = await socket.receive()
                errors = (
                    message["payload"]["errors"]
                    if message["type"] == "next"
                    else message["payload"]
                )
                assert errors[0]["extensions"]["code"] == "CURSOR_EXPIRED"
                assert errors[0]["message"] == "Cursor expired"


async def test_a_revoked_keys_stream_ends(database: Database, world: World) -> None:
    key = world.keys["alice"]
    with serving(database) as base:
        chat, _ = await new_chat(base, key)
        async with (
            httpx.AsyncClient(base_url=base, timeout=10) as client,
            client.stream(
                "GET", f"/api/chats/{chat}/stream", headers={"x-api-key": key}
            ) as response,
        ):
            assert response.status_code == 200
            run_cli(["keys", "revoke", key], database.url)
            started = asyncio.get_running_loop().time()
            async with asyncio.timeout(5):
                async for _ in response.aiter_lines():
                    pass  # the stream ends by itself
            assert asyncio.get_running_loop().time() - started < 3


async def test_what_moves_the_chat_tells_chat_events(
    two_servers: tuple[str, str], world: World
) -> None:
    """A message sent, a reply's end and a trailing delete move the chat's updatedAt and send
    chatEvents UPDATED to the other process; a reply's start and chunks do not."""
    reading, writing = two_servers
    key = world.keys["alice"]
    async with (
        graphql_socket(reading) as socket,
        httpx.AsyncClient(base_url=writing, headers={"x-api-key": key}) as client,
    ):
        assert await socket.init({"x-api-key": key}) == {"type": "connection_ack"}
        await socket.subscribe()
        # The subscription is live once it hears a chat created on the other process.
        while True:
            chat = (await client.post("/api/chats", json={})).json()["chat"]["id"]
            try:
                async with asyncio.timeout(0.5):
                    await socket.next_event()
                break
            except TimeoutError:
                continue

        async def next_of_chat() -> dict[str, Any]:
            """The next change of the chat (its own CREATED, or a probe's, may come late)."""
            while True:
                event = await socket.next_event()
                if event["chat"]["id"] == chat and event["type"] != "CREATED":
                    return event

        api = f"/api/chats/{chat}"
        sent = (
            await client.post(f"{api}/messages", json={"parts": [{"type": "text", "text": "a"}]})
        ).json()
        reply = (await client.post(f"{api}/replies", json={})).json()["message"]["id"]
        chunk = {"index": 0, "parts": [{"type": "text", "text": "b"}]}
        assert (await client.post(f"{api}/replies/{reply}/chunks", json=chunk)).status_code == 200
        finished = (await client.post(f"{api}/replies/{reply}/finish")).json()
        deleted = await client.delete(f"{api}/messages", params={"from": reply})
        assert deleted.status_code == 200
        moved = [await next_of_chat() for _ in range(3)]
        assert [event["type"] for event in moved] == ["UPDATED"] * 3
        assert moved[0]["chat"]["updatedAt"] == sent["message"]["createdAt"]
        assert moved[1]["chat"]["updatedAt"] == finished["message"]["updatedAt"]
        listed = (await client.get("/api/chats")).json()["chats"]
        [mine] = [c for c in listed if c["id"] == chat]
        assert mine["updatedAt"] == moved[2]["chat"]["updatedAt"]


async def test_a_stream_outlives_the_request_deadline(database: Database, world: World) -> None:
    """REQUEST_TIMEOUT (1 s here) cuts ordinary requests, never a stream: it goes on delivering."""
    key = world.keys["alice"]
    with serving(database, env={"REQUEST_TIMEOUT": "1"}) as base:
        chat, cursor = await new_chat(base, key)
        async with (
            httpx.AsyncClient(base_url=base, headers={"x-api-key": key}, timeout=10) as client,
            client.stream("GET", f"/api/chats/{chat}/stream?after={cursor}") as response,
        ):
            assert response.status_code == 200
            await asyncio.sleep(2.5)  # past the deadline
            sent = await client.post(
                f"/api/chats/{chat}/messages", json={"parts": [{"type": "text", "text": "late"}]}
            )
            assert sent.status_code == 200
            async with asyncio.timeout(5):
                async for _, kind, data in sse(response):
                    assert kind == "added"
                    assert data["message"]["parts"] == [{"type": "text", "text": "late"}]
                    break


# A bound of one second: the serial phase, where no CPU-bound phase stretches the clock.
@pytest.mark.serial(seconds=6)
async def test_streams_count_against_the_cap_until_their_client_leaves(
    database: Database, world: World
) -> None:
    """MAX_SOCKETS_PER_CALLER covers event streams too: one more is 429; one its client closed
    stops counting at once (within 1 s)."""
    key = world.keys["alice"]
    with serving(database, env={"MAX_SOCKETS_PER_CALLER": "2"}) as base:
        chat, _ = await new_chat(base, key)
        url = f"/api/chats/{chat}/stream"
        async with httpx.AsyncClient(
            base_url=base, headers={"x-api-key": key}, timeout=10
        ) as client:
            async with client.stream("GET", url) as first, client.stream("GET", url) as second:
                assert (first.status_code, second.status_code) == (200, 200)
                refused = await client.get(url)
                assert (refused.status_code, refused.json()["message"]) == (
                    429,
                    "Too many requests",
                )
                assert refused.headers["retry-after"]
            # Both clients gone: a new stream is admitted within a second.
            deadline = asyncio.get_running_loop().time() + 1
            while True:
                async with client.stream("GET", url) as again:
                    if again.status_code == 200:
                        break
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)

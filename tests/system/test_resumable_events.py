"""Chat events that resume from a cursor, on every transport (graphql-transport-ws, Server-Sent
Events, multipart HTTP) and every engine: load the chats list, subscribe after its cursor, and
nothing is missed or seen twice; resume after an event's cursor; `Last-Event-ID` wins over a
resent `after`; a cursor that is not live is CURSOR_EXPIRED."""

from __future__ import annotations

import asyncio
import base64
import time
from contextlib import aclosing
from typing import Any

import httpx
import pytest

from tests.support.databases import Database
from tests.support.servers import serving
from tests.support.streams import TRANSPORTS, events_of, subscription
from tests.support.world import World

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def _create(client: httpx.AsyncClient, topic: str) -> str:
    made = await client.post("/api/chats", json={"topic": topic})
    assert made.status_code == 200, made.text
    return str(made.json()["chat"]["id"])


async def _take(items: Any, count: int) -> list[tuple[str | None, dict[str, Any]]]:
    taken = []
    async with asyncio.timeout(10):
        for _ in range(count):
            event_id, payload = await anext(items)
            taken.append((event_id, events_of(payload)))
    return taken


async def test_list_then_subscribe_then_resume_on_every_transport(
    database: Database, world: World
) -> None:
    """Per transport: chats made after the list's read arrive, in order, and the ones before do
    not; the stream resumed after its second event's cursor starts with the third."""
    headers = {"x-api-key": world.keys["alice"]}
    with serving(database) as base:
        async with httpx.AsyncClient(base_url=base, headers=headers) as client:
            for transport in TRANSPORTS:
                before = await _create(client, f"{transport} before")
                listed = (await client.get("/api/chats")).json()
                assert before in [chat["id"] for chat in listed["chats"]]
                made = [await _create(client, f"{transport} {n}") for n in range(3)]
                await client.patch("/api/chats", json={"chatId": before, "topic": "renamed"})
                variables = {"after": listed["cursor"]}
                async with subscription(transport, base, headers, variables) as items:
                    heard = await _take(items, 4)
                assert [(e["type"], e["chat"]["id"]) for _, e in heard] == [
                    *(("CREATED", chat_id) for chat_id in made),
                    ("UPDATED", before),
                ], transport
                if transport == "sse":  # every event's id is its cursor
                    assert [event_id for event_id, _ in heard] == [e["cursor"] for _, e in heard]
                variables = {"after": heard[1][1]["cursor"]}
                async with subscription(transport, base, headers, variables) as items:
                    resumed = await _take(items, 2)
                    later = await _create(client, f"{transport} live")
                    [(_, live)] = await _take(items, 1)
                assert [e for _, e in resumed] == [e for _, e in heard[2:]]
                assert (live["type"], live["chat"]["id"]) == ("CREATED", later)


async def test_last_event_id_wins_over_after(database: Database, world: World) -> None:
    """A reconnecting event stream resends the document with its first `after`, and its last
    event's id as `Last-Event-ID`: it resumes from the id."""
    headers = {"x-api-key": world.keys["alice"]}
    with serving(database) as base:
        async with httpx.AsyncClient(base_url=base, headers=headers) as client:
            cursor = (await client.get("/api/chats")).json()["cursor"]
            made = [await _create(client, f"chat {n}") for n in range(3)]
            async with subscription("sse", base, headers, {"after": cursor}) as items:
                heard = await _take(items, 3)
            assert [e["chat"]["id"] for _, e in heard] == made
            resent = {**headers, "last-event-id": str(heard[0][0])}
            async with subscription("sse", base, resent, {"after": cursor}) as items:
                again = await _take(items, 2)
            assert [e for _, e in again] == [e for _, e in heard[1:]]


def _forged(cursor: str, *, hour: int | None = None, place: int | None = None) -> str:
    """A cursor of the service's form with its hour or its place (both numbers) changed."""
    fields = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(":")
    if hour is not None:
        fields[4] = str(hour)
    if place is not None:
        fields[2:4] = [str(place), str(place)]
    return base64.urlsafe_b64encode(":".join(fields).encode()).decode().rstrip("=")


async def test_cursors_that_are_not_live_are_expired(database: Database, world: World) -> None:
    """Malformed, another account's, older than the log keeps, beyond the log: CURSOR_EXPIRED,
    on every transport, and nothing is written."""
    headers = {"x-api-key": world.keys["alice"]}
    with serving(database) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            mine = (await client.get("/api/chats", headers=headers)).json()["cursor"]
            dave = {"x-api-key": world.keys["dave"]}
            others = (await client.get("/api/chats", headers=dave)).json()["cursor"]
            day_ago = int(time.time() // 3600) - 26
            cursors = [
                "not a cursor",
                "Yzpub3Q",
                others,
                _forged(mine, hour=day_ago),
                _forged(mine, place=10**12),
            ]
            counts = await database.counts()
            for transport in TRANSPORTS:
                for cursor in cursors:
                    async with (
                        subscription(transport, base, headers, {"after": cursor}) as items,
                        aclosing(items),
                    ):
                        _, payload = await anext(items)
                    [error] = payload["errors"]
                    assert error["message"] == "Cursor expired", (transport, cursor)
                    assert error["extensions"]["code"] == "CURSOR_EXPIRED"
            assert await database.counts() == counts


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_list_read_among_concurrent_writes_splits_them_exactly(
    database: Database, world: World
) -> None:
    """Writers create chats while the list is read: every chat is either in the page or heard
    after its cursor, never both, never neither (the cursor carries the read's snapshot)."""
    headers = {"x-api-key": world.keys["alice"]}
    with serving(database, "--workers", "2") as base:
        async with httpx.AsyncClient(base_url=base, headers=headers) as client:
            stop = asyncio.Event()
            made: list[str] = []

            async def write() -> None:
                while not stop.is_set():
                    made.append(await _create(client, "busy"))
                    await asyncio.sleep(0.01)

            for _ in range(3):
                writers = [asyncio.create_task(write()) for _ in range(4)]
                await asyncio.sleep(0.1)
                listed = (await client.get("/api/chats", params={"limit": 100})).json()
                await asyncio.sleep(0.1)
                stop.set()
                await asyncio.gather(*writers)
                shown = {chat["id"] for chat in listed["chats"]}
                variables = {"after": listed["cursor"]}
                async with subscription("websocket", base, headers, variables) as items:
                    missing = set(made) - shown
                    heard = await _take(items, len(missing))
                heard_ids = [e["chat"]["id"] for _, e in heard]
                assert set(heard_ids) == missing
                assert not shown & set(heard_ids)
                assert len(made) < 100  # the page held every chat made before its read
                stop.clear()
                made.clear()
                for chat_id in shown | missing:
                    await client.request("DELETE", "/api/chats", json={"chatId": chat_id})

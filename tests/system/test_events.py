"""Live chat events over graphql-transport-ws, across processes, through the database (NOTIFY)
and through Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.databases import Database
from tests.support.servers import serving
from tests.support.world import World
from tests.support.ws import GraphQLSocket, graphql_socket

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def people(world: World) -> dict[str, str]:
    """Alice and Carol share an organization; Dave is an outsider: ids and keys from the world of
    accounts, made through the resolvers in the test's own process (nine `chats-api` processes
    fewer a test; the command line has tests of its own)."""
    names = ("alice", "carol", "dave")
    return {
        **{name: str(getattr(world, name)) for name in names},
        **{f"{name}-key": world.keys[name] for name in names},
    }


async def subscribed(socket: GraphQLSocket, key: str, account: str | None = None) -> None:
    assert await socket.init({"x-api-key": key}) == {"type": "connection_ack"}
    await socket.subscribe(variables={"accountId": account} if account else None)


async def test_events_reach_subscribers_in_another_process(
    database: Database, two_servers: tuple[str, str], people: dict[str, str]
) -> None:
    listening, writing = two_servers
    async with (
        graphql_socket(listening) as own,
        graphql_socket(listening) as fellow,
        graphql_socket(listening) as outsider,
        httpx.AsyncClient(base_url=writing, headers={"x-api-key": people["alice-key"]}) as rest,
    ):
        await subscribed(own, people["alice-key"])
        await subscribed(fellow, people["carol-key"], account=people["alice"])
        await subscribed(outsider, people["dave-key"])
        # The subscription is live once the server acknowledged a first change of the outsider's.
        async with httpx.AsyncClient(base_url=listening) as other:
            await other.post("/api/chats", headers={"x-api-key": people["dave-key"]})
        assert (await outsider.next_event())["type"] == "CREATED"

        created = (await rest.post("/api/chats", json={"topic": "Tour"})).json()["chat"]
        renamed = (
            await rest.patch("/api/chats", json={"chatId": created["id"], "topic": "Tour 2027"})
        ).json()["chat"]
        assert (
            await rest.request("DELETE", "/api/chats", json={"chatId": created["id"]})
        ).status_code == 200

        for socket in (own, fellow):
            events = [await socket.next_event() for _ in range(3)]
            assert events == [
                {"type": "CREATED", "chat": created},
                {"type": "UPDATED", "chat": renamed},
                {"type": "DELETED", "chat": renamed},
            ]
        # The outsider saw none of Alice's: its next event is its own next chat.
        async with httpx.AsyncClient(base_url=listening) as other:
            mine = (
                await other.post("/api/chats", headers={"x-api-key": people["dave-key"]})
            ).json()
        assert (await outsider.next_event())["chat"] == mine["chat"]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({}, id="no-key"),
        pytest.param({"x-api-key": "chats_unknown"}, id="unknown-key"),
        pytest.param({"authorization": "Basic abc"}, id="wrong-scheme"),
    ],
)
async def test_connection_without_a_valid_key_is_refused(
    database: Database, world: World, payload: dict[str, str]
) -> None:
    with serving(database) as base:
        async with graphql_socket(base) as socket:
            with pytest.raises(ConnectionClosed) as closed:
                await socket.init(payload)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_bearer_key_in_connection_params(database: Database, people: dict[str, str]) -> None:
    with serving(database) as base:
        async with graphql_socket(base) as socket:
            ack = await socket.init({"Authorization": f"Bearer {people['alice-key']}"})
            assert ack == {"type": "connection_ack"}


async def test_subscribing_to_a_foreign_account_is_forbidden(
    database: Database, events_env: dict[str, str], people: dict[str, str]
) -> None:
    with serving(database, env=events_env) as base:
        async with graphql_socket(base) as socket:
            await subscribed(socket, people["dave-key"], account=people["alice"])
            message = await socket.receive()
    # Refused once the stream starts: a `next` carrying the error (then `complete`).
    assert message["type"] == "next"
    assert message["payload"]["data"] is None
    [error] = message["payload"]["errors"]
    assert error["message"] == "Access denied to specified accountId"
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_subscriptions_per_connection_are_bounded(
    database: Database, people: dict[str, str]
) -> None:
    with serving(database) as base:
        async with graphql_socket(base) as socket:
            assert await socket.init({"x-api-key": people["alice-key"]}) == {
                "type": "connection_ack"
            }
            for _ in range(10):
                await socket.subscribe()
            over = await socket.subscribe()
            message = await socket.receive()
    assert message == {
        "id": over,
        "type": "error",
        "payload": [{"message": "Subscription limit reached"}],
    }


async def first_event(
    socket: GraphQLSocket, client: httpx.AsyncClient, key: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Creates chats until the subscription, once live on the server, reports one; returns the
    event and every chat created meanwhile."""
    created = []
    for _ in range(50):
        response = await client.post("/api/chats", headers={"x-api-key": key})
        created.append(response.json()["chat"])
        try:
            async with asyncio.timeout(0.2):
                return await socket.next_event(), created
        except TimeoutError:
            continue
    raise AssertionError("no event arrived")


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_losing_the_listen_connection_loses_no_event(
    database: Database, people: dict[str, str]
) -> None:
    """A worker's LISTEN connection dies (a database restart, a failover), three times: its
    subscriber's stream goes on, and every chat created meanwhile arrives once, read from the
    log, in order."""
    key = people["alice-key"]
    with serving(database) as base:
        async with (
            graphql_socket(base) as socket,
            httpx.AsyncClient(base_url=base, headers={"x-api-key": key}) as client,
        ):
            await subscribed(socket, key)
            event, created = await first_event(socket, client, key)
            for _ in created[created.index(event["chat"]) + 1 :]:
                await socket.next_event()
            for _ in range(3):
                await database.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                )
                made = [await _create(client) for _ in range(3)]
                heard = [await socket.next_event() for _ in made]
                assert [(e["type"], e["chat"]["id"]) for e in heard] == [
                    ("CREATED", chat_id) for chat_id in made
                ]


async def _create(client: httpx.AsyncClient) -> str:
    made = await client.post("/graphql", json={"query": "mutation { createChat { chat { id } } }"})
    return str(made.json()["data"]["createChat"]["chat"]["id"])


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_with_redis_the_writing_transactions_carry_no_notify(
    database: Database, events_env: dict[str, str], people: dict[str, str]
) -> None:
    """A listener on the database's channel hears hints (never an event: the log is the record)
    without Redis, and nothing with it, while the subscriber hears the same three events either
    way."""
    key = people["alice-key"]
    heard: list[str] = []
    listener = await asyncpg.connect(database.url)
    await listener.add_listener("chat_events", lambda *args: heard.append(args[-1]))
    try:
        with serving(database, env=events_env) as base:
            async with (
                graphql_socket(base) as socket,
                httpx.AsyncClient(base_url=base, headers={"x-api-key": key}) as client,
            ):
                await subscribed(socket, key)
                first, created = await first_event(socket, client, key)
                for _ in created[created.index(first["chat"]) + 1 :]:
                    await socket.next_event()  # the chats made while its first event came
                made = await client.post(
                    "/graphql", json={"query": "mutation { createChat { chat { id } } }"}
                )
                chat_id = made.json()["data"]["createChat"]["chat"]["id"]
                await client.patch("/api/chats", json={"chatId": chat_id, "topic": "Renamed"})
                await client.request("DELETE", "/api/chats", json={"chatId": chat_id})
                events = [await socket.next_event() for _ in range(3)]
                # The server's own LISTEN connection exists only without Redis.
                [listening] = await database.fetch(
                    "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
                    f" AND query LIKE 'LISTEN%' AND pid <> {listener.get_server_pid()}"
                )
        await asyncio.sleep(0.5)  # a notification would have arrived by now
    finally:
        await listener.close()
    assert [(e["type"], e["chat"]["id"]) for e in events] == [
        ("CREATED", chat_id),
        ("UPDATED", chat_id),
        ("DELETED", chat_id),
    ]
    if "REDIS_URL" in events_env:
        assert heard == []
        assert listening["n"] == 0
    else:
        # One hint per write at most: hints sent while one is on its way go as one.
        assert set(heard) == {"e"}
        assert len(heard) <= len(created) + 3
        assert listening["n"] == 1

"""Several server processes on one PostgreSQL and one Redis: one rate-limit budget per key, one
persisted-query store, and a service that keeps serving while Redis is away."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.support.api import priced
from tests.support.databases import Database
from tests.support.load import Load, create
from tests.support.redis import redis_behind_proxy
from tests.support.servers import free_port, provision, serving

# Redis's database is shared by the whole run; these tests run alone (the serial phase).
pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.serial]
CHAT = "query Chat($id: UUID!) { chat(id: $id) { id title } }"


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_one_rate_limit_budget_across_servers(database: Database, redis_url: str) -> None:
    _, key = provision(database)
    env = {"REDIS_URL": redis_url, "RATE_LIMIT": "20/hour"}
    with (
        serving(database, "--workers", "2", env=env) as first,
        serving(database, env=env) as second,
    ):
        async with httpx.AsyncClient() as client:
            answers = [await create(client, (first, second)[n % 2], key) for n in range(50)]
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(200) == 20
    assert statuses.count(429) == 30
    assert all(int(a.headers["retry-after"]) >= 1 for a in answers if a.status_code == 429)
    assert (await database.counts())["chats"] == 20


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_persisted_query_registered_on_one_server_is_known_to_the_other(
    database: Database, redis_url: str
) -> None:
    _, key = provision(database)
    digest = hashlib.sha256(CHAT.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    variables = {"id": str(uuid.uuid4())}
    headers = {"x-api-key": key}
    env = {"REDIS_URL": redis_url}
    with serving(database, env=env) as first, serving(database, env=env) as second:
        async with httpx.AsyncClient(headers=headers) as client:
            unknown = await client.post(
                f"{second}/graphql", json={"variables": variables, "extensions": extensions}
            )
            registered = await client.post(
                f"{first}/graphql",
                json={"query": CHAT, "variables": variables, "extensions": extensions},
            )
            by_hash = await client.post(
                f"{second}/graphql", json={"variables": variables, "extensions": extensions}
            )
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert registered.json() == by_hash.json() == priced({"data": {"chat": None}}, 1)


def _log_lines(log: Path, text: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if text in line]


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_redis_on_a_closed_port_fails_open(database: Database, tmp_path: Path) -> None:
    _, key = provision(database)
    env = {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "RATE_LIMIT": "5/hour"}
    log = tmp_path / "server.log"
    with log.open("w") as output, serving(database, env=env, output=output) as base:
        async with httpx.AsyncClient() as client:
            answers = [await create(client, base, key) for _ in range(20)]
    assert [answer.status_code for answer in answers] == [200] * 20  # the limit fails open
    assert len(_log_lines(log, "redis unreachable")) == 1  # a transition, not a line a request


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_redis_stopping_slowing_and_coming_back(database: Database, tmp_path: Path) -> None:
    """Redis stops, comes back, then goes silent behind a proxy and comes back, each twice, under
    load: every create answers 200, none waits long for Redis, and each outage is two log lines."""
    _, key = provision(database)
    redis_server, proxy, redis_url = await redis_behind_proxy()
    env = {"REDIS_URL": redis_url, "RATE_LIMIT": "100000/second"}
    log = tmp_path / "server.log"
    with ExitStack() as stack:
        stack.callback(redis_server.stop)
        output = stack.enter_context(log.open("w"))
        base = stack.enter_context(serving(database, env=env, output=output))
        async with Load(base, key) as load:
            for _ in range(2):
                await asyncio.sleep(1)
                redis_server.stop()
                await asyncio.sleep(2)
                redis_server.start()
                await asyncio.sleep(2)  # the guard tries Redis again within a second
                proxy.silence()
                await asyncio.sleep(2)
                proxy.resume()
            await asyncio.sleep(2)
        await proxy.stop()
    assert len(load.answers) > 100
    assert load.failed == []
    # Redis's deadline is 0.25 s, and it is tried once a second while away.
    assert load.slowest < 1.5, load.slowest
    assert len(_log_lines(log, "redis unreachable")) == 4
    assert len(_log_lines(log, "redis back after")) == 4
    print(f"\nRedis away and back: {len(load.answers)} creates, slowest {load.slowest:.2f} s")

"""COST_RATE_LIMIT across replicas: two server processes on one PostgreSQL and one Redis (a
redis-server of the test's own, so that it runs beside the others) spend one budget per caller by
what each request costs, on both edges."""

from __future__ import annotations

import httpx
import pytest

from tests.support.databases import Database
from tests.support.redis import RedisServer
from tests.support.servers import provision, serving

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_one_cost_budget_across_servers(database: Database, own_redis: RedisServer) -> None:
    """COST_RATE_LIMIT is spent by what each request costs, on both edges and both servers:
    a page of 20 chats' cursors (21), twice, a REST viewer (2) and a REST create (11) fit in 60;
    the third page and a second create do not, and no chat is written by the refused one."""
    _, key = provision(database)
    env = {"REDIS_URL": own_redis.url, "COST_RATE_LIMIT": "60/hour"}
    page = {"query": "{ chats { edges { cursor } } }"}
    with serving(database, env=env) as first, serving(database, env=env) as second:
        async with httpx.AsyncClient(headers={"x-api-key": key}) as client:
            pages = [await client.post(f"{url}/graphql", json=page) for url in (first, second)]
            viewer = await client.get(f"{first}/api/accounts/me")
            made = await client.post(f"{second}/api/chats", json={})
            refused = [
                await client.post(f"{first}/graphql", json=page),
                await client.post(f"{second}/api/chats", json={}),
            ]
    assert [r.status_code for r in (*pages, viewer, made)] == [200] * 4
    assert [r.headers["x-cost"] for r in (*pages, viewer, made)] == ["21", "21", "2", "11"]
    assert refused[0].json()["errors"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"
    assert (refused[1].status_code, refused[1].json()["message"]) == (
        429,
        "Too many requests",
    )
    assert (await database.counts())["chats"] == 1

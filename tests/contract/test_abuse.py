"""Bounds that protect the service from expensive or oversized requests."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.apps import AppFactory, http_client
from tests.support.databases import Database, lingering_sqlite_threads
from tests.support.world import World

pytestmark = pytest.mark.anyio


async def graphql(client: httpx.AsyncClient, query: str, key: str | None = None) -> httpx.Response:
    headers = {"x-api-key": key} if key else {}
    return await client.post("/graphql", json={"query": query}, headers=headers)


def rejected(response: httpx.Response, fragment: str) -> None:
    assert response.status_code == 200
    body = response.json()
    assert body.get("data") is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert fragment in body["errors"][0]["message"]


async def test_too_many_aliases(
    client: httpx.AsyncClient, database: Database, world: World
) -> None:
    aliases = " ".join(f"a{n}: createChat {{ chat {{ id }} }}" for n in range(16))
    rejected(await graphql(client, f"mutation {{ {aliases} }}", world.keys["alice"]), "aliases")
    assert await database.counts() == {"sessions": 0, "chats": 0}


async def test_aliases_are_counted_through_fragments(client: httpx.AsyncClient) -> None:
    fragment = "fragment F on Query { " + " ".join(f"f{n}: __typename" for n in range(8)) + " }"
    query = "{ ...F a: chats { ...G } } " + fragment + " fragment G on ChatRoomConnection {"
    query += " " + " ".join(f"g{n}: edges {{ cursor }}" for n in range(8)) + " }"
    rejected(await graphql(client, query), "aliases")


async def test_fifteen_aliases_are_fine(client: httpx.AsyncClient) -> None:
    aliases = " ".join(f"a{n}: __typename" for n in range(15))
    response = await graphql(client, f"{{ {aliases} }}")
    assert response.json()["data"] == {f"a{n}": "Query" for n in range(15)}


async def test_too_many_tokens(client: httpx.AsyncClient) -> None:
    query = "{ " + "__typename " * 2100 + "}"
    rejected(await graphql(client, query), "more than 2000 tokens")


async def test_batched_operations_are_refused(
    client: httpx.AsyncClient, database: Database, world: World
) -> None:
    mutation = {"query": "mutation { createChat { chat { id } } }"}
    response = await client.post(
        "/graphql", json=[mutation, mutation], headers={"x-api-key": world.keys["alice"]}
    )
    assert response.status_code == 400
    assert await database.counts() == {"sessions": 0, "chats": 0}


@pytest.mark.parametrize(
    "declared", [pytest.param(True, id="content-length"), pytest.param(False, id="streamed")]
)
async def test_graphql_document_size(client: httpx.AsyncClient, declared: bool) -> None:
    body = b'{"query": "{ __typename }", "padding": "' + b"x" * (64 * 1024) + b'"}'

    async def streamed() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    response = await client.post(
        "/graphql",
        content=body if declared else streamed(),
        headers={"content-type": "application/json", "origin": "https://app.example"},
    )
    assert response.status_code == 413
    assert response.headers["access-control-allow-origin"] == "*"  # readable by the browser
    assert response.json() == {
        "errors": [{"message": "Request body too large", "extensions": {"code": "BAD_USER_INPUT"}}]
    }


async def test_caches_are_bounded() -> None:
    from strawberry.extensions.parser_cache import _get_parse_cache

    from schema.schema import CACHE_SIZE, VALIDATION_CACHE

    parse_cache: Any = _get_parse_cache(CACHE_SIZE)
    assert parse_cache.cache_info().maxsize == CACHE_SIZE == 256
    assert VALIDATION_CACHE.maxsize == CACHE_SIZE


@pytest.mark.parametrize("path", ["/api/chats", "/graphql"])
async def test_runaway_requests_are_stopped(
    app_for: AppFactory, database: Database, world: World, path: str
) -> None:
    # A deadline no database round trip can meet stands in for runaway work.
    others = threading.enumerate()  # the world's app, and its open connection
    async with app_for(request_timeout=0.0005) as app, http_client(app) as client:
        body = {"query": "mutation { createChat { chat { id } } }"} if path == "/graphql" else {}
        response = await client.post(
            path,
            json=body,
            headers={"x-api-key": world.keys["alice"], "origin": "https://app.example"},
        )
    # On SQLite a cancelled statement finishes in aiosqlite's thread; shutdown waited for it.
    assert lingering_sqlite_threads(besides=others) == []
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    # A browser can read the refusal, and its Retry-After; the request id is on it too.
    assert response.headers["access-control-allow-origin"] == "*"
    assert "retry-after" in response.headers["access-control-expose-headers"]
    assert response.headers["x-request-id"]
    if path == "/graphql":
        assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    else:
        assert response.json() == {"status": "error", "message": "Service temporarily unavailable"}

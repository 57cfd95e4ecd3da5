"""Request ids, one structured log line per request, and Prometheus metrics."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.apps import AppFactory, http_client
from tests.support.databases import Database
from tests.support.world import World

pytestmark = pytest.mark.anyio


async def test_one_json_log_line_per_request(
    client: httpx.AsyncClient, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = await client.post(
        "/graphql",
        json={"query": "mutation { createChat { chat { id } } }"},
        headers={"x-api-key": world.keys["alice"], "x-request-id": "trace-42"},
    )
    assert response.headers["x-request-id"] == "trace-42"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    [line] = [line for line in lines if line["logger"] == "chats_api.access"]
    assert line["level"] == "INFO"
    assert line["message"] == "request"
    assert line["request_id"] == "trace-42"
    assert line["method"] == "POST"
    assert line["route"] == "/graphql"
    assert line["operation"] == "mutation createChat"
    assert line["status"] == 200
    assert line["duration_ms"] > 0
    assert world.keys["alice"] not in json.dumps(line)


async def test_metrics(client: httpx.AsyncClient, database: Database, world: World) -> None:
    await client.post("/api/chats", headers={"x-api-key": world.keys["alice"]})
    await client.post("/api/chats", headers={"x-api-key": "chats_nope"})
    await client.post(
        "/graphql",
        json={"query": "mutation { createChat { chat { id } } }"},
        headers={"x-api-key": world.keys["alice"]},
    )
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for sample in [
        'chats_api_requests_total{method="POST",operation="",route="/api/chats",status="200"}',
        'chats_api_requests_total{method="POST",operation="",route="/api/chats",status="401"}',
        'chats_api_requests_total{method="POST",operation="mutation createChat",'
        'route="/graphql",status="200"}',
        'chats_api_request_duration_seconds_bucket{le="0.5",method="POST",operation="",route="/api/chats"}',
    ]:
        assert sample in text
    if database.engine == "postgres":
        assert "chats_api_db_pool_connections_in_use " in text
        assert "chats_api_db_pool_connections " in text


async def test_unknown_paths_share_one_label(client: httpx.AsyncClient) -> None:
    for n in range(3):
        await client.get(f"/no/such/path/{n}")
    text = (await client.get("/metrics")).text
    assert 'route="other",status="404"' in text
    assert "/no/such/path" not in text


async def test_metrics_behind_a_token(app_for: AppFactory) -> None:
    async with app_for(metrics_token="scrape-secret") as app, http_client(app) as client:
        await client.post("/api/chats")  # something to count
        for headers in ({}, {"authorization": "Bearer wrong"}, {"x-api-key": "scrape-secret"}):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401
            assert refused.json() == {"status": "error", "message": "Unauthorized"}
            assert "chats_api" not in refused.text
        allowed = await client.get("/metrics", headers={"authorization": "Bearer scrape-secret"})
        assert allowed.status_code == 200
        assert "chats_api_requests_total" in allowed.text

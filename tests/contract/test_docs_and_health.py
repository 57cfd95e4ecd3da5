"""The served OpenAPI document, the /docs page, and the health checks."""

from __future__ import annotations

import httpx
import pytest
from openapi_spec_validator import validate

from tests.support.apps import AppFactory, http_client
from tests.support.databases import Database

pytestmark = pytest.mark.anyio


async def test_openapi_document_is_valid_3_1(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    validate(document)
    operations = document["paths"]["/api/chats"]
    assert set(operations) == {"get", "post", "patch", "delete"}
    # The seed's operation, unchanged in meaning, with every status the service can answer.
    create = operations["post"]
    assert create["requestBody"]["required"] is False
    assert set(create["responses"]) == {
        "200",
        "400",
        "401",
        "403",
        "409",
        "413",
        "429",
        "500",
        "503",
    }
    room = document["components"]["schemas"]["ChatRoom"]
    assert room["properties"]["artistId"]["type"] == ["string", "null"]
    assert "nullable" not in str(document)


async def test_docs_page_renders_offline(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "POST /api/chats" in page
    assert "Access denied to specified accountId" in page
    # Nothing fetched from elsewhere: no scripts, stylesheets or images by URL.
    for marker in ("<script", "http://", "https://", "<link", "<img"):
        assert marker not in page.split("<details>")[0]


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "success"}
    assert (await client.get("/readyz")).json() == {"status": "success"}


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_not_ready_without_the_database(
    app_for: AppFactory, database: Database, tmp_path
) -> None:
    from urllib.parse import urlsplit, urlunsplit

    from tests.support.proxy import TcpProxy

    parts = urlsplit(database.url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    port = await proxy.start()
    url = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))
    async with app_for(database_url=url) as app, http_client(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        await proxy.stop()
        not_ready = await client.get("/readyz")
        alive = await client.get("/healthz")
    assert not_ready.status_code == 503
    assert not_ready.json() == {"status": "error", "message": "Service temporarily unavailable"}
    assert not_ready.headers["retry-after"].isdigit()
    assert alive.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        pytest.param("GET", "/docs", {}, id="docs-page"),
        pytest.param("GET", "/openapi.json", {}, id="openapi"),
        pytest.param("GET", "/graphql", {"accept": "text/html"}, id="graphiql-page"),
        pytest.param("GET", "/graphiql/page.js", {}, id="graphiql-asset"),
        pytest.param("POST", "/api/chats", {}, id="rest-error"),
        pytest.param("GET", "/healthz", {}, id="health"),
        pytest.param("GET", "/nowhere", {}, id="not-found"),
    ],
)
async def test_every_answer_refuses_sniffing_and_framing(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = await client.request(method, path, headers=headers)
    assert response.headers["x-content-type-options"] == "nosniff"
    policies = response.headers.get_list("content-security-policy")
    assert "frame-ancestors 'none'" in policies

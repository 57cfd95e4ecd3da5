"""What only the REST edge does: bodies, JSON, the envelope, CORS."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.databases import Database
from tests.support.world import World

pytestmark = pytest.mark.anyio
MAX_BODY = 64 * 1024


async def post(
    client: httpx.AsyncClient, content: bytes, key: str | None, **headers: str
) -> httpx.Response:
    if key is not None:
        headers["x-api-key"] = key
    return await client.post("/api/chats", content=content, headers=headers)


def envelope(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == "error"
    assert list(body) == ["status", "message"]
    return response.status_code, body["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"{", "Invalid JSON body", id="truncated"),
        pytest.param(b"{'topic': 'x'}", "Invalid JSON body", id="single-quotes"),
        pytest.param(b'{"topic": NaN}', "Invalid JSON body", id="nan"),
        pytest.param(b'{"topic": Infinity}', "Invalid JSON body", id="infinity"),
        pytest.param(b'{"topic": "\xff\xfe"}', "Invalid JSON body", id="invalid-utf8"),
        pytest.param(b"[" * 5000 + b"]" * 5000, "Invalid JSON body", id="deep-nesting"),
        pytest.param(b'{"a": 1} {"b": 2}', "Invalid JSON body", id="two-documents"),
        # Lone surrogates: grammatical JSON, but no text; refused where JSON is read.
        pytest.param(
            b'{"topic": "lone \\ud800 surrogate"}', "Invalid JSON body", id="lone-surrogate"
        ),
        pytest.param(b'{"\\udfff": 1}', "Invalid JSON body", id="lone-surrogate-key"),
        pytest.param(b'{"chatId": "\\ud800"}', "Invalid JSON body", id="lone-surrogate-uuid"),
        pytest.param(b"[]", "Request body must be a JSON object", id="array"),
        pytest.param(b'"topic"', "Request body must be a JSON object", id="string"),
        pytest.param(b"null", "Request body must be a JSON object", id="null"),
        pytest.param(b"42", "Request body must be a JSON object", id="number"),
        pytest.param(b"1" * 400, "Request body must be a JSON object", id="huge-number"),
    ],
)
async def test_bad_json(
    client: httpx.AsyncClient, database: Database, world: World, body: bytes, message: str
) -> None:
    response = await post(client, body, world.keys["alice"], **{"content-type": "application/json"})
    assert envelope(response) == (400, message)
    assert await database.counts() == {"sessions": 0, "chats": 0}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"  \n", id="whitespace"),
        pytest.param(b"{}", id="empty-object"),
    ],
)
async def test_body_is_optional(
    client: httpx.AsyncClient, database: Database, world: World, body: bytes
) -> None:
    response = await post(client, body, world.keys["alice"])
    assert response.status_code == 200
    assert response.json()["chat"]["title"] == "New chat"
    assert await database.counts() == {"sessions": 1, "chats": 1}


async def test_unknown_fields_are_ignored(
    client: httpx.AsyncClient, database: Database, world: World
) -> None:
    response = await client.post(
        "/api/chats",
        json={"topic": "x", "color": "blue", "nested": {"a": [1, 2]}, "id": "not-used"},
        headers={"x-api-key": world.keys["alice"]},
    )
    assert response.status_code == 200
    assert response.json()["chat"]["title"] == "x"
    assert await database.counts() == {"sessions": 1, "chats": 1}


async def test_valid_json_that_orjson_refuses_is_still_json(
    client: httpx.AsyncClient, database: Database, world: World
) -> None:
    body = b'{"topic": "big", "ignored": 123456789012345678901234567890}'
    response = await post(client, body, world.keys["alice"])
    assert response.status_code == 200
    assert await database.counts() == {"sessions": 1, "chats": 1}


async def test_form_content_type_from_curl_is_read_as_json(
    client: httpx.AsyncClient, world: World
) -> None:
    """`curl -d` sends application/x-www-form-urlencoded; the body is still JSON."""
    response = await post(
        client,
        b'{"topic":"from curl"}',
        world.keys["alice"],
        **{"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.json()["chat"]["title"] == "from curl"


async def test_success_bytes(client: httpx.AsyncClient, world: World) -> None:
    chat_id = uuid.uuid4()
    response = await post(client, f'{{"chatId":"{chat_id}"}}'.encode(), world.keys["alice"])
    chat = response.json()["chat"]
    expected = (
        '{"status":"success","chat":{'
        f'"id":"{chat_id}","title":"New chat","accountId":"{world.alice}",'
        f'"sessionId":"{chat["sessionId"]}","updatedAt":"{chat["updatedAt"]}","artistId":null}}}}'
    )
    assert response.content.decode() == expected


@pytest.mark.parametrize(
    "key", [pytest.param(True, id="with-key"), pytest.param(False, id="without-key")]
)
async def test_body_too_large(
    client: httpx.AsyncClient, database: Database, world: World, key: bool
) -> None:
    body = b'{"topic": "x"' + b" " * MAX_BODY + b"}"
    response = await post(client, body, world.keys["alice"] if key else None)
    assert envelope(response) == (413, "Request body too large")
    assert await database.counts() == {"sessions": 0, "chats": 0}


async def test_body_too_large_without_content_length(
    client: httpx.AsyncClient, database: Database, world: World
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY // 1024 + 1):
            yield b" " * 1024

    response = await client.post(
        "/api/chats", content=chunks(), headers={"x-api-key": world.keys["alice"]}
    )
    assert "content-length" not in response.request.headers
    assert envelope(response) == (413, "Request body too large")
    assert await database.counts() == {"sessions": 0, "chats": 0}


async def test_body_of_exactly_the_limit_is_accepted(
    client: httpx.AsyncClient, world: World
) -> None:
    head = b'{"topic": "limit"}'
    response = await post(client, head + b" " * (MAX_BODY - len(head)), world.keys["alice"])
    assert response.status_code == 200


async def test_cors_preflight(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/chats",
        headers={
            "origin": "https://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-api-key, content-type, authorization",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"x-api-key", "authorization", "content-type"} <= {h.strip() for h in allowed.split(",")}
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_cors_headers_on_answers(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        "/api/chats", headers={"origin": "https://app.example", "x-api-key": world.keys["alice"]}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "x-request-id" in response.headers["access-control-expose-headers"]


async def test_request_id_is_returned_and_echoed(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/chats")
    assert len(response.headers["x-request-id"]) >= 16
    echoed = await client.post("/api/chats", headers={"x-request-id": "trace-123"})
    assert echoed.headers["x-request-id"] == "trace-123"


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        pytest.param("GET", "/api/nothing", 404, "Not Found", id="unknown-path"),
        pytest.param("PUT", "/api/chats", 405, "Method Not Allowed", id="unknown-method"),
    ],
)
async def test_other_routes_answer_in_the_envelope(
    client: httpx.AsyncClient, method: str, path: str, status: int, message: str
) -> None:
    response = await client.request(method, path)
    assert envelope(response) == (status, message)

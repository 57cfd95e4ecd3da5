"""A GraphQL subscription over each transport the service speaks, read as its clients read it:
graphql-transport-ws, Server-Sent Events (graphql-sse's distinct connections mode) and multipart
HTTP (Apollo's subscriptions spec). Each yields `(event id, payload)`: the SSE `id:` (None
elsewhere) and the result (`data` and `errors`), until the server completes the stream."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.support.ws import graphql_socket

TRANSPORTS = ("websocket", "sse", "multipart")
SSE_ACCEPT = "text/event-stream"
# As Apollo Client 4's HttpLink sends it for a subscription (its quoted form).
MULTIPART_ACCEPT = (
    'multipart/mixed;boundary="graphql";subscriptionSpec="1.0",'
    "application/graphql-response+json,application/json;q=0.9"
)
CHAT_EVENTS = (
    "subscription Events($after: String, $accountId: UUID) {"
    " chatEvents(after: $after, accountId: $accountId) { type cursor chat { id title } } }"
)

Item = tuple[str | None, dict[str, Any]]


@asynccontextmanager
async def subscription(
    transport: str,
    base: str,
    headers: dict[str, str],
    variables: dict[str, Any] | None = None,
    query: str = CHAT_EVENTS,
    accept: str | None = None,
) -> AsyncIterator[AsyncGenerator[Item, None]]:
    """The subscription's results, as an iterator to read from within the block."""
    body = {"query": query, "variables": variables or {}}
    if transport == "websocket":
        async with graphql_socket(base) as socket:
            assert (await socket.init(headers))["type"] == "connection_ack"
            await socket.subscribe(query, variables)
            yield _socket_items(socket)
        return
    accept = accept or (SSE_ACCEPT if transport == "sse" else MULTIPART_ACCEPT)
    async with (
        httpx.AsyncClient(base_url=base, timeout=15) as client,
        client.stream("POST", "/graphql", json=body, headers={**headers, "accept": accept}) as r,
    ):
        assert r.status_code == 200, (r.status_code, await r.aread())
        if transport == "sse":
            assert r.headers["content-type"].startswith("text/event-stream")
            yield _sse_items(r)
        else:
            assert r.headers["content-type"].startswith("multipart/mixed")
            yield _multipart_items(r)


async def _socket_items(socket: Any) -> AsyncGenerator[Item, None]:
    while True:
        message = await socket.receive()
        if message["type"] == "ping":
            await socket.connection.send(json.dumps({"type": "pong"}))
            continue
        if message["type"] == "complete":
            return
        if message["type"] == "error":
            yield None, {"errors": message["payload"]}
            return
        assert message["type"] == "next", message
        yield None, message["payload"]


async def _sse_items(response: httpx.Response) -> AsyncGenerator[Item, None]:
    event: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue  # a comment: the stream's heartbeat
        if line:
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")
            continue
        if not event:
            continue
        if event.get("event") == "complete":
            return
        assert event.get("event") == "next", event
        yield event.get("id"), json.loads(event["data"])
        event = {}


async def _multipart_items(response: httpx.Response) -> AsyncGenerator[Item, None]:
    buffer = ""
    async for text in response.aiter_text():
        buffer += text
        while True:
            start = buffer.find("\r\n\r\n")
            end = buffer.find("\r\n--graphql", start + 1)
            if buffer.startswith("\r\n--graphql--") or (start < 0 and "--graphql--" in buffer):
                return
            if start < 0 or end < 0:
                break
            part = json.loads(buffer[start + 4 : end])
            buffer = buffer[end + len("\r\n--graphql") :]
            if part == {}:
                continue  # a heartbeat
            if part.get("payload") is None:
                yield None, {"errors": part["errors"]}
                continue
            yield None, part["payload"]


def events_of(payload: dict[str, Any]) -> dict[str, Any]:
    """A chatEvents result's event, its errors failing the test."""
    assert "errors" not in payload, payload
    return payload["data"]["chatEvents"]  # type: ignore[no-any-return]

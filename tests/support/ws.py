"""A minimal graphql-transport-ws client for the tests, on the `websockets` package."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

PROTOCOL = "graphql-transport-ws"
CHAT_EVENTS = (
    "subscription Events($accountId: UUID) { chatEvents(accountId: $accountId) {"
    " type chat { id title accountId sessionId updatedAt artistId } } }"
)
WAIT_SECONDS = 10


class GraphQLSocket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self._ids = 0

    async def init(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.connection.send(json.dumps({"type": "connection_init", "payload": payload}))
        return await self.receive()

    async def subscribe(
        self, query: str = CHAT_EVENTS, variables: dict[str, Any] | None = None
    ) -> str:
        self._ids += 1
        operation_id = str(self._ids)
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = variables
        message = {"id": operation_id, "type": "subscribe", "payload": payload}
        await self.connection.send(json.dumps(message))
        return operation_id

    async def receive(self) -> dict[str, Any]:
        async with asyncio.timeout(WAIT_SECONDS):
            raw = await self.connection.recv()
        # The protocol's messages are JSON text frames; graphql-ws closes the socket on bytes.
        assert isinstance(raw, str), f"a binary frame: {raw!r}"
        return json.loads(raw)  # type: ignore[no-any-return]

    async def next_event(self) -> dict[str, Any]:
        while True:
            message = await self.receive()
            if message["type"] == "ping":
                await self.connection.send(json.dumps({"type": "pong"}))
                continue
            assert message["type"] == "next", message
            return message["payload"]["data"]["chatEvents"]  # type: ignore[no-any-return]


@asynccontextmanager
async def graphql_socket(base_url: str) -> AsyncIterator[GraphQLSocket]:
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[PROTOCOL]) as connection:  # type: ignore[list-item]
        yield GraphQLSocket(connection)

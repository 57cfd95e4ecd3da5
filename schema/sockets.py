"""graphql-transport-ws connections whose caller is checked again while they live.

A socket authenticates once, at `connection_init`; without a second look, a key revoked after it
(or a token that expires) would keep reading and writing for as long as the socket stays open.
"""

from __future__ import annotations

import asyncio
import contextlib

from graphql import GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from resolvers.errors import AccessDenied, RateLimited, ServiceError, Unauthenticated
from schema.context import Context
from schema.cost import cost_of_text
from schema.errors import from_service_error
from schema.schema import MAX_TOKENS
from schema.trusted import Refused

# Every this often the socket's credentials are checked again. Keys and identities are cached
# for KEY_CACHE_SECONDS (1 s), so a revoked key closes its sockets within about 1.5 s, as a
# revoked key is refused over HTTP within 1 s.
RECHECK_SECONDS = 0.5
FORBIDDEN = 4403  # graphql-ws reconnects after it, asking the page for fresh credentials
TOO_MANY = 4429  # graphql-ws does not retry after it


class CheckedConnection(BaseGraphQLTransportWSHandler[Context, None]):
    """Once acknowledged, a watchdog checks the caller again every RECHECK_SECONDS (without
    spending its rate limit). Refused (a key revoked or expired, a token expired, an identity
    unlinked), its operations are stopped and the socket is closed with 4403 Forbidden. A
    database outage closes nothing: the stream itself ends with SERVICE_UNAVAILABLE if it must."""

    _watchdog: asyncio.Task[None] | None = None
    _holder: str | None = None  # whose open sockets this one counts among

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if not self.connection_acknowledged or self._watchdog is not None:
            return
        holder = (await self.context.caller()).rate_key
        if not self.view.sockets.open(holder):  # type: ignore[attr-defined]
            await self.websocket.close(code=TOO_MANY, reason="Too many open sockets")
            return
        self._holder = holder
        self._watchdog = asyncio.create_task(self._watch())

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """The operation's document as the gate admits it (trusted documents, the safelist);
        then each operation over the socket spends its own units of the caller's rate limit (the
        connection spent one at `connection_init`). Refused, it gets an `error` message."""
        if self.connection_acknowledged:
            payload = message.get("payload") or {}
            query, name = payload.get("query"), payload.get("operationName")
            try:
                admitted = await self.view.gate.admit(  # type: ignore[attr-defined]
                    self.context,
                    query,
                    payload.get("extensions"),
                    payload.get("documentId"),
                    name,
                )
            except Refused as refusal:
                await self._refuse(
                    message, GraphQLError(refusal.message, extensions={"code": refusal.code})
                )
                return
            if admitted.query is not None:
                payload["query"] = query = admitted.query
            if isinstance(query, str):
                cost = cost_of_text(query, name if isinstance(name, str) else None, MAX_TOKENS)
                try:
                    await self.context.charge(cost)
                except RateLimited as refusal:
                    await self._refuse(message, from_service_error(refusal))
                    return
        await super().handle_subscribe(message)

    async def _refuse(self, message: SubscribeMessage, error: GraphQLError) -> None:
        await self.send_message(
            {"id": message["id"], "type": "error", "payload": [error.formatted]}
        )

    async def shutdown(self) -> None:
        if self._holder is not None:
            self.view.sockets.close(self._holder)  # type: ignore[attr-defined]
            self._holder = None
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        await super().shutdown()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            try:
                await self.context.recheck()
            except (Unauthenticated, AccessDenied):
                break
            except ServiceError:
                continue  # not the caller's doing: checked again next time
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        await self.websocket.close(code=FORBIDDEN, reason="Forbidden")

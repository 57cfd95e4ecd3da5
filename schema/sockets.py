"""graphql-transport-ws connections whose caller is checked again while they live.

A socket authenticates once, at `connection_init`; without a second look, a key revoked after it
(or a token that expires) would keep reading and writing for as long as the socket stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from graphql import GraphQLError
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Tracer
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.types.unset import UNSET, UnsetType

from chats_api import jsoncodec
from resolvers.errors import AccessDenied, RateLimited, ServiceError, Unauthenticated
from resolvers.streams import OpenStreams
from schema import telemetry
from schema.context import Context
from schema.errors import BAD_USER_INPUT, from_service_error
from schema.gate import Refused
from schema.pricing import Price
from schema.reading import NO_QUERY, OPTIONAL_OBJECT, OPTIONAL_TEXT
from schema.schema import Schema
from schema.telemetry import OperationSpan

if TYPE_CHECKING:
    from schema.gate import DocumentGate

# Every this often the socket's credentials are checked again. Keys and identities are cached
# for KEY_CACHE_SECONDS (1 s), so a revoked key closes its sockets within about 1.5 s, as a
# revoked key is refused over HTTP within 1 s.
RECHECK_SECONDS = 0.5
FORBIDDEN = 4403  # graphql-ws reconnects after it, asking the page for fresh credentials
TOO_MANY = 4429  # graphql-ws does not retry after it
MAX_SUBSCRIPTIONS_PER_CONNECTION = 10
# A socket must send `connection_init` within this long (graphql-ws sends it at once), and at most
# this many sockets of a process may be waiting to: an idle socket holds a slot and memory.
INIT_SECONDS = 5
MAX_AWAITING_INIT = 256
# What a message of each type may hold (graphql-transport-ws): checked before it is dispatched.
_SUBSCRIBE_PAYLOAD = {
    "query": OPTIONAL_TEXT,
    "operationName": OPTIONAL_TEXT,
    "documentId": OPTIONAL_TEXT,
    "variables": OPTIONAL_OBJECT,
    "extensions": OPTIONAL_OBJECT,
}


def well_formed(message: object) -> bool:
    """Whether a graphql-transport-ws message has the protocol's shape (an unknown type is
    Strawberry's to refuse, with its own reason)."""
    if not isinstance(message, dict):
        return False
    kind = message.get("type")
    if kind in ("connection_init", "ping", "pong"):
        return isinstance(message.get("payload"), OPTIONAL_OBJECT)
    if kind == "complete":
        return isinstance(message.get("id"), str)
    if kind == "subscribe":
        payload = message.get("payload")
        return (
            isinstance(message.get("id"), str)
            and isinstance(payload, dict)
            and all(isinstance(payload.get(k), t) for k, t in _SUBSCRIBE_PAYLOAD.items())
        )
    return isinstance(kind, str)


class AwaitingInit:
    """This process's sockets that have not sent `connection_init` yet."""

    def __init__(self, limit: int = MAX_AWAITING_INIT) -> None:
        self.limit, self.count = limit, 0

    def enter(self) -> bool:
        if self.count >= self.limit:
            return False
        self.count += 1
        return True

    def leave(self) -> None:
        self.count -= 1


class CheckedConnection(BaseGraphQLTransportWSHandler[Context, None]):
    """Once acknowledged, a watchdog checks the caller again every RECHECK_SECONDS (without
    spending its rate limit). Refused (a key revoked or expired, a token expired, an identity
    unlinked), its operations are stopped and the socket is closed with 4403 Forbidden. A
    database outage closes nothing: the stream itself ends with SERVICE_UNAVAILABLE if it must."""

    view: GraphQLSockets
    _watchdog: asyncio.Task[None] | None = None
    _holder: str | None = None  # whose open sockets this one counts among
    _awaiting_init = False

    async def handle(self) -> None:
        """At most MAX_AWAITING_INIT sockets wait for `connection_init`; one more is closed with
        4429 at once."""
        if not self.view.awaiting_init.enter():
            await self.websocket.close(code=TOO_MANY, reason="Too many sockets awaiting init")
            return
        self._awaiting_init = True
        try:
            await super().handle()
        finally:
            self._initialised()

    def _initialised(self) -> None:
        if self._awaiting_init:
            self._awaiting_init = False
            self.view.awaiting_init.leave()

    async def handle_message(self, message: Message) -> None:
        """A message without the protocol's shape closes the socket with 4400, before or after
        `connection_init`, before anything reads it."""
        if not well_formed(message):
            await self.handle_invalid_message("Invalid message")
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        self._initialised()
        await super().handle_connection_init(message)
        if not self.connection_acknowledged or self._watchdog is not None:
            return
        holder = (await self.context.caller()).rate_key
        if not self.view.sockets.open(holder):
            await self.websocket.close(code=TOO_MANY, reason="Too many open sockets")
            return
        self._holder = holder
        self._watchdog = asyncio.create_task(self._watch())

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """The operation's document as the gate admits it (trusted documents, the safelist);
        each operation over the socket spends its own units of the caller's rate limit, whatever
        it holds (the connection spent one at `connection_init`). Refused, it gets an `error`
        message."""
        price = None
        if self.connection_acknowledged:
            refusal, price = await self._admit(message["payload"])
            if refusal is not None:
                await self._refuse(message, refusal)
                return
        if telemetry.TRACER is None:
            await super().handle_subscribe(message)
        else:
            await self._traced(message, price, telemetry.TRACER)

    async def _traced(self, message: SubscribeMessage, price: Price | None, tracer: Tracer) -> None:
        """The operation in a SERVER span of its own, whose parent is the `traceparent` the
        socket's `connection_init` payload carried; it ends with the operation's task, whose
        queries and delivered events are its children."""
        params = self.context.connection_params or {}
        carrier = {str(k).lower(): v for k, v in params.items() if isinstance(v, str)}
        payload = message["payload"]
        operation = OperationSpan.of(price, payload.get("documentId"), payload.get("query"))
        span = tracer.start_span(
            operation.type,
            context=propagate.extract(carrier),
            kind=SpanKind.SERVER,
            attributes=operation.attributes(),
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await super().handle_subscribe(message)
        finally:
            otel_context.detach(token)
        running = self.operations.get(message["id"])
        if running is None or running.task is None:
            span.end()
        else:
            running.task.add_done_callback(lambda _: span.end())

    async def _admit(
        self, payload: Mapping[str, object]
    ) -> tuple[GraphQLError | None, Price | None]:
        """Admits the payload's document (writing it into the payload) and charges it; the
        refusal, if any, and the document's price."""
        query, name = payload.get("query"), payload.get("operationName")
        extensions = payload.get("extensions")  # an object or None: `well_formed` checked
        refusal = None
        try:
            admitted = await self.view.gate.admit(
                self.context,
                query,
                extensions if isinstance(extensions, dict) else None,
                payload.get("documentId"),
                name,
            )
        except Refused as refused:
            refusal = refused.error()
        else:
            if admitted.query is None:
                refusal = GraphQLError(NO_QUERY, extensions={"code": BAD_USER_INPUT})
            else:
                payload["query"] = query = admitted.query  # type: ignore[index]
        cost, units, price = 1, 0, None
        if refusal is None and isinstance(query, str):
            gate = self.view.gate
            # None: it will not run (its own answer says why), and it spends one unit.
            price = await gate.price(self.context, query, name)
            if price is not None:
                cost, units = price.operations, price.estimate(payload.get("variables"))
                over = gate.over_limit(units)
                if over is not None:
                    return over.error(), None
        try:
            await self.context.charge(cost, units)
        except RateLimited as limited:
            return from_service_error(limited), None
        return refusal, price

    async def _refuse(self, message: SubscribeMessage, error: GraphQLError) -> None:
        await self.send_message(
            {"id": message["id"], "type": "error", "payload": [error.formatted]}
        )

    async def shutdown(self) -> None:
        if self._holder is not None:
            self.view.sockets.close(self._holder)
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


class TextFrames(ASGIWebSocketAdapter):
    """graphql-transport-ws messages are JSON text frames; `graphql-ws` (Apollo's GraphQLWsLink,
    GraphiQL, urql, Relay) closes the socket on a binary one, which Strawberry sends whenever
    `encode_json` gives bytes."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        if self.ws.application_state is WebSocketState.DISCONNECTED:
            raise WebSocketDisconnected  # closed by us (a caller refused) while this was running
        try:
            await self.ws.send_text(jsoncodec.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class GraphQLSockets(GraphQL[Context, None]):
    """/graphql's WebSocket: Strawberry's graphql-transport-ws handler (`CheckedConnection`),
    with the same gate as HTTP and this process's counts of open sockets."""

    websocket_adapter_class = TextFrames
    graphql_transport_ws_handler_class = CheckedConnection

    def __init__(
        self,
        schema: Schema,
        *,
        gate: DocumentGate,
        streams: OpenStreams,
        allowed_origins: Sequence[str],
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            allowed_origins=allowed_origins,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
            connection_init_wait_timeout=timedelta(seconds=INIT_SECONDS),
        )
        self.gate = gate
        self.sockets = streams
        self.awaiting_init = AwaitingInit()

    def decode_json(self, data: str | bytes) -> object:
        return jsoncodec.loads(data)

    def encode_json(self, data: object) -> bytes:
        return jsoncodec.dumps(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(request=request, headers=None, authenticator=request.app.state.authenticator)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Subscriptions authenticate once, with the key in the `connection_init` payload."""
        try:
            await context.caller()
        except ServiceError as exc:
            raise ConnectionRejectionError({"message": exc.message}) from exc
        unset: UnsetType = UNSET
        return unset

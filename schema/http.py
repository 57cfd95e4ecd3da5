"""The ASGI app that serves /graphql (HTTP and WebSocket) with our context."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

import jsoncodec
from resolvers.errors import ServiceError
from schema.context import Context
from schema.schema import build_schema

MAX_SUBSCRIPTIONS_PER_CONNECTION = 10


class GraphQLApp(GraphQL[Context, None]):
    def decode_json(self, data: str | bytes) -> object:
        return jsoncodec.loads(data)

    def encode_json(self, data: object) -> bytes:
        return jsoncodec.dumps(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            authenticator=request.app.state.authenticator,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Subscriptions authenticate once, with the key in the `connection_init` payload."""
        try:
            await context.caller()
        except ServiceError as exc:
            raise ConnectionRejectionError({"message": exc.message}) from exc
        unset: UnsetType = UNSET
        return unset


def graphql_app() -> GraphQLApp:
    return GraphQLApp(
        build_schema(),
        graphql_ide="graphiql",
        allow_queries_via_get=True,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
    )

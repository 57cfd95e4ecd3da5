"""The ASGI app that serves /graphql (HTTP and WebSocket) with our context."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from schema.context import Context
from schema.schema import build_schema


class GraphQLApp(GraphQL[Context, None]):
    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            authenticator=request.app.state.authenticator,
        )


def graphql_app() -> GraphQLApp:
    return GraphQLApp(build_schema(), graphql_ide="graphiql", allow_queries_via_get=True)

"""The ASGI app that serves /graphql (HTTP and WebSocket) with our context."""

from __future__ import annotations

import hashlib
from typing import Any, cast

from cachetools import LRUCache
from cross_web import AsyncHTTPRequestAdapter
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from chats_api import jsoncodec
from resolvers.errors import ServiceError
from schema.context import Context
from schema.schema import build_schema

MAX_SUBSCRIPTIONS_PER_CONNECTION = 10


GRAPHQL_RESPONSE = "application/graphql-response+json"
PERSISTED_QUERIES = 1000


def _error_result(message: str, code: str) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


def _is_request_error(result: GraphQLHTTPResponse) -> bool:
    """A document or variables refused before execution: errors, no data, and no error with a
    path (field errors have one)."""
    errors: list[dict[str, object]] = cast(list[dict[str, object]], result.get("errors") or [])
    return result.get("data") is None and bool(errors) and all("path" not in e for e in errors)


class GraphQLApp(GraphQL[Context, None]):
    """GraphQL over HTTP. With `Accept: application/graphql-response+json` it answers in that media
    type and refuses bad documents with 400, as the GraphQL-over-HTTP spec recommends; with
    `application/json` every GraphQL error stays at 200, which Apollo Client 4 needs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Automatic persisted queries: documents by their SHA-256, the most recently used kept.
        self.persisted_queries: LRUCache[str, str] = LRUCache(PERSISTED_QUERIES)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Apollo's automatic persisted queries: a request may send only the document's hash;
        an unknown hash asks the client to send the document once, which is then remembered."""
        persisted = (request_data.extensions or {}).get("persistedQuery")
        if isinstance(persisted, dict):
            digest = str(persisted.get("sha256Hash", ""))
            if request_data.query is None:
                query = self.persisted_queries.get(digest)
                if query is None:
                    return _error_result("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
                request_data.query = query
            elif hashlib.sha256(request_data.query.encode()).hexdigest() == digest:
                self.persisted_queries[digest] = request_data.query
            else:
                return _error_result("provided sha does not match query", "BAD_USER_INPUT")
        return await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        accept = request.headers.get("accept", "")
        sub_response.media_type = GRAPHQL_RESPONSE if GRAPHQL_RESPONSE in accept else None
        return sub_response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        if sub_response.media_type != GRAPHQL_RESPONSE:
            return super().create_response(response_data, sub_response)
        status = sub_response.status_code or 200
        if isinstance(response_data, dict) and _is_request_error(response_data):
            response_data = cast(
                GraphQLHTTPResponse, {k: v for k, v in response_data.items() if k != "data"}
            )
            status = 400
        response = Response(
            self.encode_json(response_data), status_code=status, media_type=GRAPHQL_RESPONSE
        )
        response.headers.raw.extend(sub_response.headers.raw)
        return response

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

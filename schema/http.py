"""The ASGI app that serves /graphql (HTTP and WebSocket) with our context, and the GraphiQL page
with its assets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from chats_api import jsoncodec
from chats_api.logs import operation
from db.shared import SharedState
from resolvers.documents import Safelist, TrustedDocuments
from resolvers.errors import ServiceError
from schema.compiled import CompiledDocuments, Plan
from schema.context import Context
from schema.errors import BAD_USER_INPUT, retry_after_of, to_graphql_error
from schema.persisted import PersistedQueries
from schema.schema import build_schema
from schema.sockets import CheckedConnection, OpenSockets
from schema.trusted import Admitted, DocumentGate, Refused

GRAPHIQL = Path(__file__).with_name("graphiql") / "assets"
# The playground loads everything from the service itself, and nothing else may run on it.
# Styles may also be inline: GraphiQL's dialogs inject a <style> element at run time (through
# react-remove-scroll-bar, with no way to give it a nonce); its fonts are data: URLs in its CSS.
GRAPHIQL_CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

MAX_SUBSCRIPTIONS_PER_CONNECTION = 10
MAX_SOCKETS_PER_CALLER = 20


GRAPHQL_RESPONSE = "application/graphql-response+json"


def _error_result(message: str, code: str) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


def _is_request_error(result: GraphQLHTTPResponse) -> bool:
    """A document or variables refused before execution: errors, no data, and no error with a
    path (field errors have one)."""
    errors: list[dict[str, object]] = cast(list[dict[str, object]], result.get("errors") or [])
    return result.get("data") is None and bool(errors) and all("path" not in e for e in errors)


@dataclass
class RequestData(GraphQLRequestData):
    document_id: object = None


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


class GraphQLApp(GraphQL[Context, None]):
    """GraphQL over HTTP. With `Accept: application/graphql-response+json` it answers in that media
    type and refuses bad documents with 400, as the GraphQL-over-HTTP spec recommends; with
    `application/json` every GraphQL error stays at 200, which Apollo Client 4 needs."""

    websocket_adapter_class = TextFrames
    graphql_transport_ws_handler_class = CheckedConnection

    def __init__(
        self,
        *args: Any,
        gate: DocumentGate,
        max_sockets_per_caller: int = MAX_SOCKETS_PER_CALLER,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.gate = gate
        self.sockets = OpenSockets(max_sockets_per_caller)

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """GraphiQL for a GET that names no operation: neither `query` nor `documentId`."""
        return (
            super().should_render_graphql_ide(request)
            and request.query_params.get("documentId") is None
        )

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry's, and the trusted document's id the request names (`documentId`)."""
        data = await super().parse_http_body(request)
        if not isinstance(data, GraphQLRequestData):
            return data
        if request.method == "GET":
            document_id: object = request.query_params.get("documentId")
        else:
            body = await request.get_body()
            raw = self.parse_json(body) if b'"documentId"' in body else None
            document_id = raw.get("documentId") if isinstance(raw, dict) else None
        return RequestData(**vars(data), document_id=document_id)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """The document the request names, as the gate admits it (trusted documents, the
        safelist, Apollo's automatic persisted queries). A persisted query being registered is
        remembered only once it has run: a document that does not parse or validate, or one sent
        by a caller with no valid credentials, is never stored (anyone could fill the store)."""
        try:
            admitted = getattr(request.state, "graphql_admission", None)
            if isinstance(admitted, Refused):
                raise admitted
            if not isinstance(admitted, Admitted):
                admitted = await self.gate.admit(
                    context,
                    request_data.query,
                    request_data.extensions,
                    getattr(request_data, "document_id", None),
                    request_data.operation_name,
                )
        except Refused as refusal:
            if refusal.status is not None:
                sub_response.status_code = refusal.status
            return _error_result(refusal.message, refusal.code)
        request_data.query = admitted.query
        try:
            result = await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        except HTTPException as refusal:
            # Strawberry refuses these in plain text; clients read errors from a JSON body.
            cause = refusal.__cause__
            if (
                isinstance(cause, InvalidOperationTypeError)
                and cause.operation_type is OperationType.MUTATION
                and request_adapter.method == "GET"
            ):
                sub_response.status_code = 405
                sub_response.headers["Allow"] = "POST"
            elif not (
                isinstance(cause, CannotGetOperationTypeError)
                and isinstance(request_data.operation_name, str)
            ):
                # Not a well-formed request (no query, an operationName that is not a string):
                # Strawberry's status. An unknown operation name is answered like other
                # document errors, by the media type the client accepts.
                sub_response.status_code = refusal.status_code
            return _error_result(refusal.reason, BAD_USER_INPUT)
        if admitted.register is not None and request_data.query and await _runs(result, context):
            await self.gate.persisted_queries.put(admitted.register, request_data.query)
        return result

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(
            (GRAPHIQL / "index.html").read_bytes(),
            headers={"Content-Security-Policy": GRAPHIQL_CSP},
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
        if (
            status in (200, 400)
            and isinstance(response_data, dict)
            and _is_request_error(response_data)
        ):
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
        handed_over = getattr(request.state, "graphql_context", None)
        if isinstance(handed_over, Context) and isinstance(response, Response):
            # The lean path looked at this request first: what it learnt of the caller stays.
            handed_over.response = response
            return handed_over
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


async def _runs(result: ExecutionResult, context: Context) -> bool:
    """The document parsed and validated (a request error has errors without a path and no
    data), and the caller holds valid credentials (checked without spending its rate limit)."""
    refused = result.data is None and all(error.path is None for error in result.errors or ())
    return not refused and await context.identified()


def graphiql_assets() -> Mount:
    """The playground's scripts and styles, shipped in this package (see graphiql/vendor.sh)."""
    return Mount("/graphiql", StaticFiles(directory=GRAPHIQL), name="graphiql")


class GraphQLEndpoint:
    """/graphql. A `POST` of `application/json` whose document is compiled takes the lean path:
    one JSON decode, the plan, the same authentication and rate limit (in the resolvers), one JSON
    encode. Everything else (GET, WebSockets, multipart, batches, a document seen for the first
    time that cannot be compiled, invalid variables, a persisted query being registered) goes to
    Strawberry's view, which answers exactly as before."""

    def __init__(self, view: GraphQLApp, documents: CompiledDocuments | None) -> None:
        self.view = view
        self.documents = documents

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.documents is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and _is_json(scope)
        ):
            request = Request(scope, receive)
            body = await request.body()
            if await self._lean(request, body, send):
                return
            receive = _replay(body, receive)
        await self.view(scope, receive, send)

    async def _lean(self, request: Request, body: bytes, send: Send) -> bool:
        """Answer from a compiled plan; False (having sent nothing) when this is not for it."""
        assert self.documents is not None
        try:
            data = jsoncodec.loads(body)
        except ValueError:
            return False
        if type(data) is not dict:
            return False
        query, operation_name = data.get("query"), data.get("operationName")
        variables, extensions = data.get("variables"), data.get("extensions")
        if not (
            (operation_name is None or type(operation_name) is str)
            and (variables is None or type(variables) is dict)
            and (extensions is None or type(extensions) is dict)
        ):
            return False
        context = Context(
            request=request, response=None, authenticator=request.app.state.authenticator
        )
        request.state.graphql_context = context  # for the view, should it answer instead
        try:
            admitted = await self.view.gate.admit(
                context, query, extensions, data.get("documentId"), operation_name
            )
        except Refused as refusal:
            request.state.graphql_admission = refusal  # the view answers it, once
            return False
        # Should the view answer instead, the document is not admitted (nor counted) twice.
        request.state.graphql_admission = admitted
        if admitted.query is None or admitted.register is not None:
            return False  # no document, or an automatic persisted query being registered
        plan: Plan | None
        if admitted.trusted:
            plan = self.documents.plan_trusted(admitted.query, operation_name)
        elif self.documents.known(admitted.query, operation_name) or await context.identified():
            plan = self.documents.plan(admitted.query, operation_name)
        else:
            return False  # a new document from a caller nobody knows: parsed on a budget
        if not isinstance(plan, Plan):
            return False
        coerced = plan.coerce(variables)
        if coerced is None:
            return False
        operation.set(plan.label)
        context.cost = plan.cost
        result, errors = await plan.execute(context, coerced, extensions)
        response: dict[str, object] = {"data": result}
        headers = []
        if errors:
            shown = [to_graphql_error(error) for error in errors]
            response["errors"] = [error.formatted for error in shown]
            retry_after = retry_after_of(shown)
            if retry_after is not None:
                headers.append((b"retry-after", str(retry_after).encode()))
        accept = request.headers.get("accept", "")
        media_type = GRAPHQL_RESPONSE if GRAPHQL_RESPONSE in accept else "application/json"
        encoded = jsoncodec.dumps(response)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(encoded)).encode()),
                    (b"content-type", media_type.encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": encoded})
        return True


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type: bytes = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/json"
    return False


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, for the view; then the connection's own messages (a disconnect)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def graphql_app(
    shared: SharedState | None = None,
    *,
    documents: TrustedDocuments | None = None,
    safelist: Safelist = Safelist.off,
    compiled: bool = True,
    allowed_origins: Sequence[str] = ("*",),
    max_sockets_per_caller: int = MAX_SOCKETS_PER_CALLER,
) -> GraphQLEndpoint:
    """`allowed_origins`: pages on these origins may open a WebSocket, as CORS lets them call
    over HTTP (CORS_ALLOW_ORIGINS); a frontend on its own domain gets its live updates."""
    schema = build_schema()
    view = GraphQLApp(
        schema,
        allowed_origins=allowed_origins,
        gate=DocumentGate(
            TrustedDocuments() if documents is None else documents,
            PersistedQueries(shared),
            safelist,
        ),
        max_sockets_per_caller=max_sockets_per_caller,
        graphql_ide="graphiql",
        allow_queries_via_get=True,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
    )
    return GraphQLEndpoint(view, CompiledDocuments(schema) if compiled else None)

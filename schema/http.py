"""The ASGI app that serves /graphql (HTTP and WebSocket) with our context, and the GraphiQL page
with its assets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from chats_api import jsoncodec
from chats_api.logs import executor, logger, operation
from resolvers.documents import Safelist, TrustedDocuments
from resolvers.errors import ServiceError
from resolvers.models import Caller
from resolvers.persisted import PersistedQueries
from resolvers.streams import OpenStreams
from schema.context import Context
from schema.errors import BAD_USER_INPUT, retry_after_of, to_graphql_error
from schema.execution.cache import Plans, compiles_for
from schema.execution.plan import Plan
from schema.schema import Schema, build_schema
from schema.sockets import INIT_SECONDS, AwaitingInit, CheckedConnection
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
# How Apollo Client, curl and httpx spell a JSON body's type, known without parsing it.
JSON_TYPES = frozenset(
    {"application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"}
)
NOT_AN_OBJECT = "Request body must be a JSON object"
SUBSCRIPTIONS_OVER_WEBSOCKET = "Subscriptions are served over WebSocket"
HTTP_OPERATIONS = {
    "GET": frozenset({OperationType.QUERY}),
    "POST": frozenset({OperationType.QUERY, OperationType.MUTATION}),
}
COMPILED, STRAWBERRY = "compiled", "strawberry"

EXECUTIONS = Counter(
    "chats_api_graphql_executions_total",
    "GraphQL operations over HTTP, by the executor that ran them: a plan, or Strawberry's.",
    ["executor"],
)
_BY_EXECUTOR = {name: EXECUTIONS.labels(name) for name in (COMPILED, STRAWBERRY)}


def _error_result(message: str, code: str) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


def _is_json(content_type: str | None) -> bool:
    """Strawberry's rule (its media type contains `application/json`), its usual spellings known
    without `email`'s parser."""
    if content_type in JSON_TYPES:
        return True
    return "application/json" in parse_content_type(content_type or "")[0]


def _well_typed(body: Mapping[str, object]) -> bool:
    """The fields Strawberry checks have the types it accepts (anything else, its refusal)."""
    return (
        isinstance(body.get("query"), str | None)
        and isinstance(body.get("variables"), dict | None)
        and isinstance(body.get("extensions"), dict | None)
    )


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
    """/graphql, over HTTP and WebSocket. Every HTTP request goes through one pipeline:
    Strawberry's view reads it (a POST's JSON body or a GET's parameters) and builds its
    `Context`; `execute_single` admits its document (`DocumentGate`: sent in full, by
    `sha256Hash` or by `documentId`), runs it with its compiled plan when it has one
    (`schema.execution`) and with Strawberry's executor when not; the view renders the result.

    With `Accept: application/graphql-response+json` it answers in that media type and refuses
    bad documents with 400, as the GraphQL-over-HTTP spec recommends; with `application/json`
    every GraphQL error stays at 200, which Apollo Client 4 needs."""

    websocket_adapter_class = TextFrames
    graphql_transport_ws_handler_class = CheckedConnection

    def __init__(
        self,
        *args: Any,
        gate: DocumentGate,
        plans: Plans | None,
        streams: OpenStreams,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.gate = gate
        self.plans = plans
        # A request's protocol is always plain HTTP while no HTTP streaming transport (SSE,
        # multipart subscriptions) is served; then a JSON body is read in one pass.
        self.reads_json = not any(
            protocol in self.stream_transport_classes_by_protocol for protocol in self.protocols
        )
        self.sockets = streams
        self.awaiting_init = AwaitingInit()

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """GraphiQL for a GET that names no operation: neither `query` nor `documentId`."""
        return (
            super().should_render_graphql_ide(request)
            and request.query_params.get("documentId") is None
        )

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry's, and the trusted document's id the request names (`documentId`).

        A JSON POST (the media type Strawberry reads as JSON) is parsed here, once: an object
        whose fields have the types Strawberry accepts, what every client sends, is read in that
        one pass (Strawberry's reading would scan the headers for HTTP streaming transports this
        app does not serve and leave `documentId` to a second parse); a body that is JSON but
        neither an object nor a batch is refused with 400 (Strawberry fails on it with a 500).
        Anything else is Strawberry's to read and to refuse, with its own messages
        (`tests/contract/test_request_reading.py`)."""
        if self.reads_json and request.method == "POST" and _is_json(request.content_type):
            fields = self.parse_json(await request.get_body())
            if isinstance(fields, dict) and _well_typed(fields):
                return RequestData(
                    query=fields.get("query"),
                    variables=fields.get("variables"),
                    operation_name=fields.get("operationName"),
                    extensions=fields.get("extensions"),
                    protocol="http",
                    document_id=fields.get("documentId"),
                )
            if not isinstance(fields, dict | list):
                raise HTTPException(400, NOT_AN_OBJECT)
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
        """The pipeline: the document the request names, as the gate admits it; its plan, or
        Strawberry's executor; an automatic persisted query being registered is remembered only
        once it has run (a document that does not parse or validate, or one sent by a caller with
        no valid credentials, is never stored: anyone could fill the store)."""
        try:
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
        plan = await self._plan(admitted, request_data.operation_name, context, request.method)
        variables = plan.coerce(request_data.variables) if plan is not None else None
        if plan is not None and variables is not None:
            executor.set(COMPILED)
            _BY_EXECUTOR[COMPILED].inc()
            operation.set(plan.label)
            context.cost = plan.cost
            data, errors = await plan.execute(context, variables, request_data.extensions)
            result = ExecutionResult(data=data, errors=_shown(errors, sub_response))
        else:
            # Everything a plan does not cover, invalid variables included: Strawberry's exact
            # answer.
            executor.set(STRAWBERRY)
            _BY_EXECUTOR[STRAWBERRY].inc()
            result = await self._strawberry(
                request_adapter.method, sub_response, context, request_data
            )
        if admitted.register is not None and request_data.query:
            caller = await _ran_for(result, context)
            if caller is not None:
                await self.gate.persisted_queries.register(
                    caller, admitted.register, request_data.query
                )
        return result

    async def _plan(
        self, admitted: Admitted, operation_name: str | None, context: Context, method: str
    ) -> Plan | None:
        """The admitted document's plan, if it has one. A document seen for the first time from a
        caller nobody knows is not planned: Strawberry parses it within its token budget."""
        if self.plans is None or admitted.query is None:
            return None
        if not isinstance(operation_name, str | None):
            return None  # not a request Strawberry runs: it answers it with its refusal
        plan: Plan | None
        if admitted.trusted:
            plan = self.plans.plan_trusted(admitted.query, operation_name)
        elif self.plans.known(admitted.query, operation_name) or await context.identified():
            plan = self.plans.plan(admitted.query, operation_name)
        else:
            return None
        if plan is None or (method != "POST" and plan.is_mutation):
            return None  # a mutation over GET is refused by Strawberry's view
        return plan

    async def _strawberry(
        self, method: str, sub_response: Response, context: Context, data: GraphQLRequestData
    ) -> ExecutionResult:
        """Strawberry's public `schema.execute`, with the operations this transport serves (its
        view would also let a subscription run over plain HTTP, for HTTP streaming transports
        this app does not serve). Its refusals in the error format clients read."""
        try:
            return await self.schema.execute(
                data.query,
                variable_values=data.variables,
                context_value=context,
                operation_name=data.operation_name,
                allowed_operation_types=HTTP_OPERATIONS[method],
                operation_extensions=data.extensions,
            )
        except InvalidOperationTypeError as refusal:
            sub_response.status_code = 400
            if refusal.operation_type is OperationType.SUBSCRIPTION:
                return _error_result(SUBSCRIPTIONS_OVER_WEBSOCKET, BAD_USER_INPUT)
            if refusal.operation_type is OperationType.MUTATION:
                sub_response.status_code = 405
                sub_response.headers["Allow"] = "POST"
            return _error_result(refusal.as_http_error_reason(method), BAD_USER_INPUT)
        except CannotGetOperationTypeError as refusal:
            # An unknown operation name is answered like other document errors, by the media
            # type the client accepts; a name that is not a string is not a well-formed request.
            if not isinstance(data.operation_name, str):
                sub_response.status_code = 400
            return _error_result(refusal.as_http_error_reason(), BAD_USER_INPUT)
        except MissingQueryError:
            sub_response.status_code = 400
            return _error_result("No GraphQL query found in the request", BAD_USER_INPUT)

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


async def _ran_for(result: ExecutionResult, context: Context) -> Caller | None:
    """The caller, if the document parsed and validated (a request error has errors without a
    path and no data) and the caller holds valid credentials (checked without spending its rate
    limit)."""
    refused = result.data is None and all(error.path is None for error in result.errors or ())
    return None if refused else await context.checked_caller()


def graphiql_assets() -> Mount:
    """The playground's scripts and styles, shipped in this package (see graphiql/vendor.sh)."""
    return Mount("/graphiql", StaticFiles(directory=GRAPHIQL), name="graphiql")


def _shown(errors: list[GraphQLError], response: Response) -> list[GraphQLError] | None:
    """A plan's field errors as clients see them (what ErrorCodes does on Strawberry's path),
    Retry-After also as a header."""
    if not errors:
        return None
    shown = [to_graphql_error(error) for error in errors]
    retry_after = retry_after_of(shown)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return shown


def graphql_app(
    *,
    persisted: PersistedQueries | None = None,
    documents: TrustedDocuments | None = None,
    safelist: Safelist = Safelist.off,
    compiled: bool = True,
    allowed_origins: Sequence[str] = ("*",),
    max_sockets_per_caller: int = MAX_SOCKETS_PER_CALLER,
    streams: OpenStreams | None = None,
    schema: Schema | None = None,
) -> GraphQLApp:
    """`allowed_origins`: pages on these origins may open a WebSocket, as CORS lets them call
    over HTTP (CORS_ALLOW_ORIGINS); a frontend on its own domain gets its live updates.
    `compiled=False`: every document runs through Strawberry's executor."""
    schema = build_schema() if schema is None else schema
    plans = None
    if compiled and compiles_for(schema):
        plans = Plans(schema)
    elif compiled:
        logger.warning(
            "GraphQL documents are not compiled: the schema's extensions (%s) are not those "
            "the compiler reproduces",
            ", ".join(getattr(e, "__name__", repr(e)) for e in schema.extensions),
        )
    return GraphQLApp(
        schema,
        allowed_origins=allowed_origins,
        gate=DocumentGate(
            TrustedDocuments() if documents is None else documents,
            PersistedQueries() if persisted is None else persisted,
            safelist,
        ),
        plans=plans,
        streams=OpenStreams(max_sockets_per_caller) if streams is None else streams,
        graphql_ide="graphiql",
        allow_queries_via_get=True,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
        connection_init_wait_timeout=timedelta(seconds=INIT_SECONDS),
    )

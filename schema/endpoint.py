"""/graphql over HTTP: one endpoint, one pipeline.

A request is read once (`schema.reading`), its document admitted by the gate (`DocumentGate`: sent
in full, by `sha256Hash` or by `documentId`), run by its compiled plan when it has one
(`schema.execution`) or by Strawberry's public `schema.execute` when not, and rendered with
Strawberry's public `process_result`. A browser's GET that names no operation gets GraphiQL.

With `Accept: application/graphql-response+json` the answer is in that media type and bad
documents are refused with 400, as the GraphQL-over-HTTP spec recommends; with `application/json`
every GraphQL error stays at 200, which Apollo Client 4 needs. The WebSocket is `schema.sockets`'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphql import GraphQLError
from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from chats_api import jsoncodec
from resolvers.auth import Authenticator
from resolvers.documents import sha256_of
from resolvers.errors import RateLimited, ServiceError
from resolvers.models import Caller
from schema import telemetry
from schema.context import Context
from schema.errors import BAD_USER_INPUT, from_service_error, retry_after_of, to_graphql_error
from schema.execution.plan import Plan
from schema.execution.plans import MISSING, Missing, Plans
from schema.gate import Admitted, DocumentGate, Refused
from schema.http_streams import HTTPStreams, streaming_transport
from schema.reading import NO_QUERY, BadRequest, GraphQLRequest, read_request
from schema.schema import Schema
from schema.telemetry import OperationSpan

GRAPHIQL = Path(__file__).with_name("graphiql") / "assets"
# The playground loads everything from the service itself, and nothing else may run on it.
# Styles may also be inline: GraphiQL's dialogs inject a <style> element at run time (through
# react-remove-scroll-bar, with no way to give it a nonce); its fonts are data: URLs in its CSS.
GRAPHIQL_CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
GRAPHQL_RESPONSE = "application/graphql-response+json"
SUBSCRIPTIONS_OVER_WEBSOCKET = (
    "Subscriptions are served over WebSocket, Server-Sent Events (Accept: text/event-stream)"
    " and multipart HTTP (Accept: multipart/mixed;subscriptionSpec=1.0)"
)
ONLY_GET_AND_POST = "GraphQL only supports GET and POST requests."
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


class Answer:
    """What the pipeline decided besides the result: a status of its own, headers, and what the
    operation was estimated to cost against which limit."""

    __slots__ = ("cost", "headers", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.cost: dict[str, int] | None = None


class GraphQLEndpoint:
    """The ASGI app of /graphql's HTTP requests."""

    def __init__(
        self, schema: Schema, gate: DocumentGate, plans: Plans | None, streams: HTTPStreams
    ) -> None:
        self.schema = schema
        self.gate = gate
        self.plans = plans
        self.streams = streams
        self._page = (GRAPHIQL / "index.html").read_bytes()
        self._authenticator: Authenticator | None = None  # the app's, known at its first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self.respond(request)
        except BadRequest as refusal:
            response = PlainTextResponse(refusal.reason, refusal.status)
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response | JSONAnswer:
        """Raises BadRequest."""
        method = request.method
        if method not in HTTP_OPERATIONS:
            raise BadRequest(ONLY_GET_AND_POST, 405)
        if method == "GET" and _wants_graphiql(request):
            return HTMLResponse(self._page, headers={"Content-Security-Policy": GRAPHIQL_CSP})
        data = await read_request(request)
        answer = Answer()
        if self._authenticator is None:
            self._authenticator = request.app.state.authenticator
        context = Context(
            request=request, headers=answer.headers, authenticator=self._authenticator
        )
        transport = streaming_transport(request.headers.get("accept", ""))
        if transport is not None:
            result = await self._stream(request, data, context, answer, transport)
            if not isinstance(result, ExecutionResult):
                return result
        else:
            result = await self.execute(request, data, context, answer)
        return _render(request, process_result(result), answer)

    async def _stream(
        self,
        request: Request,
        data: GraphQLRequest,
        context: Context,
        answer: Answer,
        transport: str,
    ) -> Response | ExecutionResult:
        """The admitted document's results as a stream; what refused it, as an answer. An
        automatic persisted query is not registered by a stream (its client sends it in full
        after the miss, as every time)."""
        admitted = await self._admit(data, context, answer)
        if isinstance(admitted, ExecutionResult):
            return admitted
        data.query = admitted.query
        refused = await self._price(request, data, context, answer, admitted.trusted)
        if refused is not None:
            return refused
        try:
            return await self.streams.open(request, data, context, transport)
        except ServiceError as refusal:
            answer.status = 429 if isinstance(refusal, RateLimited) else 503
            answer.headers["Retry-After"] = "1"
            return ExecutionResult(data=None, errors=[from_service_error(refusal)])

    async def _admit(
        self, data: GraphQLRequest, context: Context, answer: Answer
    ) -> Admitted | ExecutionResult:
        try:
            return await self.gate.admit(
                context, data.query, data.extensions, data.document_id, data.operation_name
            )
        except Refused as refusal:
            answer.status = refusal.status
            return _error_result(refusal.message, refusal.code)

    async def _price(
        self,
        request: Request,
        data: GraphQLRequest,
        context: Context,
        answer: Answer,
        trusted: bool,
        plan: Plan | None = None,
    ) -> ExecutionResult | None:
        """The admitted document's estimated cost (its plan's price, else the gate's), told in
        the answer (`extensions.cost`, and `x-cost` by the middleware); the refusal of one over
        COST_LIMIT, before anything runs."""
        gate = self.gate
        price = plan.price if plan is not None else None
        if price is None:
            price = await gate.price(context, data.query, data.operation_name)
            if price is None:
                return None
        context.units = estimated = price.estimate(data.variables)
        answer.cost = {"estimated": estimated, "limit": gate.cost_limit.limit}
        state = request.scope.setdefault("state", {})
        state["cost"] = estimated
        if telemetry.TRACER is not None:
            document_id = data.document_id
            if trusted and document_id is None and data.query is not None:
                document_id = f"sha256:{sha256_of(data.query)}"
            state["graphql"] = OperationSpan.of(price, document_id, data.query)
        refusal = gate.over_limit(estimated)
        return None if refusal is None else _error_result(refusal.message, refusal.code)

    async def execute(
        self, request: Request, data: GraphQLRequest, context: Context, answer: Answer
    ) -> ExecutionResult:
        """The document the request names, as the gate admits it; its plan, or Strawberry's
        executor; an automatic persisted query being registered is remembered only once it has
        run (a document that does not parse or validate, or one sent by a caller with no valid
        credentials, is never stored: anyone could fill the store)."""
        admitted = await self._admit(data, context, answer)
        if isinstance(admitted, ExecutionResult):
            return admitted
        data.query = admitted.query
        plan = await self._plan(admitted, data.operation_name, context, request.method)
        refused = await self._price(request, data, context, answer, admitted.trusted, plan)
        if refused is not None:
            return refused
        labels = request.scope.setdefault("state", {})
        variables = plan.coerce(data.variables) if plan is not None else None
        if plan is not None and variables is not None:
            labels["executor"], labels["operation"] = COMPILED, plan.label
            _BY_EXECUTOR[COMPILED].inc()
            context.cost = plan.cost
            data_, errors = await plan.execute(context, variables, data.extensions)
            result = ExecutionResult(data=data_, errors=_shown(errors, answer))
        else:
            # Everything a plan does not cover, invalid variables included: Strawberry's answer.
            labels["executor"] = STRAWBERRY
            _BY_EXECUTOR[STRAWBERRY].inc()
            result = await self._strawberry(request.method, data, context, answer)
        if result.errors and telemetry.TRACER is not None:
            labels["errors"] = True  # the request's span says it failed
        if admitted.register is not None and data.query:
            caller = await _ran_for(result, context)
            if caller is not None:
                await self.gate.persisted_queries.register(caller, admitted.register, data.query)
        return result

    async def _plan(
        self, admitted: Admitted, operation_name: object, context: Context, method: str
    ) -> Plan | None:
        """The admitted document's plan, if it has one. A document seen for the first time from a
        caller nobody knows is not planned: Strawberry parses it within its token budget."""
        if self.plans is None or admitted.query is None:
            return None
        if not isinstance(operation_name, str | None):
            return None  # not a request Strawberry runs: it answers it with its refusal
        plan: Plan | Missing | None
        if admitted.trusted:
            plan = self.plans.plan_trusted(admitted.query, operation_name)
        else:
            plan = self.plans.known(admitted.query, operation_name)
            if plan is MISSING:
                if not await context.identified():
                    return None
                plan = self.plans.plan(admitted.query, operation_name)
        if plan is None or (method != "POST" and plan.is_mutation):
            return None  # a mutation over GET is refused by Strawberry's path
        return plan

    async def _strawberry(
        self, method: str, data: GraphQLRequest, context: Context, answer: Answer
    ) -> ExecutionResult:
        """Strawberry's public `schema.execute`, with the operations this transport serves; its
        refusals in the error format clients read."""
        try:
            return await self.schema.execute(
                data.query,
                variable_values=data.variables,
                context_value=context,
                operation_name=data.operation_name,  # type: ignore[arg-type]  # as sent
                allowed_operation_types=HTTP_OPERATIONS[method],
                operation_extensions=data.extensions,
            )
        except InvalidOperationTypeError as refusal:
            answer.status = 400
            if refusal.operation_type is OperationType.SUBSCRIPTION:
                return _error_result(SUBSCRIPTIONS_OVER_WEBSOCKET, BAD_USER_INPUT)
            if refusal.operation_type is OperationType.MUTATION:
                answer.status = 405
                answer.headers["Allow"] = "POST"
            return _error_result(refusal.as_http_error_reason(method), BAD_USER_INPUT)
        except CannotGetOperationTypeError as refusal:
            # An unknown operation name is answered like other document errors, by the media
            # type the client accepts; a name that is not a string is not a well-formed request.
            if not isinstance(data.operation_name, str):
                answer.status = 400
            return _error_result(refusal.as_http_error_reason(), BAD_USER_INPUT)
        except MissingQueryError:
            answer.status = 400
            return _error_result(NO_QUERY, BAD_USER_INPUT)


def _wants_graphiql(request: Request) -> bool:
    """Strawberry's rule (a GET that asks for HTML, or anything, and names no query), and no
    trusted document either."""
    parameters = request.query_params
    accept = request.headers.get("accept", "")
    return (
        parameters.get("query") is None
        and parameters.get("documentId") is None
        and ("text/html" in accept or "*/*" in accept)
    )


class JSONAnswer:
    """A JSON answer sent as its two ASGI messages (a Starlette `Response` would work out its
    headers through a general path: a tenth of a create's cost at this edge)."""

    __slots__ = ("body", "headers", "media_type", "status")

    def __init__(
        self, body: bytes, status: int, headers: dict[str, str], media_type: bytes
    ) -> None:
        self.body, self.status, self.headers, self.media_type = body, status, headers, media_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(b"content-length", b"%d" % len(self.body)), (b"content-type", self.media_type)]
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": self.status, "headers": raw})
        await send({"type": "http.response.body", "body": self.body})


def _render(request: Request, body: GraphQLHTTPResponse, answer: Answer) -> JSONAnswer:
    """`application/graphql-response+json` when the client accepts it, a request error then a
    400 without `data`; else `application/json`, every GraphQL error at 200. The operation's
    cost, when it was priced, in `extensions.cost`."""
    status = answer.status or 200
    if answer.cost is not None:
        body["extensions"] = {**(body.get("extensions") or {}), "cost": answer.cost}
    media_type = b"application/json"
    if GRAPHQL_RESPONSE in request.headers.get("accept", ""):
        media_type = GRAPHQL_RESPONSE.encode()
        if status in (200, 400) and _is_request_error(body):
            body = {k: v for k, v in body.items() if k != "data"}  # type: ignore[assignment]
            status = 400
    return JSONAnswer(jsoncodec.dumps(body), status, answer.headers, media_type)


def _is_request_error(result: GraphQLHTTPResponse) -> bool:
    """A document or variables refused before execution: errors, no data, and no error with a
    path (field errors have one)."""
    errors: list[dict[str, Any]] = result.get("errors") or []  # type: ignore[assignment]
    return result.get("data") is None and bool(errors) and all("path" not in e for e in errors)


def _error_result(message: str, code: str) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


async def _ran_for(result: ExecutionResult, context: Context) -> Caller | None:
    """The caller, if the document parsed and validated (a request error has errors without a
    path and no data) and the caller holds valid credentials (checked without spending its rate
    limit)."""
    refused = result.data is None and all(error.path is None for error in result.errors or ())
    return None if refused else await context.checked_caller()


def _shown(errors: list[GraphQLError], answer: Answer) -> list[GraphQLError] | None:
    """A plan's field errors as clients see them (what ErrorCodes does on Strawberry's path),
    Retry-After also as a header."""
    if not errors:
        return None
    shown = [to_graphql_error(error) for error in errors]
    retry_after = retry_after_of(shown)
    if retry_after is not None:
        answer.headers["Retry-After"] = str(retry_after)
    return shown


def graphiql_assets() -> Mount:
    """The playground's scripts and styles, shipped in this package (see graphiql/vendor.sh)."""
    return Mount("/graphiql", StaticFiles(directory=GRAPHIQL), name="graphiql")

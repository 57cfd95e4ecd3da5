"""GraphQL errors: the REST message, and `extensions.code` from one table."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSyntaxError,
    OperationDefinitionNode,
)
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext, ExecutionResult, StreamExecutionResult

from chats_api import jsoncodec
from resolvers.errors import (
    AccessDenied,
    Conflict,
    CursorExpired,
    InternalError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
    Unauthenticated,
)

logger = logging.getLogger("chats_api.graphql")

BAD_USER_INPUT = "BAD_USER_INPUT"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"

CODES: dict[type[ServiceError], str] = {
    InvalidInput: BAD_USER_INPUT,
    PayloadTooLarge: BAD_USER_INPUT,
    Unauthenticated: "UNAUTHENTICATED",
    AccessDenied: "FORBIDDEN",
    NotFound: "NOT_FOUND",
    CursorExpired: "CURSOR_EXPIRED",
    Conflict: "CONFLICT",
    RateLimited: "TOO_MANY_REQUESTS",
    InternalError: INTERNAL_SERVER_ERROR,
    ServiceUnavailable: "SERVICE_UNAVAILABLE",
}


def code_for(error_class: type[ServiceError]) -> str:
    for cls in error_class.__mro__:
        if cls in CODES:
            return CODES[cls]
    return INTERNAL_SERVER_ERROR


def error_extensions(exc: ServiceError) -> dict[str, Any]:
    """The one way a domain error becomes a GraphQL error's extensions."""
    extensions: dict[str, Any] = {"code": code_for(type(exc))}
    if exc.retry_after is not None:
        extensions["retryAfter"] = exc.retry_after
    return extensions


def error_response(exc: ServiceError, status_code: int) -> Response:
    """A request refused before GraphQL ran (the guards): a GraphQL error body, and Retry-After
    as a header too."""
    body = {"errors": [{"message": exc.message, "extensions": error_extensions(exc)}]}
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return Response(jsoncodec.dumps(body), status_code, headers, "application/json")


def _service_error(error: GraphQLError) -> ServiceError | None:
    cause: BaseException | None = error.original_error
    while cause is not None:
        if isinstance(cause, ServiceError):
            return cause
        cause = cause.original_error if isinstance(cause, GraphQLError) else None
    return None


def to_graphql_error(error: GraphQLError) -> GraphQLError:
    """The error as clients see it: domain errors keep their message and get their code; errors in
    the document or variables are BAD_USER_INPUT; anything else is logged and masked."""
    extensions: dict[str, Any]
    if error.original_error is None and error.extensions and "code" in error.extensions:
        return error  # already as clients see it (twice through here, it would be masked)
    service_error = _service_error(error)
    if service_error is not None:
        message = service_error.message
        extensions = error_extensions(service_error)
        if isinstance(service_error, InternalError):
            logger.error("GraphQL %s", message, exc_info=service_error.__cause__ or service_error)
    elif error.path is None:
        # Syntax, validation and variable errors: found in the request before any field ran.
        message, extensions = error.message, {"code": BAD_USER_INPUT}
    else:
        message = InternalError.default_message
        extensions = {"code": INTERNAL_SERVER_ERROR}
        logger.error("GraphQL field %s failed", error.path, exc_info=error.original_error or error)
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def from_service_error(exc: ServiceError) -> GraphQLError:
    return to_graphql_error(GraphQLError(exc.message, original_error=exc))


def operation_label(document: DocumentNode) -> str:
    """`mutation createChat`: the first operation's type and first root field, for logs and
    metrics (a bounded set, unlike the client's operation names)."""
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            fields = [s for s in definition.selection_set.selections if isinstance(s, FieldNode)]
            name = fields[0].name.value if fields else "-"
            return f"{definition.operation.value} {name}"
    return ""


def _label_operation(context: ExecutionContext, result: Any) -> None:
    """The request's `operation` label (logs, metrics), in its scope's state, once `result` (a
    result of Strawberry's or graphql-core's, or None) shows the document ran."""
    document = context.graphql_document
    refused = result is None or (
        result.data is None and all(error.path is None for error in result.errors or ())
    )
    request = getattr(context.context, "request", None)
    if document is None or refused or request is None:
        return  # an invalid document's field names are the client's choice: not a label
    label = operation_label(document)
    if label:
        request.scope.setdefault("state", {})["operation"] = label


def retry_after_of(errors: list[GraphQLError]) -> int | None:
    """The Retry-After header of a result: its errors' last `retryAfter`."""
    seconds = None
    for error in errors:
        retry_after = (error.extensions or {}).get("retryAfter")
        if retry_after is not None:
            seconds = int(retry_after)
    return seconds


class ErrorCodes(SchemaExtension):
    """Rewrites every error of a result with `to_graphql_error`; Retry-After also as a header.
    Over the WebSocket each result is rewritten as it is streamed (`on_operation` ends after the
    socket has sent it); a syntax error is left as it is, for the socket to close with 4400."""

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        if isinstance(result, ExecutionResult) and result.errors:
            if not isinstance(result.errors[0], GraphQLSyntaxError):
                result.errors = [to_graphql_error(error) for error in result.errors]
        if isinstance(result, ExecutionResult):
            _label_operation(self.execution_context, result)  # a stream over HTTP's
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        _label_operation(self.execution_context, self.execution_context.result)
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [to_graphql_error(error) for error in result.errors]
            retry_after = retry_after_of(result.errors)
            headers = getattr(self.execution_context.context, "headers", None)
            if retry_after is not None and headers is not None:
                headers["Retry-After"] = str(retry_after)

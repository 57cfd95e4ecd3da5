"""GraphQL over streaming HTTP: Server-Sent Events in graphql-sse's distinct connections mode
(urql's and Relay's choice where proxies drop WebSockets), and multipart HTTP with heartbeats
(what Apollo Client's own `HttpLink` speaks for subscriptions).

A request is streamed when its `Accept` names one of the two media types (read as media types:
parameters quoted or not, in any order). It goes through the same admission as every request of
/graphql (`GraphQLEndpoint`): the gate's document policy, then Strawberry's public
`schema.stream` with the schema's extensions (error codes, limits, the operation's label), the
caller's rate limit spent by the operation's fields as over plain HTTP. Besides, as over the
WebSocket: at most `MAX_SOCKETS_PER_CALLER` open streams per caller, and its credentials checked
again every RECHECK_SECONDS (a revoked key, an expired token end the stream).

Each event of a subscription that carries a `cursor` is sent with it as its SSE `id:`; a client
that reconnects with `Last-Event-ID` resumes right after it (`Context.resume_from`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import Gauge
from starlette.requests import Request
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.http.streaming import MultipartSubscriptionTransport
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from chats_api import jsoncodec
from chats_api.streaming import LiveStream, live
from resolvers.errors import AccessDenied, RateLimited, ServiceError, ServiceUnavailable
from resolvers.models import Caller
from resolvers.streams import OpenStreams
from schema.context import Context
from schema.errors import from_service_error
from schema.reading import GraphQLRequest
from schema.schema import Schema

SSE, MULTIPART = "sse", "multipart"
# As an open WebSocket's.
RECHECK_SECONDS = 0.5
HEARTBEAT_SECONDS = {SSE: 15.0, MULTIPART: 5.0}  # multipart: Apollo Router's interval
STREAMED_OPERATIONS = {
    "GET": frozenset({OperationType.QUERY, OperationType.SUBSCRIPTION}),
    "POST": frozenset(OperationType),
}
OPEN_STREAMS = Gauge(
    "chats_api_graphql_streams_open",
    "GraphQL streams open over HTTP in this process, by transport.",
    ["transport"],
    multiprocess_mode="livesum",
)
_MULTIPART = MultipartSubscriptionTransport()
# A parameter of a media range (its value quoted or not).
_PARAMETER = re.compile(r';\s*([^=;,\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)')


def media_ranges(accept: str) -> list[tuple[str, dict[str, str]]]:
    """`Accept` as (media type, parameters), lowercased names, quotes taken off values."""
    ranges: list[tuple[str, dict[str, str]]] = []
    for part in _split_outside_quotes(accept):
        media_type, _, rest = part.partition(";")
        parameters = {
            name.lower(): value.strip('"') for name, value in _PARAMETER.findall(";" + rest)
        }
        ranges.append((media_type.strip().lower(), parameters))
    return ranges


def _split_outside_quotes(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def streaming_transport(accept: str) -> str | None:
    """The streaming transport the client asks for, if any: the first of the two its `Accept`
    names (multipart only in the subscriptions spec's version 1, on its `graphql` boundary)."""
    for media_type, parameters in media_ranges(accept):
        if media_type == "text/event-stream":
            return SSE
        if (
            media_type == "multipart/mixed"
            and parameters.get("subscriptionspec", "").startswith("1.0")
            and parameters.get("boundary", "graphql") == "graphql"
        ):
            return MULTIPART
    return None


@dataclass(frozen=True, slots=True)
class Framing:
    """How one transport writes a result, its end, its heartbeat and its farewells."""

    content_type: bytes
    # Sent first: multipart's opening boundary and a heartbeat (so that the client and any proxy
    # see the stream live at once), as Apollo Router does.
    opening: bytes
    next: Callable[[GraphQLHTTPResponse, str | None], bytes]
    complete: bytes
    heartbeat: bytes
    # Sent when the caller's credentials no longer hold, and when the process drains.
    refused: Callable[[ServiceError], bytes]
    draining: bytes


_SSE_COMPLETE = b"event: complete\ndata: \n\n"
_MULTIPART_COMPLETE = _MULTIPART.encode_complete().encode()


def _sse_next(response: GraphQLHTTPResponse, event_id: str | None) -> bytes:
    head = b"id: " + event_id.encode() + b"\n" if event_id else b""
    return head + b"event: next\ndata: " + jsoncodec.dumps(response) + b"\n\n"


def _errors(exc: ServiceError) -> GraphQLHTTPResponse:
    return {"errors": [from_service_error(exc).formatted]}


def _multipart(value: object) -> bytes:
    return _MULTIPART.encode_multipart_data(value, lambda v: jsoncodec.dumps(v).decode()).encode()


FRAMINGS = {
    SSE: Framing(
        content_type=b"text/event-stream; charset=utf-8",
        opening=b": stream open\n",
        next=_sse_next,
        complete=_SSE_COMPLETE,
        # A comment on a line of its own, no blank line: fetch-event-source would dispatch an
        # empty message at every blank line.
        heartbeat=b": ping\n",
        refused=lambda exc: _sse_next(_errors(exc), None) + _SSE_COMPLETE,
        # No `complete`: graphql-sse's client reconnects to a stream closed without one, and
        # resumes with `Last-Event-ID` when the page sends it.
        draining=b"",
    ),
    MULTIPART: Framing(
        content_type=_MULTIPART.headers["Content-Type"].encode(),
        opening=b"--" + _MULTIPART.separator.encode() + _multipart({}),
        next=lambda response, _: _multipart({"payload": response}),
        complete=_MULTIPART_COMPLETE,
        heartbeat=_multipart({}),
        # A transport error (the subscriptions spec's `payload: null`), then the end.
        refused=lambda exc: _multipart({"payload": None, **_errors(exc)}) + _MULTIPART_COMPLETE,
        draining=_multipart({"payload": None, **_errors(ServiceUnavailable())})
        + _MULTIPART_COMPLETE,
    ),
}


class HTTPStreams:
    """Streamed answers of /graphql, for the endpoint, which has admitted the document."""

    def __init__(self, schema: Schema, streams: OpenStreams) -> None:
        self.schema = schema
        self.streams = streams

    async def open(
        self, request: Request, data: GraphQLRequest, context: Context, transport: str
    ) -> LiveStream:
        """The stream, once its caller holds a slot (RateLimited when it holds too many;
        ServiceUnavailable while the process drains)."""
        framing = FRAMINGS[transport]
        if request.app.state.draining:
            raise ServiceUnavailable()  # the client retries, on a replica that stays
        if transport == SSE:
            context.last_event_id = request.headers.get("last-event-id") or None
        caller = await context.checked_caller()
        holder = caller.rate_key if caller is not None else None
        if holder is not None and not self.streams.open(holder):
            raise RateLimited(1)
        deadline = request.scope.get("state", {}).get("deadline")
        if deadline is not None:
            deadline.reschedule(None)  # a stream lasts as long as its client wants it
        request.scope.setdefault("state", {})["transport"] = transport
        gauge = OPEN_STREAMS.labels(transport)
        gauge.inc()

        def closed() -> None:
            gauge.dec()
            if holder is not None:
                self.streams.close(holder)

        frames = live(
            self._frames(request.method, data, context, framing),
            heartbeat=framing.heartbeat,
            heartbeat_seconds=HEARTBEAT_SECONDS[transport],
            check=_checks(request, context, caller, framing),
            check_seconds=RECHECK_SECONDS,
        )
        return LiveStream(
            frames, headers=[(b"content-type", framing.content_type)], on_close=closed
        )

    async def _frames(
        self, method: str, data: GraphQLRequest, context: Context, framing: Framing
    ) -> AsyncIterator[bytes]:
        yield framing.opening
        results = await self.schema.stream(
            data.query,
            variable_values=data.variables,
            context_value=context,
            operation_name=data.operation_name,  # type: ignore[arg-type]  # as sent
            operation_extensions=data.extensions,
            allowed_operation_types=STREAMED_OPERATIONS[method],
        )
        async for result in results:
            if not isinstance(result, ExecutionResult):
                continue  # @defer and @stream are not served
            response = process_result(result)
            yield framing.next(response, _cursor_of(response))
        yield framing.complete


def _cursor_of(response: GraphQLHTTPResponse) -> str | None:
    """The `cursor` of a subscription's event (its root field's), if it asked for one."""
    data = response.get("data")
    if not isinstance(data, dict) or len(data) != 1:
        return None
    [value] = data.values()
    cursor = value.get("cursor") if isinstance(value, dict) else None
    return cursor if isinstance(cursor, str) else None


def _checks(
    request: Request, context: Context, caller: Caller | None, framing: Framing
) -> Callable[[], Awaitable[bytes | None]]:
    async def check() -> bytes | None:
        if request.app.state.draining:
            return framing.draining
        if caller is not None and not await context.authenticator.still_allowed(
            caller,
            api_keys=request.headers.getlist("x-api-key"),
            authorizations=request.headers.getlist("authorization"),
        ):
            return framing.refused(AccessDenied())
        return None

    return check

"""The service's pure-ASGI middleware, outermost first in `chats_api.app`:

- `RequestIdMiddleware`: the request id, and one access line per request;
- `MetricsMiddleware`: Prometheus request counts and latencies;
- `RequestTimeout`: a deadline for every HTTP request;
- `GraphQLBodyLimit`: a size limit for GraphQL documents (REST bodies are limited where they are
  read, to keep the contract's order of errors).

The guards answer with the domain's errors, rendered by the edge the request was for.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uuid_utils import uuid4

from chats_api.logs import (
    REQUEST_ID_HEADER,
    SANE_REQUEST_ID,
    access,
    logger,
    operation,
    request_id,
    route_of,
)
from chats_api.metrics import LATENCY, REQUESTS
from db.engine import ServiceEngine, restore_engine, use_engine
from resolvers.errors import PayloadTooLarge, ServiceError, ServiceUnavailable
from rest import errors as rest_errors
from schema import errors as graphql_errors

MAX_GRAPHQL_BODY_BYTES = 64 * 1024


class UseEngine:
    """Everything this app runs, requests and subscriptions included, uses its own engine."""

    def __init__(self, app: ASGIApp, engine: ServiceEngine) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = use_engine(self.engine)
        try:
            await self.app(scope, receive, send)
        finally:
            restore_engine(token)


class RequestIdMiddleware:
    """Gives each request its id, and logs one line when the request is answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        current = incoming if SANE_REQUEST_ID.fullmatch(incoming) else uuid4().hex
        token = request_id.set(current)
        operation_token = operation.set("")
        started = time.perf_counter()
        status = 0
        header = (REQUEST_ID_HEADER.encode(), current.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["type"] == "http":
                access.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": route_of(scope),
                        "operation": operation.get(),
                        "status": status or 500,
                        "duration_ms": round(1000 * (time.perf_counter() - started), 3),
                    },
                )
            operation.reset(operation_token)
            request_id.reset(token)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/metrics":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            labels = (scope["method"], route_of(scope), operation.get())
            REQUESTS.labels(*labels, str(status)).inc()
            LATENCY.labels(*labels).observe(time.perf_counter() - started)


class RequestTimeout:
    """Stops runaway work: a request still running after `seconds` is cancelled and, if nothing
    was sent yet, answered 503 with Retry-After, in the envelope of its protocol."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            async with asyncio.timeout(self.seconds):
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            logger.error("%s %s: gave up after %s s", scope["method"], scope["path"], self.seconds)
            if not started:
                await _refuse(scope, receive, send, ServiceUnavailable())


class GraphQLBodyLimit:
    """Refuses GraphQL requests whose body is over the limit before anything parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_GRAPHQL_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/graphql":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _refuse(scope, receive, send, PayloadTooLarge())
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await _refuse(scope, receive, send, PayloadTooLarge())


class _TooLarge(Exception):
    pass


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: ServiceError) -> None:
    """Answer with `exc` in the envelope of the request's protocol."""
    if scope["path"] == "/graphql":
        response = graphql_errors.error_response(exc, rest_errors.status_for(type(exc)))
    else:
        response = rest_errors.error_response(exc)
    await response(scope, receive, send)

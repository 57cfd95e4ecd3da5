"""The service's pure-ASGI middleware, outermost first in `chats_api.app`: `RequestLifecycle`
(engine, request id, access line, metrics, deadline, GraphQL body limit), then Starlette's CORS.
The refusals of the deadline and the body limit are answered through the same CORS rules, in the
domain's errors, rendered by the function the app hands it (each protocol's own envelope).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uuid_utils import uuid4

from chats_api import metrics
from chats_api.logs import (
    REQUEST_ID_HEADER,
    SANE_REQUEST_ID,
    access_line,
    logger,
    request_id,
)
from db.engine import ServiceEngine, restore_engine, use_engine
from resolvers.errors import PayloadTooLarge, ServiceError, ServiceUnavailable

MAX_GRAPHQL_BODY_BYTES = 64 * 1024
# On every answer: no content sniffing, and no page of the service framed by another site (a
# second policy beside a page's own only adds this restriction).
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
)


# A refusal (deadline, body limit) in the envelope of the protocol `scope` is for.
RefusalRenderer = Callable[[Scope, ServiceError], Response]


class RequestLifecycle:
    """The outermost layer, one for what every request needs (merged: each layer of pure ASGI
    middleware costs a call and a wrapped `send` per message):

    - the app's own engine for everything the request runs (subscriptions included);
    - the request id, returned in `x-request-id` and stamped on its log lines;
    - `nosniff` and `frame-ancestors 'none'` on every answer;
    - a deadline for every HTTP request: still running after `seconds`, it is cancelled and, if
      nothing was sent yet, answered 503 with Retry-After, in the envelope of its protocol;
    - a size limit for GraphQL documents, before anything parses them (REST bodies are limited
      where they are read, to keep the contract's order of errors);
    - one access line when the request is answered;
    - Prometheus request counts and latencies.

    `cors` are the options of the CORS layer inside: refusals get the same headers, so that a
    browser can read its 413 and 503 too. `routes` are the app's paths (any other is `other` in
    logs and metrics); `graphql_path` the one whose bodies are limited; requests to `unobserved`
    paths (the metrics themselves) are not counted in the metrics.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        engine: ServiceEngine,
        seconds: float,
        cors: dict[str, Any],
        refusal: RefusalRenderer,
        routes: frozenset[str],
        graphql_path: str,
        unobserved: frozenset[str] = frozenset(),
        max_graphql_bytes: int = MAX_GRAPHQL_BODY_BYTES,
    ) -> None:
        self.app = app
        self.engine = engine
        self.seconds = seconds
        self.cors = cors
        self.refusal = refusal
        self.routes = routes
        self.graphql_path = graphql_path
        self.unobserved = unobserved
        self.max_graphql_bytes = max_graphql_bytes
        # Paths with parameters are named by their template in logs and metrics.
        self.templates = tuple((compile_path(p)[0], p) for p in sorted(routes) if "{" in p)

    def _template(self, path: str) -> str:
        for pattern, template in self.templates:
            if pattern.match(path):
                return template
        return "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        engine_token = use_engine(self.engine)
        try:
            if scope["type"] in ("http", "websocket"):
                await self._request(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            restore_engine(engine_token)

    async def _request(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        current = incoming if SANE_REQUEST_ID.fullmatch(incoming) else uuid4().hex
        token = request_id.set(current)
        # What the request was (a GraphQL operation and its executor), as the endpoint says.
        labels = scope.setdefault("state", {})
        started = time.perf_counter()
        status = 0
        header = (REQUEST_ID_HEADER.encode(), current.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header, *SECURITY_HEADERS]
                if "cost" in labels:  # what the endpoint priced the request at, on both edges
                    message["headers"].append((b"x-cost", b"%d" % labels["cost"]))
            await send(message)

        try:
            if scope["type"] == "http":
                await self._guarded(scope, receive, send_with_id, lambda: status != 0)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            if scope["type"] == "http":
                elapsed = time.perf_counter() - started
                path = scope["path"]
                route = path if path in self.routes else self._template(path)
                label, executor = labels.get("operation", ""), labels.get("executor", "")
                access_line(
                    scope["method"],
                    route,
                    label,
                    executor,
                    status or 500,
                    elapsed,
                    transport=labels.get("transport", ""),
                    trace_id=labels.get("trace_id", ""),
                )
                if path not in self.unobserved:
                    metrics.observe(scope["method"], route, label, status or 500, elapsed)
            request_id.reset(token)

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, answered: Callable[[], bool]
    ) -> None:
        """The request within its deadline and, for GraphQL, its body limit."""
        if scope["path"] == self.graphql_path:
            declared = dict(scope["headers"]).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > self.max_graphql_bytes:
                await self._refuse(scope, receive, send, PayloadTooLarge())
                return
            receive = _counting(receive, self.max_graphql_bytes)
        try:
            async with asyncio.timeout(self.seconds) as deadline:
                # A stream (Server-Sent Events) lifts its own deadline once it is admitted.
                scope["state"]["deadline"] = deadline
                await self.app(scope, receive, send)
        except TimeoutError:
            logger.error("%s %s: gave up after %s s", scope["method"], scope["path"], self.seconds)
            if not answered():
                await self._refuse(scope, receive, send, ServiceUnavailable())
        except _TooLarge:
            await self._refuse(scope, receive, send, PayloadTooLarge())

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: ServiceError) -> None:
        """Answer with `exc` in the envelope of the request's protocol, with CORS headers."""
        await CORSMiddleware(self.refusal(scope, exc), **self.cors)(scope, receive, send)


def _counting(receive: Receive, max_bytes: int) -> Receive:
    received = 0

    async def counting_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise _TooLarge()
        return message

    return counting_receive


class _TooLarge(Exception):
    pass

"""ASGI guards in front of the routes: a deadline for every HTTP request, and a size limit for
GraphQL documents (REST bodies are limited where they are read, to keep the contract's order)."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

import jsoncodec
from logs import logger

MAX_GRAPHQL_BODY_BYTES = 64 * 1024


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
                await _answer(scope, send, 503, "Service temporarily unavailable", retry_after=5)


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
            await _answer(scope, send, 413, "Request body too large")
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
            await _answer(scope, send, 413, "Request body too large")


class _TooLarge(Exception):
    pass


async def _answer(
    scope: Scope, send: Send, status: int, message: str, retry_after: int | None = None
) -> None:
    body: dict[str, object]
    if scope["path"] == "/graphql":
        code = "SERVICE_UNAVAILABLE" if status == 503 else "BAD_USER_INPUT"
        body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    else:
        body = {"status": "error", "message": message}
    headers = [(b"content-type", b"application/json")]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": jsoncodec.dumps(body)})

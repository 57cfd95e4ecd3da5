"""`GET /api/chats/{chatId}/stream`: a chat's events as Server-Sent Events.

Each event is `id: CURSOR`, `event: added|chunk|finished|stopped|deleted` and one `data:` line;
a browser's EventSource (or `fetch-event-source`) resends the last id as `Last-Event-ID` when it
reconnects, and the stream resumes right after it. A comment every 15 s keeps proxies from
closing a quiet stream. The stream is exempt from the request deadline; it ends when the client
goes away, when its caller's key is revoked or token expires (checked as often as an open
WebSocket's), when the service shuts down, and with an `error` event (the REST error body) when
the database cannot be read or the chat is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from resolvers import conversation_input, conversations
from resolvers.auth import Authenticator
from resolvers.errors import (
    AccessDenied,
    InternalError,
    RateLimited,
    ServiceError,
    Unauthenticated,
)
from resolvers.models import Caller, Event
from resolvers.streams import OpenStreams
from rest.auth import authenticate
from rest.errors import error_response
from rest.messages import message_json, path_chat

logger = logging.getLogger("chats_api.rest")

HEARTBEAT_SECONDS = 15.0
# As an open WebSocket's: a revoked key's stream ends within about 1.5 s.
RECHECK_SECONDS = 0.5


def event_json(entry: Event) -> dict[str, Any]:
    body: dict[str, Any] = {
        "cursor": conversation_input.event_cursor(entry.chat_id, entry.seq),
        "type": entry.type.lower(),
    }
    if entry.message is not None:
        body["message"] = message_json(entry.message)
    elif entry.chunk is not None:
        chunk = entry.chunk
        body["chunk"] = {
            "messageId": str(chunk.message_id),
            "index": chunk.index,
            "parts": chunk.parts,
        }
    else:
        body["messageIds"] = [str(i) for i in entry.message_ids or ()]
    return body


def frame(event: str, data: bytes, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: ".encode() + data + b"\n\n"


def error_frame(exc: ServiceError) -> bytes:
    return frame("error", bytes(error_response(exc).body))


class EventStream(Response):
    """Frames as they come, until they end or the client goes away (noticed at once, not at the
    next write); `on_close` runs either way."""

    media_type = "text/event-stream"

    def __init__(self, frames: AsyncIterator[bytes], on_close: Callable[[], None]) -> None:
        # No content-length: a stream's length is not known when it starts.
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        self.frames = frames
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})

            async def pump() -> None:
                async for chunk in self.frames:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})

            async def gone() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass

            tasks = [asyncio.create_task(pump()), asyncio.create_task(gone())]
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, OSError):
                        await task
        finally:
            self.on_close()


async def _frames(
    request: Request, caller: Caller, chat_id: UUID, start: int
) -> AsyncIterator[bytes]:
    authenticator: Authenticator = request.app.state.authenticator
    queue: asyncio.Queue[Event | ServiceError | None] = asyncio.Queue(1)

    async def read() -> None:
        try:
            async for entry in conversations.follow(chat_id, start):
                await queue.put(entry)
            await queue.put(None)
        except ServiceError as exc:
            await queue.put(exc)
        except Exception as exc:
            logger.error("stream of chat %s failed", chat_id, exc_info=exc)
            await queue.put(InternalError())

    reader = asyncio.create_task(read())
    written = time.monotonic()
    try:
        # Comments as single lines, never followed by a blank line of their own: clients such as
        # fetch-event-source dispatch an empty message at every blank line, where EventSource
        # dispatches none.
        yield b": stream open\n"
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), RECHECK_SECONDS)
            except TimeoutError:
                if request.app.state.draining or not await _still_allowed(
                    authenticator, request, caller
                ):
                    return
                if time.monotonic() - written >= HEARTBEAT_SECONDS:
                    written = time.monotonic()
                    yield b": keep-alive\n"
                continue
            if item is None:
                return
            if isinstance(item, ServiceError):
                yield error_frame(item)
                return
            body = event_json(item)
            written = time.monotonic()
            yield frame(body["type"], orjson.dumps(body), body["cursor"])
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _still_allowed(authenticator: Authenticator, request: Request, caller: Caller) -> bool:
    """The stream's credentials checked again (no rate limit spent): refused, or now acting as
    another account, the stream ends; the database away, it goes on until the next check."""
    try:
        again = await authenticator.authenticate(
            api_keys=request.headers.getlist("x-api-key"),
            authorizations=request.headers.getlist("authorization"),
            cost=0,
            recheck=True,
        )
    except (Unauthenticated, AccessDenied):
        return False
    except ServiceError:
        return True
    return again.account_id == caller.account_id


async def stream(request: Request) -> Response:
    caller = await authenticate(request)
    chat_id = path_chat(request)
    # A reconnecting EventSource resends the last id it saw: it wins over the `after` of its URL.
    after = request.headers.get("last-event-id") or request.query_params.get("after") or None
    start = await conversations.open_stream(caller, chat_id, after)
    streams: OpenStreams = request.app.state.streams
    holder = caller.rate_key
    if not streams.open(holder):
        raise RateLimited(1)
    deadline = request.scope.get("state", {}).get("deadline")
    if isinstance(deadline, asyncio.Timeout):
        deadline.reschedule(None)  # a stream lasts as long as its client wants it
    return EventStream(_frames(request, caller, chat_id, start), lambda: streams.close(holder))


routes = [Route("/api/chats/{chatId}/stream", stream, methods=["GET"])]

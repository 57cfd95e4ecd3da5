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
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chats_api.streaming import LiveStream, live
from resolvers import conversation_input, conversations
from resolvers.auth import Authenticator
from resolvers.errors import (
    InternalError,
    RateLimited,
    ServiceError,
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


async def _frames(chat_id: UUID, start: int) -> AsyncIterator[bytes]:
    """The chat's events as frames; an error frame (the REST error body) when the stream fails."""
    # Comments as single lines, never followed by a blank line of their own: clients such as
    # fetch-event-source dispatch an empty message at every blank line, where EventSource
    # dispatches none.
    yield b": stream open\n"
    try:
        async for entry in conversations.follow(chat_id, start):
            body = event_json(entry)
            yield frame(body["type"], orjson.dumps(body), body["cursor"])
    except ServiceError as exc:
        yield error_frame(exc)
    except Exception as exc:
        logger.error("stream of chat %s failed", chat_id, exc_info=exc)
        yield error_frame(InternalError())


def _checks(request: Request, caller: Caller) -> Callable[[], Awaitable[bytes | None]]:
    """While the process serves, and the caller's credentials still hold, the stream goes on."""
    authenticator: Authenticator = request.app.state.authenticator

    async def check() -> bytes | None:
        if request.app.state.draining or not await authenticator.still_allowed(
            caller,
            api_keys=request.headers.getlist("x-api-key"),
            authorizations=request.headers.getlist("authorization"),
        ):
            return b""
        return None

    return check


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
    frames = live(
        _frames(chat_id, start),
        heartbeat=b": keep-alive\n",
        heartbeat_seconds=HEARTBEAT_SECONDS,
        check=_checks(request, caller),
        check_seconds=RECHECK_SECONDS,
    )
    return LiveStream(
        frames,
        headers=[(b"content-type", b"text/event-stream; charset=utf-8")],
        on_close=lambda: streams.close(holder),
    )


routes = [Route("/api/chats/{chatId}/stream", stream, methods=["GET"])]

"""HTTP responses that stream for as long as their client wants them: Server-Sent Events (REST's
chat stream, GraphQL's graphql-sse) and multipart HTTP (GraphQL for Apollo's `HttpLink`).

Generic: the edges hand over frames already encoded, a heartbeat for quiet times and a check
that may end the stream (credentials refused, the process draining); nothing here knows what the
frames say.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

logger = logging.getLogger("chats_api.streaming")


class LiveStream(Response):
    """Frames as they come, until they end or the client goes away (noticed at once, not at the
    next write); `on_close` runs either way. No content-length: a stream's length is not known
    when it starts."""

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        *,
        headers: Sequence[tuple[bytes, bytes]],
        on_close: Callable[[], None],
    ) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            *headers,
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


async def live(
    source: AsyncIterator[bytes],
    *,
    heartbeat: bytes,
    heartbeat_seconds: float,
    check: Callable[[], Awaitable[bytes | None]],
    check_seconds: float,
) -> AsyncIterator[bytes]:
    """The source's frames (read in a task of its own, so that a quiet source does not keep the
    checks waiting), `heartbeat` after `heartbeat_seconds` without a frame, until the source ends
    or `check` (every `check_seconds`) answers the stream's last frame."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(1)

    async def read() -> None:
        try:
            async for frame in source:
                await queue.put(frame)
        except Exception:
            # The edges turn their failures into frames; what is left is a bug, and the end.
            logger.exception("a stream failed")
        await queue.put(None)

    reader = asyncio.create_task(read())
    loop = asyncio.get_running_loop()
    written = checked = loop.time()
    try:
        while True:
            # Checked on time whether frames flow or not: a busy stream ends on a drain too.
            wait = max(0.0, checked + check_seconds - loop.time())
            try:
                frame: bytes | None = await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                checked = loop.time()
                last = await check()
                if last is not None:
                    if last:
                        yield last
                    return
                if loop.time() - written >= heartbeat_seconds:
                    written = loop.time()
                    yield heartbeat
                continue
            if frame is None:
                return
            written = loop.time()
            yield frame
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader

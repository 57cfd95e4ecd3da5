"""uvicorn's HTTP protocol (httptools) with a deadline and a size cap on each request's head.

uvicorn bounds neither with httptools: a client that sends a request line and then nothing keeps
its connection (and a slot) for as long as it likes, and a head of megabytes is read into memory.
Here a head must be complete within HEAD_SECONDS of the connection opening (or, on a kept-alive
connection, of the request's first byte), and within MAX_HEAD_BYTES; the deadline that guards a
request (REQUEST_TIMEOUT) starts only once its head is complete.
"""

from __future__ import annotations

import asyncio
import time

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_SECONDS = 10.0
MAX_HEAD_BYTES = 16 * 1024
_TOO_LARGE_BODY = b'{"status":"error","message":"Request header fields too large"}'
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"content-length: %d\r\n"
    b"connection: close\r\n"
    b"\r\n%s" % (len(_TOO_LARGE_BODY), _TOO_LARGE_BODY)
)


class _HeadTooLarge(Exception):
    pass


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    _head_timer: asyncio.TimerHandle | None = None
    _head_deadline = 0.0
    _head_bytes = 0
    _head_too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        if self._head_timer is None:  # the next request on a kept-alive connection
            self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """httptools reports an exception raised in a callback as a malformed request."""
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        self.transport.write(_TOO_LARGE)
        self.transport.close()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._head_too_large = True
            raise _HeadTooLarge()

    def _arm(self) -> None:
        self._head_deadline = time.monotonic() + HEAD_SECONDS
        self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        # uvloop's timers count whole milliseconds from a clock read at the start of the loop's
        # iteration, so one can fire a little before its time: a head is never cut short.
        remaining = self._head_deadline - time.monotonic()
        if remaining > 0:
            self._head_timer = self.loop.call_later(remaining, self._head_timed_out)
            return
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

"""uvicorn's HTTP protocol (httptools) with a deadline and a size cap on each request's head.

uvicorn bounds neither with httptools: a client that sends a request line and then nothing keeps
its connection (and a slot) for as long as it likes, and a head of megabytes is read into memory.
Here a head must be complete within HEAD_SECONDS of the connection opening (or, on a kept-alive
connection, of the request's first byte), and within MAX_HEAD_BYTES, counted as the bytes arrive
(httptools reports a header only once it is complete, so a cap counted in its callbacks lets one
endless header line be buffered whole); the deadline that guards a request (REQUEST_TIMEOUT)
starts only once its head is complete.
"""

from __future__ import annotations

import asyncio
import time

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_SECONDS = 10.0
MAX_HEAD_BYTES = 16 * 1024
# After a 431 the connection reads and drops what the client is still sending, for at most this
# long, before it closes: closed with unread bytes, a socket resets, and the reset can destroy the
# 431 in the client's buffers before the client reads it (nginx's lingering close).
LINGER_SECONDS = 2.0
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
    _header_bytes = 0  # the same, counted by the parser's callbacks
    _in_head = True  # between a request's end (or the connection's start) and the next head's end
    _head_too_large = False
    _lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Bytes that arrive while a head is open count against it; the parser is fed no more
        than the head may still hold, and a head not complete by then is refused at once."""
        if self._lingering:
            return
        if not self._in_head:
            super().data_received(data)
            return
        room = MAX_HEAD_BYTES - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        if room > 0:
            self._head_bytes = MAX_HEAD_BYTES
            super().data_received(data[:room])
        if self._in_head:
            self._refuse_head()
        elif self.transport.get_protocol() is self and not self.transport.is_closing():
            self.data_received(data[room:])  # a body, or the next request's head (counted)

    def on_message_begin(self) -> None:
        super().on_message_begin()
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
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head, self._head_bytes, self._header_bytes = True, 0, 0
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """httptools reports an exception raised in a callback as a malformed request."""
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        self._refuse_head()

    def _refuse_head(self) -> None:
        self._disarm()
        if self._lingering or self.transport.is_closing():
            return
        self._lingering = True
        self.transport.write(_TOO_LARGE)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    def _count(self, size: int) -> None:
        """The parsed head's own count: bytes of several pipelined requests may arrive in one
        read, of which data_received counts only the first head's."""
        self._header_bytes += size
        if self._header_bytes > MAX_HEAD_BYTES:
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

"""Request ids and the service's log lines: one JSON object per line.

Every request gets an id (the client's `x-request-id` when it is sane, a new one otherwise). It is
returned in the `x-request-id` response header, stamped on every log line of that request, and
each request ends with one `request` line (method, route, status, duration), written by
`chats_api.middleware.RequestLifecycle`. Log lines never carry
keys, bodies or database passwords: only ids, statuses, routes and exception types and traces.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Any, TextIO

from chats_api import jsoncodec

REQUEST_ID_HEADER = "x-request-id"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

request_id: ContextVar[str] = ContextVar("request_id", default="-")
logger = logging.getLogger("chats_api")
access = logging.getLogger("chats_api.access")

# Record attributes that are not the caller's extra fields (uvicorn adds a coloured copy; the
# request id has its own place in the line).
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "color_message",
    "request_id",
}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, milliseconds), level, logger, request id, message,
    then the record's extra fields. Written for every request (the access line): the time's
    date and seconds are formatted once a second, which is most of what a line costs."""

    # The last second formatted, and its text: one tuple, replaced whole, so that a second and
    # another second's text are never seen together.
    _seconds: tuple[int, str] = (-1, "")

    def _time(self, created: float) -> str:
        """`datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")`, rounded
        to the microsecond first as it is."""
        second = int(created)
        microseconds = round((created - second) * 1_000_000)
        if microseconds >= 1_000_000:
            second, microseconds = second + 1, microseconds - 1_000_000
        cached, prefix = self._seconds
        if second != cached:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._seconds = (second, prefix)
        return f"{prefix}.{microseconds // 1000:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        line.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return jsoncodec.dumps(line).decode()


def access_line(
    method: str,
    route: str,
    operation: str,
    executor: str,
    status: int,
    seconds: float,
    *,
    transport: str = "",
    trace_id: str = "",
) -> None:
    """One request's `request` line on `chats_api.access` (its level decides whether it is
    written). `operation`: a GraphQL operation's type and root field (a bounded set, unlike
    client-chosen names); `executor` (a compiled plan or Strawberry's) only for GraphQL over
    HTTP; `transport` for a GraphQL stream over HTTP (`sse`, `multipart`); `trace_id` when
    traces are exported; each as the request's scope state says."""
    if not access.isEnabledFor(logging.INFO):
        return
    fields: dict[str, object] = {"method": method, "route": route, "operation": operation}
    if executor:
        fields["executor"] = executor
    if transport:
        fields["transport"] = transport
    if trace_id:
        fields["trace_id"] = trace_id
    fields["status"] = status
    fields["duration_ms"] = round(1000 * seconds, 3)
    # Made and handled as `access.info` would, less its search of the stack for the caller's
    # file and line, which the line does not show (a fifth of its cost, on every request).
    access.handle(
        access.makeRecord(access.name, logging.INFO, "", 0, "request", (), None, extra=fields)
    )


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to `sys.stderr` as it is when the line is written, not when the handler was made
    (a test's capture, a stream replaced after start-up), as Python's last-resort handler does."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: object) -> None:
        pass


def configure_logging(level: str) -> None:
    """The service's own lines at `level`, and asyncpg's and asyncio's warnings (a pool that
    cannot reconnect, say), each one JSON line on stderr."""
    if any(isinstance(h.formatter, JSONFormatter) for h in logger.handlers):
        return
    handler = StderrHandler()
    handler.setFormatter(JSONFormatter())
    # On the handler, not the logger: a logger's filters skip what its children (`.access`) log.
    # Handlers further up (pytest's, say) see the record after this one stamped it.
    handler.addFilter(RequestIdFilter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = True
    # asyncpg's, asyncio's (an exception nobody retrieved, say) and Strawberry's (a WebSocket
    # operation's task that failed), as the same JSON lines.
    for name in ("asyncpg", "asyncio", "strawberry"):
        library = logging.getLogger(name)
        library.addHandler(handler)
        library.setLevel(logging.WARNING)
        library.propagate = False  # else Python's last-resort handler prints it again, raw


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own lines (start-up, shutdown, its errors) as the same JSON lines; its access log
    is off, the service writes its own (`chats_api.access`)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JSONFormatter}},
        "filters": {"request_id": {"()": RequestIdFilter}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }

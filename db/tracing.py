"""SQLite's statements as client spans (asyncpg's are its instrumentation's, `chats_api.tracing`):
named by the statement's operation, with its text and never its parameters. Off (no tracer
enabled), a statement pays one global lookup."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_TRACER: Tracer | None = None
_OFF: nullcontext[None] = nullcontext()
_W3C = TraceContextTextMapPropagator()


def enable(tracer: Tracer) -> None:
    global _TRACER
    _TRACER = tracer


def traceparent() -> str | None:
    """The current span's W3C traceparent, stored with what a request writes for others to read
    (an event's delivery links to it); None while traces are off."""
    if _TRACER is None:
        return None
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)  # nothing without a valid current span
    return carrier.get("traceparent")


def sqlite_span(
    statements: str | Sequence[tuple[str, object]],
) -> AbstractContextManager[Span | None]:
    """A statement's span, or a transaction's (its statements' texts joined)."""
    if _TRACER is None:
        return _OFF
    statement = statements if isinstance(statements, str) else "; ".join(t for t, _ in statements)
    operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
    return _TRACER.start_as_current_span(
        operation,
        kind=SpanKind.CLIENT,
        attributes={
            "db.system.name": "sqlite",
            "db.operation.name": operation,
            "db.query.text": statement,
        },
    )

"""What the GraphQL edge tells the request's trace (`chats_api.tracing`), by the semantic
conventions for GraphQL: the operation's type (the span's name), its name, the trusted document's
id, and the document itself only when OTEL_GRAPHQL_DOCUMENT asks (a client's text may hold what
an operator should not keep). Nothing is made while traces are off (`TRACER` is None)."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.trace import Link, SpanKind, Tracer, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from schema.pricing import Price

TRACER: Tracer | None = None
_DOCUMENT = False


def enable(tracer: Tracer, *, document: bool) -> None:
    global TRACER, _DOCUMENT
    TRACER, _DOCUMENT = tracer, document


def delivered(subscription: str, trace: str | None) -> None:
    """An event delivered by a subscription, as a span of its operation's, linked to the span of
    the request that wrote it (`trace`, its W3C traceparent, stored with the event)."""
    if TRACER is None:
        return
    links = []
    if trace:
        written = get_current_span(_PROPAGATOR.extract({"traceparent": trace})).get_span_context()
        if written.is_valid:
            links.append(Link(written))
    TRACER.start_span(f"deliver {subscription}", kind=SpanKind.PRODUCER, links=links).end()


_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass(frozen=True, slots=True)
class OperationSpan:
    """A GraphQL operation, as its request's span names it."""

    type: str
    name: str | None
    document_id: str | None
    document: str | None

    @classmethod
    def of(cls, price: Price | None, document_id: object, document: object) -> OperationSpan:
        """The operation its price names (a WebSocket operation that was not priced will not
        run: it is named as what a socket mostly carries, a subscription), with the request's
        `documentId` and document as sent."""
        return cls(
            price.kind if price is not None else "subscription",
            price.name if price is not None else None,
            document_id if isinstance(document_id, str) else None,
            document if _DOCUMENT and isinstance(document, str) else None,
        )

    def attributes(self) -> dict[str, str]:
        attributes = {"graphql.operation.type": self.type}
        if self.name:
            attributes["graphql.operation.name"] = self.name
        if self.document_id:
            attributes["graphql.document.id"] = self.document_id
        if self.document:
            attributes["graphql.document"] = self.document
        return attributes

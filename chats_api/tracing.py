"""OpenTelemetry traces, exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or its traces
twin) is set, read with the SDK's own `OTEL_*` variables (service name, sampler, batch delays,
headers). Off, nothing here runs: no middleware, no instrumentation, no span.

On, each request is one `SERVER` span (`Tracing`, the outermost layer), the parent the client's
W3C `traceparent` names: a REST route named `{method} {route}`, a GraphQL operation named by its
type with `graphql.operation.*` attributes (the endpoint says which, in the scope's state). Its
children: asyncpg's queries (without parameters), SQLite's (`db.tracing`), Redis's commands and the
identity provider's key fetches (httpx), by the libraries' own instrumentations. No span per
resolver: Strawberry's tracing extension's cost is what its users complain of.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db import tracing as db_tracing
from schema import telemetry as graphql_telemetry

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import Sampler

ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
SERVICE = "chats-api"

_provider: TracerProvider | None = None


def exporting() -> bool:
    """Whether traces go anywhere: an OTLP endpoint is set and the SDK is not disabled."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(os.environ.get(name) for name in ENDPOINTS)


def tracer(*, document: bool = False) -> Tracer | None:
    """The process's tracer, made (with its exporter and the libraries' instrumentations) the
    first time it is asked for when traces are exported; None when they are not. `document`:
    GraphQL spans carry their document (OTEL_GRAPHQL_DOCUMENT)."""
    global _provider
    if not exporting():
        return None
    if _provider is None:
        _provider = _exporting_provider()
    found = _provider.get_tracer("chats_api")
    db_tracing.enable(_provider.get_tracer("db"))
    graphql_telemetry.enable(found, document=document)
    return found


def _exporting_provider() -> TracerProvider:
    """The SDK, its OTLP exporter and the libraries' instrumentations, set up once. Imported
    here: a process that does not export never loads them (protobuf's code and the wrappers)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased

    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or SERVICE})
    # The libraries' spans in the stable conventions' names (db.system.name, db.query.text,
    # url.full), as the service's own, unless the operator chose otherwise.
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "database,http")
    provider = TracerProvider(resource=resource, sampler=ParentBased(requests_only()))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    RedisInstrumentor().instrument(tracer_provider=provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    return provider


def shutdown() -> None:
    """Spans still queued are sent before the process ends."""
    if _provider is not None:
        _provider.force_flush()


def requests_only() -> Sampler:
    """A trace begins with a request (a SERVER span), sampled as OTEL_TRACES_SAMPLER says (all by
    default); what a process does by itself (its log's reader polling every second, the hourly
    chores) starts none, or each second would be a trace of its own."""
    from opentelemetry.sdk.trace.sampling import (
        Decision,
        Sampler,
        SamplingResult,
        _get_from_env_or_default,  # the SDK's reading of OTEL_TRACES_SAMPLER
    )

    class RequestsOnly(Sampler):
        def __init__(self) -> None:
            self.requests = _get_from_env_or_default()

        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: Any = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            if kind is not SpanKind.SERVER:
                return SamplingResult(Decision.DROP)
            return self.requests.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return f"RequestsOnly{{{self.requests.get_description()}}}"

    return RequestsOnly()


class Tracing:
    """One SERVER span per HTTP request (a WebSocket's operations have theirs, `schema.sockets`);
    its trace id goes to the access line through the scope's state."""

    def __init__(self, app: ASGIApp, *, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        with self.tracer.start_as_current_span(
            method,
            context=propagate.extract(headers),  # the client's traceparent, if it sent one
            kind=SpanKind.SERVER,
            record_exception=False,
            attributes={
                "http.request.method": method,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
                "user_agent.original": headers.get("user-agent", ""),
            },
        ) as span:
            state = scope.setdefault("state", {})
            state["trace_id"] = format(span.get_span_context().trace_id, "032x")
            status = 500

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, send_status)
            finally:
                _name(span, scope, method, status)


def _name(span: Span, scope: Scope, method: str, status: int) -> None:
    """The span's name and attributes, once the app has said what the request was."""
    state = scope.get("state", {})
    span.set_attribute("http.response.status_code", status)
    graphql = state.get("graphql")
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template is not None:
        span.set_attribute("http.route", template)
    if graphql is not None:
        span.update_name(graphql.type)
        for key, value in graphql.attributes().items():
            span.set_attribute(key, value)
    elif template is not None:
        span.update_name(f"{method} {template}")
    if status >= 500 or state.get("errors"):
        span.set_status(Status(StatusCode.ERROR))

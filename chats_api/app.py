"""The ASGI application: REST routes, GraphQL, middleware, and the database lifespan.

Run it with `chats-api serve`, or `uvicorn --factory chats_api.app:create_app`.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from types import FrameType
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Scope

from chats_api import tracing
from chats_api.issuer import IssuerClient
from chats_api.logs import configure_logging, logger
from chats_api.middleware import RequestLifecycle
from chats_api.settings import Settings
from db.engine import ServiceEngine, close_engine, create_engine, open_engine, use_engine
from resolvers.auth import Authenticator
from resolvers.chat_events import prune_chat_events
from resolvers.conversations import stop_idle_replies
from resolvers.documents import Safelist, TrustedDocuments
from resolvers.errors import ServiceError, ServiceUnavailable
from resolvers.persisted import PersistedQueries
from resolvers.streams import OpenStreams
from resolvers.tokens import IssuerKeys, TokenPolicy, TokenVerifier
from rest import accounts as rest_accounts
from rest import chats as rest_chats
from rest import docs as rest_docs
from rest import errors as rest_errors
from rest import events as rest_events
from rest import health as rest_health
from rest import messages as rest_messages
from rest import metrics as rest_metrics
from rest.errors import EXCEPTION_HANDLERS
from schema import errors as graphql_errors
from schema.edge import GraphQLEdge, graphql_edge
from schema.endpoint import graphiql_assets
from schema.gate import CostLimit

if TYPE_CHECKING:
    from db.redis_client import SharedState

GRAPHQL_PATH = "/graphql"


def _drain_on_sigterm(app: Starlette, seconds: float) -> None:
    """On SIGTERM, /readyz answers 503 at once, and requests are still served for `seconds`
    before the server's own graceful shutdown (uvicorn's handler) begins: time for a load
    balancer's health check to take the replica out before its listening socket closes."""
    if threading.current_thread() is not threading.main_thread():
        return
    graceful = signal.getsignal(signal.SIGTERM)
    if not callable(graceful):
        return  # nobody shuts down gracefully on SIGTERM here (tests driving the app in-process)
    loop = asyncio.get_running_loop()

    def on_sigterm(sig: int, frame: FrameType | None) -> None:
        if app.state.draining:
            graceful(sig, frame)
            return
        app.state.draining = True
        if seconds > 0:
            logger.info("SIGTERM: draining for %s s, then shutting down", seconds)
        loop.call_soon_threadsafe(loop.call_later, seconds, graceful, sig, frame)

    signal.signal(signal.SIGTERM, on_sigterm)


def _issuer(settings: Settings) -> tuple[TokenVerifier, IssuerClient] | tuple[None, None]:
    """Access tokens, when an issuer is configured."""
    if not settings.oidc_issuer:
        return None, None
    policy = TokenPolicy.of(
        settings.oidc_issuer,
        settings.oidc_audience,
        settings.oidc_algorithms,
        settings.oidc_leeway,
        settings.oidc_token_type,
    )
    client = IssuerClient(settings.oidc_issuer, settings.oidc_jwks_url)
    return TokenVerifier(policy, IssuerKeys(client.fetch_keys)), client


def _refusal(scope: Scope, exc: ServiceError) -> Response:
    """A request refused before its endpoint ran, in its protocol's envelope (REST's statuses)."""
    status = rest_errors.status_for(type(exc))
    if scope["path"] == GRAPHQL_PATH:
        return graphql_errors.error_response(exc, status)
    return rest_errors.error_response(exc)


# How often each process looks for replies whose agent went silent: a reply is stopped within
# this long after REPLY_TIMEOUT.
REPLY_SWEEP_SECONDS = 2.0
# How often each process deletes the chat events older than their retention.
PRUNE_SECONDS = 3600.0


async def _every(seconds: float, chore: Callable[[], Awaitable[object]], name: str) -> None:
    """Forever: the chore, every `seconds` (every worker runs it; each does its part once). An
    outage is the database's log lines' to tell, not this loop's."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await chore()
        except ServiceUnavailable:
            continue
        except ServiceError as exc:
            logger.error("%s failed", name, exc_info=exc.__cause__ or exc)


@dataclass
class _Parts:
    """What one app is made of, made once by `create_app`: its engine, Redis, the identity
    provider's keys, the trusted documents, the open streams' counts and the GraphQL edge."""

    settings: Settings
    engine: ServiceEngine
    shared: SharedState | None
    tokens: TokenVerifier | None
    issuer: IssuerClient | None
    documents: TrustedDocuments
    streams: OpenStreams
    graphql: GraphQLEdge

    @classmethod
    def of(cls, settings: Settings) -> _Parts:
        shared = None
        if settings.redis_url:
            from db.redis_client import SharedState  # redis-py's import is paid only with Redis

            shared = SharedState(settings.redis_url, timeout=settings.redis_timeout)
        tokens, issuer = _issuer(settings)
        documents = TrustedDocuments()
        streams = OpenStreams(settings.max_sockets_per_caller)
        graphql = graphql_edge(
            persisted=PersistedQueries(shared, settings.apq_registrations),
            documents=documents,
            safelist=Safelist(settings.graphql_safelist),
            compiled=settings.graphql_compiled,
            allowed_origins=settings.cors_allow_origins,
            streams=streams,
            cost_limit=CostLimit(settings.cost_limit, enforce=settings.cost_mode == "enforce"),
        )
        engine = create_engine(settings.database_url, connect_timeout=settings.db_connect_timeout)
        return cls(settings, engine, shared, tokens, issuer, documents, streams, graphql)

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        settings, engine = self.settings, self.engine
        # Start-up, shutdown and, in tests, whatever runs beside the lifespan use this app's engine.
        use_engine(engine)
        await open_engine(
            engine,
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            query_timeout=settings.db_query_timeout,
            statement_cache_size=settings.db_statement_cache_size,
            events_url=settings.events_database_url,
            shared=self.shared,
        )
        logger.info("database ready (%s)", engine.engine_type)
        await self.documents.refresh()
        refreshing = asyncio.create_task(self.documents.keep_fresh())
        chores = [
            asyncio.create_task(
                _every(
                    REPLY_SWEEP_SECONDS,
                    partial(stop_idle_replies, settings.reply_timeout),
                    "stopping idle replies",
                )
            ),
            asyncio.create_task(_every(PRUNE_SECONDS, prune_chat_events, "pruning chat events")),
        ]
        # Everything made at start-up lives as long as the process: keep it out of the garbage
        # collector's scans, which otherwise grow with the size of the schema and the imports.
        gc.freeze()
        _drain_on_sigterm(app, settings.drain_seconds)
        try:
            yield
        finally:
            refreshing.cancel()
            for chore in chores:
                chore.cancel()
            await close_engine(engine)
            for closing in (self.shared, self.tokens, self.issuer):
                if closing is not None:
                    await closing.close()
            tracing.shutdown()

    def routes(self) -> list[BaseRoute]:
        # The router tries routes in order: the two that carry the traffic first.
        return [
            Route(GRAPHQL_PATH, self.graphql.http, methods=["GET", "POST"]),
            *rest_chats.routes,
            *rest_messages.routes,
            *rest_events.routes,
            *rest_accounts.routes,
            WebSocketRoute(GRAPHQL_PATH, self.graphql.websocket),
            *rest_docs.routes,
            *rest_health.routes,
            *rest_metrics.routes,
            graphiql_assets(),
        ]


def _cors(settings: Settings) -> dict[str, Any]:
    return {
        "allow_origins": list(settings.cors_allow_origins),
        "allow_methods": ["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        # Without these two the browser's preflight fails for every authenticated call;
        # Last-Event-ID is how fetch-event-source resumes a stream.
        "allow_headers": [
            "x-api-key",
            "authorization",
            "content-type",
            "x-request-id",
            "last-event-id",
            # A browser's W3C trace context, continued by the request's span.
            "traceparent",
            "tracestate",
        ],
        "expose_headers": ["x-request-id", "retry-after", "x-cost"],
        "max_age": 600,
    }


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    parts = _Parts.of(settings)
    routes = parts.routes()
    cors = _cors(settings)
    # Traces, when exported: the request's span around everything else, the access line's too.
    tracer = tracing.tracer(document=settings.otel_graphql_document)
    traced = [] if tracer is None else [Middleware(tracing.Tracing, tracer=tracer)]
    app = Starlette(
        routes=routes,
        # Outermost first. The lifecycle answers its own refusals (deadline, body limit) through
        # the same CORS rules, so that a browser can read their 413 and 503 too.
        middleware=[
            *traced,
            Middleware(
                RequestLifecycle,
                engine=parts.engine,
                seconds=settings.request_timeout,
                cors=cors,
                refusal=_refusal,
                routes=frozenset(r.path for r in routes if isinstance(r, Route | WebSocketRoute)),
                graphql_path=GRAPHQL_PATH,
                unobserved=frozenset(r.path for r in rest_metrics.routes),
            ),
            Middleware(CORSMiddleware, **cors),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=parts.lifespan,
    )
    app.state.authenticator = Authenticator(
        settings.rate_limit,
        parts.shared,
        parts.tokens,
        provision=settings.oidc_provision,
        cost_rate_limit=settings.cost_rate_limit,
    )
    app.state.engine = parts.engine
    app.state.metrics_token = settings.metrics_token
    app.state.graphql = parts.graphql
    app.state.streams = parts.streams
    app.state.draining = False
    return app

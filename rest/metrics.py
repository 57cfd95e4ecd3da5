"""Prometheus metrics at /metrics: every instrument of the process (the requests', the GraphQL
executors', the trusted documents') and the database pool in use, read when scraped.

With several worker processes, set PROMETHEUS_MULTIPROC_DIR to an empty folder shared by them
(prometheus-client's multiprocess mode); otherwise each scrape sees the worker that answered it.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

POOL_IN_USE = Gauge(
    "chats_api_db_pool_connections_in_use",
    "PostgreSQL pool connections lent out right now.",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "chats_api_db_pool_connections",
    "PostgreSQL pool connections open.",
    multiprocess_mode="livesum",
)


def _pool(request: Request) -> Any:
    engine = request.app.state.engine
    return getattr(engine, "pool", None)


def _allowed(request: Request) -> bool:
    """With METRICS_TOKEN set, only a scraper that sends it as a Bearer token reads the metrics."""
    token: str = request.app.state.metrics_token
    if not token:
        return True
    sent = request.headers.get("authorization", "")
    return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


async def metrics(request: Request) -> Response:
    if not _allowed(request):
        return Response(
            b'{"status":"error","message":"Unauthorized"}',
            401,
            {"WWW-Authenticate": "Bearer"},
            media_type="application/json",
        )
    pool = _pool(request)
    if pool is not None:
        POOL_SIZE.set(pool.get_size())
        POOL_IN_USE.set(pool.get_size() - pool.get_idle_size())
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics, methods=["GET"])]

"""Liveness and readiness, for load balancers and orchestrators (no key needed)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from resolvers.errors import ServiceUnavailable
from resolvers.health import database_ready
from rest.responses import success


async def healthz(request: Request) -> Response:
    """The process is up and serving."""
    return success()


async def readyz(request: Request) -> Response:
    """The database answers and the process is not shutting down; 503 (in the usual envelope,
    with Retry-After) otherwise."""
    if request.app.state.draining:
        raise ServiceUnavailable()
    await database_ready()
    return success()


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]

"""Domain errors to HTTP answers: one table, one handler registered on the base class."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from logs import logger
from resolvers.errors import (
    AccessDenied,
    Conflict,
    InternalError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
    Unauthenticated,
)
from rest.responses import error

STATUS: dict[type[ServiceError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    AccessDenied: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    RateLimited: 429,
    InternalError: 500,
    ServiceUnavailable: 503,
}


def status_for(exc: ServiceError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


async def service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited | ServiceUnavailable):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, InternalError):
        logger.error(
            "%s %s failed: %s",
            request.method,
            request.url.path,
            exc.message,
            exc_info=exc.__cause__ or exc,
        )
    elif isinstance(exc, ServiceUnavailable):
        logger.warning(
            "%s %s: database unavailable (%r)", request.method, request.url.path, exc.__cause__
        )
    return error(status_for(exc), exc.message, headers)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 in the same envelope."""
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, exc.detail, dict(exc.headers or {}))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error(500, InternalError.default_message)


EXCEPTION_HANDLERS = {
    ServiceError: service_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}

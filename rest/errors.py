"""Domain errors to HTTP answers: one table, one renderer, one handler on the base class."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from resolvers.errors import (
    AccessDenied,
    Conflict,
    CursorExpired,
    InternalError,
    InvalidInput,
    InvalidToken,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
    Unauthenticated,
)
from rest.responses import error

logger = logging.getLogger("chats_api.rest")

STATUS: dict[type[ServiceError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    AccessDenied: 403,
    NotFound: 404,
    CursorExpired: 410,
    Conflict: 409,
    PayloadTooLarge: 413,
    RateLimited: 429,
    InternalError: 500,
    ServiceUnavailable: 503,
}


# RFC 6750: a 401 for a Bearer access token says so, and why in the broadest terms.
HEADERS: dict[type[ServiceError], dict[str, str]] = {
    InvalidToken: {"WWW-Authenticate": 'Bearer error="invalid_token"'},
}


def status_for(error_class: type[ServiceError]) -> int:
    for cls in error_class.__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(exc: ServiceError) -> Response:
    """The one way a domain error becomes a REST answer: its status, message, Retry-After and
    WWW-Authenticate."""
    headers = dict(HEADERS.get(type(exc), {}))
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return error(status_for(type(exc)), exc.message, headers or None)


async def service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    if isinstance(exc, InternalError):
        logger.error(
            "%s %s failed: %s",
            request.method,
            request.url.path,
            exc.message,
            exc_info=exc.__cause__ or exc,
        )
    # A 503 is logged by its access line; the outage itself, once, as its transitions.
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 in the same envelope."""
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, exc.detail, dict(exc.headers or {}))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(InternalError())


EXCEPTION_HANDLERS = {
    ServiceError: service_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}

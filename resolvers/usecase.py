"""The one place where failures below the resolvers become domain errors."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from db.errors import DatabaseUnavailable
from resolvers.errors import InternalError, ServiceError, ServiceUnavailable

P = ParamSpec("P")
T = TypeVar("T")


def use_case(
    failure: type[InternalError] = InternalError,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Domain errors pass through; an unreachable database is a 503; anything else is `failure`
    (a 500 whose message is fixed), chained to the original so the edge can log it."""

    def decorate(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return await func(*args, **kwargs)
            except ServiceError:
                raise
            except DatabaseUnavailable as exc:
                raise ServiceUnavailable() from exc
            except Exception as exc:
                raise failure() from exc

        return wrapper

    return decorate

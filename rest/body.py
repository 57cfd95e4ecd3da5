"""Reading a request body safely: size first, then strict JSON."""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.requests import Request

from resolvers.errors import BodyNotAnObject, InvalidJSON, PayloadTooLarge

MAX_BODY_BYTES = 64 * 1024


async def read_body(request: Request) -> bytes:
    """The whole body, refused as soon as it is known to pass the limit (before parsing)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def json_object(body: bytes) -> dict[str, Any]:
    """An absent (empty) body is an empty object."""
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson refuses some valid JSON (integers past 64 bits, lone surrogate escapes):
        # only then ask the standard library, made as strict as the RFC.
        value = _strict_stdlib_loads(body)
    if not isinstance(value, dict):
        raise BodyNotAnObject()
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict_stdlib_loads(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8 and bad syntax; RecursionError, absurd nesting.
        raise InvalidJSON() from None

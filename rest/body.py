"""Reading a request body safely: size first, then strict JSON."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from chats_api import jsoncodec
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
        value = jsoncodec.loads(body)
    except json.JSONDecodeError:
        raise InvalidJSON() from None
    if not isinstance(value, dict):
        raise BodyNotAnObject()
    return value

"""JSON answers in the contract's envelope."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from starlette.responses import Response

from chats_api import jsoncodec
from resolvers.models import CHAT_FIELDS, ChatRow, iso_timestamp


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return jsoncodec.dumps(content)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


# The seed's ChatRoom: every field of the chat record but createdAt, in the record's order.
_JSON_FIELDS = tuple((name, _camel(name)) for name in CHAT_FIELDS if name != "created_at")


def json_value(value: object) -> object:
    if isinstance(value, datetime):
        return iso_timestamp(value)
    return str(value) if isinstance(value, UUID) else value


def chat_json(chat: ChatRow) -> dict[str, Any]:
    return {key: json_value(getattr(chat, name)) for name, key in _JSON_FIELDS}


def success(**fields: Any) -> JSONResponse:
    return JSONResponse({"status": "success", **fields})


def error(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message}, status_code, headers=headers)

"""JSON answers in the contract's envelope."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from chats_api import jsoncodec
from resolvers.models import ChatRoom, iso_timestamp


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return jsoncodec.dumps(content)


def chat_json(chat: ChatRoom) -> dict[str, Any]:
    """The seed's ChatRoom, keys in its order."""
    return {
        "id": str(chat.id),
        "title": chat.title,
        "accountId": str(chat.account_id),
        "sessionId": str(chat.session_id),
        "updatedAt": iso_timestamp(chat.updated_at),
        "artistId": str(chat.artist_id) if chat.artist_id is not None else None,
    }


def success(**fields: Any) -> JSONResponse:
    return JSONResponse({"status": "success", **fields})


def error(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message}, status_code, headers=headers)

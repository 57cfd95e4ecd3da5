"""/api/chats: create (POST), list (GET), rename (PATCH), delete (DELETE)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from resolvers import chats, conversations
from resolvers.models import Caller, ChatRow
from resolvers.validation import (
    parse_chat_update,
    parse_new_chat,
    parse_optional_uuid,
    parse_required_uuid,
)
from rest.auth import authenticate
from rest.body import json_object, read_body
from rest.responses import chat_json, success


async def authenticated_body(request: Request) -> tuple[Caller, dict[str, object]]:
    """The contract's order: 413 (size) before 401 (key) before 400 (JSON)."""
    body = await read_body(request)
    caller = await authenticate(request)
    return caller, json_object(body)


async def chats_with_state(caller: Caller, rooms: list[ChatRow]) -> list[dict[str, object]]:
    """Chats as the listing and the read mark answer them: with isStreaming and hasUnread (one
    query for the whole page)."""
    states = await conversations.chat_states(caller, [chat.id for chat in rooms])
    return [
        {**chat_json(chat), "isStreaming": states[chat.id][0], "hasUnread": states[chat.id][1]}
        for chat in rooms
    ]


async def create_chat(request: Request) -> Response:
    caller, payload = await authenticated_body(request)
    chat = await chats.create_chat(caller, parse_new_chat(payload))
    return success(chat=chat_json(chat))


async def list_chats(request: Request) -> Response:
    caller = await authenticate(request)
    params = request.query_params
    page = await chats.list_chats(
        caller,
        account_id=parse_optional_uuid(params, "accountId"),
        artist_id=parse_optional_uuid(params, "artistId"),
        limit=chats.parse_page_size(params.get("limit") or None, "limit"),
        cursor=params.get("cursor") or None,
    )
    next_cursor = chats.encode_cursor(page.chats[-1]) if page.has_next_page else None
    return success(
        chats=await chats_with_state(caller, page.chats),
        nextCursor=next_cursor,
        cursor=page.event_cursor,
    )


async def update_chat(request: Request) -> Response:
    caller, payload = await authenticated_body(request)
    chat = await chats.update_chat(caller, parse_chat_update(payload))
    return success(chat=chat_json(chat))


async def delete_chat(request: Request) -> Response:
    caller, payload = await authenticated_body(request)
    chat = await chats.delete_chat(caller, parse_required_uuid(payload, "chatId"))
    return success(chatId=str(chat.id))


HANDLERS = {
    "GET": list_chats,
    "HEAD": list_chats,
    "POST": create_chat,
    "PATCH": update_chat,
    "DELETE": delete_chat,
}


async def chats_endpoint(request: Request) -> Response:
    return await HANDLERS[request.method](request)


# One route for the four methods, so that a 405 lists all of them in `Allow`.
routes = [Route("/api/chats", chats_endpoint, methods=["GET", "POST", "PATCH", "DELETE"])]

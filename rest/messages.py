"""Conversations over REST: a chat's messages, the assistant's replies, stop, read, trailing
delete, and the chat's events as Server-Sent Events (`rest/events.py`). Every route reads its
body, authenticates, then validates, in the contract's order (413, 401, 429, 400, 403, 404)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from resolvers import conversation_input, conversations
from resolvers.errors import ChatNotFound, MessageNotFound
from resolvers.models import Message
from resolvers.validation import parse_optional_uuid, parse_uuid, uuid_or_none
from rest.auth import authenticate
from rest.chats import authenticated_body, chats_with_state
from rest.responses import json_value, success


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "chatId": str(message.chat_id),
        "role": message.role,
        "parts": message.parts,
        "status": message.status,
        "createdAt": json_value(message.created_at),
        "updatedAt": json_value(message.updated_at),
    }


def _path_id(request: Request, name: str, missing: type[Exception]) -> UUID:
    """A path's id: not a UUID names nothing (404), as a chat that does not exist."""
    found = uuid_or_none(request.path_params[name])
    if found is None:
        raise missing()
    return found


def path_chat(request: Request) -> UUID:
    return _path_id(request, "chatId", ChatNotFound)


async def list_messages(request: Request) -> Response:
    caller = await authenticate(request)
    params = request.query_params
    page = await conversations.list_messages(
        caller,
        path_chat(request),
        last=params.get("limit") or None,
        before=params.get("before") or None,
        last_field="limit",
    )
    previous = (
        conversation_input.page_cursor(page.messages[0])
        if page.has_previous_page and page.messages
        else None
    )
    return success(
        messages=[message_json(m) for m in page.messages],
        previousCursor=previous,
        cursor=page.event_cursor,
    )


async def send_message(request: Request) -> Response:
    caller, payload = await authenticated_body(request)
    message_id = parse_optional_uuid(payload, "messageId")
    parts = conversation_input.parse_parts(payload.get("parts"))
    message = await conversations.send_message(caller, path_chat(request), message_id, parts)
    return success(message=message_json(message))


async def delete_messages(request: Request) -> Response:
    caller = await authenticate(request)
    from_id = parse_uuid(request.query_params.get("from"), "from")
    chat_id = path_chat(request)
    ids = await conversations.delete_messages(caller, chat_id, from_id)
    return success(chatId=str(chat_id), messageIds=[str(i) for i in ids])


async def start_reply(request: Request) -> Response:
    caller, payload = await authenticated_body(request)
    message_id = parse_optional_uuid(payload, "messageId")
    role = conversation_input.parse_reply_role(payload.get("role"))
    message = await conversations.start_reply(caller, path_chat(request), message_id, role)
    return success(message=message_json(message))


async def append_chunk(request: Request) -> Response:
    caller, payload = await authenticated_body(request)
    index = conversation_input.parse_index(payload.get("index"))
    parts = conversation_input.parse_parts(payload.get("parts"))
    chat_id = path_chat(request)
    message_id = _path_id(request, "messageId", MessageNotFound)
    await conversations.append_reply(caller, message_id, index, parts, chat_id=chat_id)
    return success(messageId=str(message_id), index=index)


async def finish_reply(request: Request) -> Response:
    caller, _ = await authenticated_body(request)
    chat_id = path_chat(request)
    message_id = _path_id(request, "messageId", MessageNotFound)
    message = await conversations.finish_reply(caller, message_id, chat_id=chat_id)
    return success(message=message_json(message))


async def stop_reply(request: Request) -> Response:
    caller, _ = await authenticated_body(request)
    message = await conversations.stop_reply(caller, path_chat(request))
    return success(message=message_json(message))


async def mark_read(request: Request) -> Response:
    caller, _ = await authenticated_body(request)
    chat = await conversations.mark_read(caller, path_chat(request))
    (answer,) = await chats_with_state(caller, [chat])
    return success(chat=answer)


async def messages_endpoint(request: Request) -> Response:
    handler = {"POST": send_message, "DELETE": delete_messages}.get(request.method, list_messages)
    return await handler(request)


CHAT = "/api/chats/{chatId}"
routes = [
    Route(f"{CHAT}/messages", messages_endpoint, methods=["GET", "POST", "DELETE"]),
    Route(f"{CHAT}/replies", start_reply, methods=["POST"]),
    Route(f"{CHAT}/replies/{{messageId}}/chunks", append_chunk, methods=["POST"]),
    Route(f"{CHAT}/replies/{{messageId}}/finish", finish_reply, methods=["POST"]),
    Route(f"{CHAT}/stop", stop_reply, methods=["POST"]),
    Route(f"{CHAT}/read", mark_read, methods=["POST"]),
]

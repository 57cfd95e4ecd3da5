"""The OpenAPI 3.1 document of everything the service answers over REST: the seed's
`POST /api/chats` unchanged in meaning, plus the other methods, health checks and every status."""

from __future__ import annotations

from typing import Any

from resolvers.conversation_input import (
    DEFAULT_MESSAGES,
    MAX_MESSAGES,
)
from resolvers.errors import FAMILIES, error_classes
from resolvers.validation import TOPIC_ERROR
from rest.auth import COSTS
from rest.errors import status_for
from rest.openapi_components import COMPONENTS, UUID


def _error(status: int, description: str) -> dict[str, Any]:
    """A status's answer, its examples the messages of the errors that answer with it."""
    messages = list(
        dict.fromkeys(
            cls.default_message
            for cls in error_classes()
            if cls not in FAMILIES and status_for(cls) == status
        )
    )
    if status == 400:  # the family's members word their message with the field's name
        messages.insert(0, TOPIC_ERROR)
    content: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
    content["examples"] = {
        f"e{n}": {"value": {"status": "error", "message": message}}
        for n, message in enumerate(messages)
    }
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": content},
    }
    if any(cls.retry_after is not None for cls in error_classes() if status_for(cls) == status):
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
        }
    return response


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


COMMON_ERRORS: dict[str, Any] = {
    "400": _error(400, "Bad request: the body or a parameter is invalid"),
    "401": _error(
        401,
        "Missing, ambiguous, unknown, revoked or expired key, or an access token that fails "
        'verification (with `WWW-Authenticate: Bearer error="invalid_token"`)',
    ),
    "403": _error(
        403,
        "The caller may not act for the given account or artist, or a signed-in identity is "
        "linked to no account",
    ),
    "413": _error(413, "Body larger than 64 KiB"),
    "429": _error(429, "The key's rate limit is spent"),
    "500": _error(500, "Unexpected failure, logged with the request id"),
    "503": _error(503, "The database is unreachable"),
}
NOT_FOUND = _error(404, "No such chat, or not one the caller may see")
CHAT_PATH = {
    "name": "chatId",
    "in": "path",
    "required": True,
    "schema": UUID,
    "description": "The chat (not a UUID: 404, as a chat that does not exist)",
}
MESSAGE_PATH = {**CHAT_PATH, "name": "messageId", "description": "The reply"}
CONFLICT = _error(409, "The conversation's state does not allow it (the message says why)")


def _conversation(
    operation_id: str,
    summary: str,
    answer: str,
    schema: str,
    *,
    body: str | None = None,
    parameters: tuple[dict[str, Any], ...] = (),
    conflict: bool = True,
) -> dict[str, Any]:
    """A conversation route: the chat in the path, the common errors, 404, and 409 if it may."""
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": [CHAT_PATH, *parameters],
        "responses": {
            "200": _ok(answer, schema),
            **COMMON_ERRORS,
            "404": NOT_FOUND,
            **({"409": CONFLICT} if conflict else {}),
        },
    }
    if body is not None:
        operation["requestBody"] = _body(body, True)
    return operation


def _body(schema: str, required: bool) -> dict[str, Any]:
    return {
        "required": required,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Recoup chats API",
        "version": "1.0.0",
        "description": "Chat rooms of the Recoup platform, an AI agent platform for the music "
        "industry. The same operations are available over GraphQL at /graphql.",
        "license": {"name": "MIT", "identifier": "MIT"},
    },
    "security": [{"apiKey": []}, {"bearer": []}],
    "paths": {
        "/api/chats": {
            "post": {
                "operationId": "createChat",
                "summary": "Create Chat",
                "description": "Create a new chat room. Optionally associate it with an artist "
                "and/or provide a client-generated chat ID. Pass accountId to create a chat on "
                "behalf of a specific account the API key has access to.",
                "requestBody": {**_body("CreateChatRequest", False)},
                "responses": {
                    "200": _ok("Chat created (or the same request retried)", "CreateChatResponse"),
                    **COMMON_ERRORS,
                    "409": _error(409, "chatId already used otherwise"),
                },
            },
            "get": {
                "operationId": "listChats",
                "summary": "List chats",
                "description": "Chats of an account, newest first by updatedAt.",
                "parameters": [
                    {
                        "name": "accountId",
                        "in": "query",
                        "schema": UUID,
                        "description": "Another account's chats (same access rule as creating)",
                    },
                    {
                        "name": "artistId",
                        "in": "query",
                        "schema": UUID,
                        "description": "Only chats created for this artist",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "nextCursor of the previous page",
                    },
                ],
                "responses": {
                    "200": _ok("A page of chats", "ListChatsResponse"),
                    **{k: v for k, v in COMMON_ERRORS.items() if k != "413"},
                },
            },
            "patch": {
                "operationId": "updateChat",
                "summary": "Rename a chat",
                "requestBody": _body("UpdateChatRequest", True),
                "responses": {
                    "200": _ok("The renamed chat", "CreateChatResponse"),
                    **COMMON_ERRORS,
                    "404": NOT_FOUND,
                },
            },
            "delete": {
                "operationId": "deleteChat",
                "summary": "Delete a chat",
                "requestBody": _body("DeleteChatRequest", True),
                "responses": {
                    "200": _ok("The chat was deleted", "DeleteChatResponse"),
                    **COMMON_ERRORS,
                    "404": NOT_FOUND,
                },
            },
        },
        "/api/chats/{chatId}/messages": {
            "get": _conversation(
                "listMessages",
                "A page of the chat's messages, oldest first (the newest page by default)",
                "Messages, the cursor of the older page, and the event log's position",
                "ListMessagesResponse",
                parameters=(
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_MESSAGES,
                            "default": DEFAULT_MESSAGES,
                        },
                    },
                    {
                        "name": "before",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "previousCursor of the page after this one",
                    },
                ),
                conflict=False,
            ),
            "post": _conversation(
                "sendMessage",
                "Send a user's message (moves the chat)",
                "The stored message (or the same request retried)",
                "MessageResponse",
                body="SendMessageRequest",
            ),
            "delete": _conversation(
                "deleteMessages",
                "Delete a message and every later one (edit, regenerate)",
                "The deleted messages' ids, in order",
                "DeleteMessagesResponse",
                parameters=({"name": "from", "in": "query", "required": True, "schema": UUID},),
                conflict=False,
            ),
        },
        "/api/chats/{chatId}/replies": {
            "post": _conversation(
                "startReply",
                "Start the assistant's reply (API keys only; one streaming reply per chat)",
                "The streaming reply, with no parts yet",
                "MessageResponse",
                body="StartReplyRequest",
            ),
        },
        "/api/chats/{chatId}/replies/{messageId}/chunks": {
            "post": _conversation(
                "appendReply",
                "Append chunk `index` to a streaming reply (API keys only)",
                "The chunk is stored (now, or before: a retry)",
                "ChunkResponse",
                body="AppendChunkRequest",
                parameters=(MESSAGE_PATH,),
            ),
        },
        "/api/chats/{chatId}/replies/{messageId}/finish": {
            "post": _conversation(
                "finishReply",
                "Mark a streaming reply complete (API keys only)",
                "The complete reply",
                "MessageResponse",
                parameters=(MESSAGE_PATH,),
            ),
        },
        "/api/chats/{chatId}/stop": {
            "post": _conversation(
                "stopReply",
                "Stop the chat's streaming reply",
                "The stopped reply",
                "MessageResponse",
            ),
        },
        "/api/chats/{chatId}/read": {
            "post": _conversation(
                "markChatRead",
                "Mark the chat read for the caller (hasUnread turns false)",
                "The chat",
                "ReadChatResponse",
                conflict=False,
            ),
        },
        "/api/chats/{chatId}/stream": {
            "get": {
                "operationId": "streamChat",
                "summary": "The chat's events as Server-Sent Events, resumable",
                "description": "Each event: `id: CURSOR`, `event: added|chunk|finished|stopped|"
                "deleted`, one `data:` line of JSON. With `after` (or `Last-Event-ID`, which "
                "wins) every event after that cursor first, then the live ones.",
                "parameters": [
                    CHAT_PATH,
                    {"name": "after", "in": "query", "schema": {"type": "string"}},
                    {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "The stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **{k: v for k, v in COMMON_ERRORS.items() if k not in ("400", "413")},
                    "404": NOT_FOUND,
                    "410": _error(410, "The cursor is not a live cursor of this chat: reload"),
                },
            },
        },
        "/api/accounts/me": {
            "get": {
                "operationId": "viewer",
                "summary": "The caller's account",
                "description": "Who the key or the signed-in user's access token acts as.",
                "responses": {
                    "200": _ok("The caller's account", "ViewerResponse"),
                    **{k: v for k, v in COMMON_ERRORS.items() if k not in ("400", "413")},
                },
            },
        },
    },
    "components": COMPONENTS,
}


def _priced(document: dict[str, Any]) -> dict[str, Any]:
    """Each operation's fixed cost (`rest.auth.COSTS`) as its `x-cost`, and the header that says
    it in every authenticated answer."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            cost = COSTS.get((method.upper(), path))
            if cost is None:
                continue
            operation["x-cost"] = cost
            operation["description"] = (
                f"{operation.get('description', '')} Costs {cost} units of COST_RATE_LIMIT "
                "(the `x-cost` header says so)."
            ).strip()
    return document


DOCUMENT = _priced(DOCUMENT)

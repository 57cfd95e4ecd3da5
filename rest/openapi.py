"""The OpenAPI 3.1 document of everything the service answers over REST: the seed's
`POST /api/chats` unchanged in meaning, plus the other methods, health checks and every status."""

from __future__ import annotations

from typing import Any

from resolvers.errors import FAMILIES, error_classes
from resolvers.validation import MAX_TITLE_LENGTH, TOPIC_ERROR
from rest.errors import status_for

UUID = {"type": "string", "format": "uuid"}
# What the service certainly accepts; it is more lenient at the edges, as it trims before checking.
# No control characters, no bidirectional controls (resolvers.validation.BIDI_CONTROLS).
_EXCLUDED = "\\u0000-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069"
_TEXT = f"[^{_EXCLUDED}]"
TOPIC = {"type": "string", "maxLength": MAX_TITLE_LENGTH, "pattern": f"^{_TEXT}*$"}
NOT_BLANK_TOPIC = f"^{_TEXT}*[^\\s{_EXCLUDED}]{_TEXT}*$"
NULLABLE_UUID = {"type": ["string", "null"], "format": "uuid"}


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
    "components": {
        "securitySchemes": {
            "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key, or a signed-in user's access token (a JWT from the "
                "configured OpenID Connect issuer)",
            },
        },
        "schemas": {
            "CreateChatRequest": {
                "type": "object",
                "properties": {
                    "artistId": {**UUID, "description": "Artist account to associate"},
                    "chatId": {
                        **UUID,
                        "description": "Client-generated id; a retry of the same "
                        "request answers with the same chat",
                    },
                    "accountId": {**UUID, "description": "Account to create the chat for"},
                    "topic": {
                        **TOPIC,
                        "description": "Topic, e.g. 'Pulse Feb 2'. The chat's title is the topic "
                        "trimmed, or 'New chat' when blank; at most 100 characters after "
                        "trimming, no control characters or bidirectional controls.",
                    },
                },
            },
            "UpdateChatRequest": {
                "type": "object",
                "required": ["chatId", "topic"],
                "properties": {
                    "chatId": UUID,
                    "topic": {
                        **TOPIC,
                        "pattern": NOT_BLANK_TOPIC,
                        "description": "The new title: not blank; otherwise as when creating.",
                    },
                },
            },
            "DeleteChatRequest": {
                "type": "object",
                "required": ["chatId"],
                "properties": {"chatId": UUID},
            },
            "ChatRoom": {
                "type": "object",
                "required": ["id", "title", "accountId", "sessionId", "updatedAt", "artistId"],
                "properties": {
                    "id": {**UUID, "description": "Chat id."},
                    "title": {"type": "string", "description": "Display title for the chat."},
                    "accountId": {**UUID, "description": "Owning account for this chat."},
                    "sessionId": {
                        **UUID,
                        "description": "Session that owns this chat: the chat "
                        "URL is /sessions/{sessionId}/chats/{id}.",
                    },
                    "updatedAt": {
                        "type": "string",
                        "format": "date-time",
                        "description": "ISO timestamp of the last update.",
                    },
                    "artistId": {
                        **NULLABLE_UUID,
                        "description": "Artist account this chat's "
                        "session was created for, or null.",
                    },
                },
            },
            "CreateChatResponse": {
                "type": "object",
                "required": ["status", "chat"],
                "properties": {
                    "status": {"type": "string", "enum": ["success"]},
                    "chat": {"$ref": "#/components/schemas/ChatRoom"},
                },
            },
            "ListChatsResponse": {
                "type": "object",
                "required": ["status", "chats", "nextCursor"],
                "properties": {
                    "status": {"type": "string", "enum": ["success"]},
                    "chats": {"type": "array", "items": {"$ref": "#/components/schemas/ChatRoom"}},
                    "nextCursor": {"type": ["string", "null"]},
                },
            },
            "DeleteChatResponse": {
                "type": "object",
                "required": ["status", "chatId"],
                "properties": {"status": {"type": "string", "enum": ["success"]}, "chatId": UUID},
            },
            "ViewerResponse": {
                "type": "object",
                "required": ["status", "account"],
                "properties": {
                    "status": {"type": "string", "enum": ["success"]},
                    "account": {
                        "type": "object",
                        "required": ["id", "name", "kind"],
                        "properties": {
                            "id": UUID,
                            "name": {"type": "string"},
                            "kind": {"type": "string", "enum": ["user", "artist", "organization"]},
                        },
                    },
                },
            },
            "ErrorResponse": {
                "type": "object",
                "required": ["status", "message"],
                "properties": {
                    "status": {"type": "string", "enum": ["error"]},
                    "message": {"type": "string"},
                },
            },
        },
    },
}

"""The OpenAPI document's shared parts: the value types (ids, topics, message parts) and the
`components` (security schemes and the request and response schemas), which `rest/openapi.py`'s
operations refer to."""

from __future__ import annotations

from typing import Any

from resolvers.conversation_input import MAX_CHUNKS, MAX_PARTS, MAX_TYPE_LENGTH
from resolvers.validation import MAX_TITLE_LENGTH

UUID = {"type": "string", "format": "uuid"}
# What the service certainly accepts; it is more lenient at the edges, as it trims before checking.
# No control characters, no bidirectional controls (resolvers.validation.BIDI_CONTROLS).
_EXCLUDED = "\\u0000-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069"
_TEXT = f"[^{_EXCLUDED}]"
TOPIC = {"type": "string", "maxLength": MAX_TITLE_LENGTH, "pattern": f"^{_TEXT}*$"}
NOT_BLANK_TOPIC = f"^{_TEXT}*[^\\s{_EXCLUDED}]{_TEXT}*$"
NULLABLE_UUID = {"type": ["string", "null"], "format": "uuid"}

PARTS = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_PARTS,
    "description": "AI SDK parts: objects with a string `type`; a `text` part has a string "
    "`text`. At most 32 KiB as compact JSON; no NUL anywhere.",
    "items": {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {"type": "string", "minLength": 1, "maxLength": MAX_TYPE_LENGTH},
            "text": {"type": "string"},
        },
    },
}


COMPONENTS: dict[str, Any] = {
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
                    "description": "Artist account this chat's session was created for, or null.",
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
            "required": ["status", "chats", "nextCursor", "cursor"],
            "properties": {
                "status": {"type": "string", "enum": ["success"]},
                "chats": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/ChatWithState"},
                },
                "nextCursor": {"type": ["string", "null"]},
                "cursor": {
                    "type": "string",
                    "description": "The chat events as of this read: subscribe to chatEvents"
                    " with `after` set to it (GraphQL: eventCursor).",
                },
            },
        },
        "ChatWithState": {
            "allOf": [
                {"$ref": "#/components/schemas/ChatRoom"},
                {
                    "type": "object",
                    "required": ["isStreaming", "hasUnread"],
                    "properties": {
                        "isStreaming": {"type": "boolean"},
                        "hasUnread": {"type": "boolean"},
                    },
                },
            ]
        },
        "ReadChatResponse": {
            "type": "object",
            "required": ["status", "chat"],
            "properties": {
                "status": {"type": "string", "enum": ["success"]},
                "chat": {"$ref": "#/components/schemas/ChatWithState"},
            },
        },
        "Message": {
            "type": "object",
            "required": ["id", "chatId", "role", "parts", "status", "createdAt", "updatedAt"],
            "properties": {
                "id": UUID,
                "chatId": UUID,
                "role": {"type": "string", "enum": ["user", "assistant", "system"]},
                "parts": {"type": "array", "items": {"type": "object"}},
                "status": {"type": "string", "enum": ["complete", "streaming", "stopped"]},
                "createdAt": {"type": "string", "format": "date-time"},
                "updatedAt": {"type": "string", "format": "date-time"},
            },
        },
        "SendMessageRequest": {
            "type": "object",
            "required": ["parts"],
            "properties": {
                "messageId": {**UUID, "description": "Client-chosen; a retry answers the same"},
                "parts": PARTS,
            },
        },
        "StartReplyRequest": {
            "type": "object",
            "properties": {
                "messageId": UUID,
                "role": {"type": "string", "enum": ["assistant", "system"]},
            },
        },
        "AppendChunkRequest": {
            "type": "object",
            "required": ["index", "parts"],
            "properties": {
                "index": {"type": "integer", "minimum": 0, "maximum": MAX_CHUNKS - 1},
                "parts": PARTS,
            },
        },
        "MessageResponse": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {
                "status": {"type": "string", "enum": ["success"]},
                "message": {"$ref": "#/components/schemas/Message"},
            },
        },
        "ListMessagesResponse": {
            "type": "object",
            "required": ["status", "messages", "previousCursor", "cursor"],
            "properties": {
                "status": {"type": "string", "enum": ["success"]},
                "messages": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Message"},
                },
                "previousCursor": {"type": ["string", "null"]},
                "cursor": {"type": "string"},
            },
        },
        "ChunkResponse": {
            "type": "object",
            "required": ["status", "messageId", "index"],
            "properties": {
                "status": {"type": "string", "enum": ["success"]},
                "messageId": UUID,
                "index": {"type": "integer"},
            },
        },
        "DeleteMessagesResponse": {
            "type": "object",
            "required": ["status", "chatId", "messageIds"],
            "properties": {
                "status": {"type": "string", "enum": ["success"]},
                "chatId": UUID,
                "messageIds": {"type": "array", "items": UUID},
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
}

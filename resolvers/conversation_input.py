"""Input rules of conversations, shared by both protocols: AI SDK parts, chunk indices, reply
roles, page sizes, and the cursors (of a page, of an event) that name their chat."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from uuid import UUID

import orjson

from resolvers.errors import InvalidInput
from resolvers.models import Message

MAX_PARTS = 100
MAX_TYPE_LENGTH = 64
MAX_MESSAGE_BYTES = 32 * 1024
MAX_REPLY_BYTES = 1024 * 1024
MAX_CHUNKS = 10_000
DEFAULT_MESSAGES = 50
MAX_MESSAGES = 100
PARTS_ERROR = f"parts must be a list of 1 to {MAX_PARTS} objects with a string type"
TOO_LARGE = "message too large"
INDEX_ERROR = "index must be a non-negative integer"
ROLE_ERROR = "role must be assistant or system"
DIRECTION_ERROR = "Page either forward (first, after) or backward (last, before)"
CURSOR_ERROR = "cursor is not valid"
REPLY_ROLES = ("assistant", "system")


# Input -----------------------------------------------------------------------------------------


def parse_parts(value: object) -> list[Any]:
    """AI SDK parts: 1 to 100 objects, each with a string `type` (1 to 64 characters), a `text`
    part with a string `text`; no NUL anywhere (PostgreSQL cannot store one); at most 32 KiB as
    compact JSON. Anything else in a part is kept as sent."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PARTS:
        raise InvalidInput(PARTS_ERROR)
    for part in value:
        if not isinstance(part, dict):
            raise InvalidInput(PARTS_ERROR)
        kind = part.get("type")
        if not isinstance(kind, str) or not 1 <= len(kind) <= MAX_TYPE_LENGTH:
            raise InvalidInput(PARTS_ERROR)
        if kind == "text" and not isinstance(part.get("text"), str):
            raise InvalidInput(PARTS_ERROR)
    try:
        compact = orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        # An integer past 64 bits, which neither engine's JSON readers give back as sent.
        raise InvalidInput(PARTS_ERROR) from None
    if b"\\u0000" in compact:
        raise InvalidInput(PARTS_ERROR)
    if len(compact) > MAX_MESSAGE_BYTES:
        raise InvalidInput(TOO_LARGE)
    return value


def parse_index(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(INDEX_ERROR)
    if value >= MAX_CHUNKS:
        raise InvalidInput(TOO_LARGE)  # a reply holds at most MAX_CHUNKS chunks
    return value


def parse_reply_role(value: object) -> str:
    """`assistant` (the default) or `system`, in either protocol's spelling."""
    if value is None:
        return "assistant"
    if isinstance(value, str) and value.lower() in REPLY_ROLES:
        return value.lower()
    raise InvalidInput(ROLE_ERROR)


def merge_parts(parts: list[Any], chunk: list[Any], chunks: int) -> list[Any]:
    """A reply's parts with a chunk added: a text part that follows a text part is joined to it,
    as AI SDK text deltas accumulate. `chunks` is the reply's count with this one."""
    if chunks > MAX_CHUNKS:
        raise InvalidInput(TOO_LARGE)
    merged = list(parts)
    rest = chunk
    if merged and chunk and merged[-1].get("type") == "text" and chunk[0].get("type") == "text":
        merged[-1] = {**merged[-1], "text": merged[-1]["text"] + chunk[0]["text"]}
        rest = chunk[1:]
    merged.extend(rest)
    if len(orjson.dumps(merged)) > MAX_REPLY_BYTES:
        raise InvalidInput(TOO_LARGE)
    return merged


# Cursors: opaque to clients; a page cursor ("p") and an event cursor ("e") name their chat, so
# that one chat's cursor is refused by another.


def _encode(kind: str, chat_id: UUID, seq: int) -> str:
    raw = f"{kind}:{chat_id}:{seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_position(cursor: object, kind: str, chat_id: UUID) -> int | None:
    """The cursor's sequence number, or None when it is not a cursor of `kind` for the chat."""
    if not isinstance(cursor, str) or len(cursor) > 200:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        found, chat, seq = base64.urlsafe_b64decode(padded).decode().split(":")
        if found != kind or UUID(chat) != chat_id or not seq.isdigit():
            return None
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def page_cursor(message: Message) -> str:
    return _encode("p", message.chat_id, message.seq)


def event_cursor(chat_id: UUID, seq: int) -> str:
    return _encode("e", chat_id, seq)


def page_position(cursor: object, chat_id: UUID) -> int | None:
    if cursor is None:
        return None
    seq = cursor_position(cursor, "p", chat_id)
    if seq is None:
        raise InvalidInput(CURSOR_ERROR)
    return seq


def page_size(value: object, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 3:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MESSAGES:
        raise InvalidInput(f"{field} must be an integer between 1 and {MAX_MESSAGES}")
    return value

"""Conversations: the messages of a chat, the assistant's replies written while they are
generated, read marks, and the chat's events as a stream that resumes from a cursor.

Who may do what: whoever may see a chat reads it, sends USER messages, stops its reply, deletes
its trailing messages and marks it read; only an API key starts, appends to and finishes a reply
(a signed-in user's token cannot put words in the assistant's mouth).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import orjson

from db import conversations
from db.errors import DatabaseUnavailable, DuplicateKey, Refused
from db.events import decode_hint
from resolvers.access import can_act_for
from resolvers.chats import visible_chat
from resolvers.clock import new_id, now
from resolvers.errors import (
    AssistantWriteDenied,
    ChatNotFound,
    ChunkConflict,
    ChunkOutOfOrder,
    CursorExpired,
    InvalidInput,
    MessageAlreadyExists,
    MessageNotFound,
    NoReplyStreaming,
    ReplyAlreadyStreaming,
    ReplyNotStreaming,
    ServiceError,
    ServiceUnavailable,
)
from resolvers.models import Caller, ChatRoom, Event, Message
from resolvers.usecase import use_case

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
# Log entries read at a time by a stream catching up.
LOG_BATCH = 200
# A stream reads the log at least this often, whatever its hints: a hint lost on the way (Redis
# dropped it, NOTIFY's connection broke) costs a subscriber at most this long.
LOG_POLL_SECONDS = 3.0
_ATTEMPTS = 3


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


def _page_position(cursor: object, chat_id: UUID) -> int | None:
    if cursor is None:
        return None
    seq = cursor_position(cursor, "p", chat_id)
    if seq is None:
        raise InvalidInput(CURSOR_ERROR)
    return seq


# Writes ----------------------------------------------------------------------------------------


def _require_key(caller: Caller) -> None:
    if caller.key_id is None:
        raise AssistantWriteDenied()


def _same_parts(a: list[Any], b: list[Any]) -> bool:
    # As JSON: Python's 1 == 1.0 == True must not make a different message a retry.
    return orjson.dumps(a) == orjson.dumps(b)


async def _add(
    chat_id: UUID, message_id: UUID | None, role: str, parts: list[Any], status: str
) -> Message:
    """A new message; a `messageId` already used is a retry (the same chat and role, and for a
    user's message the same parts: the stored message) or a conflict."""

    def retry_of(existing: Message) -> Message:
        same = existing.chat_id == chat_id and existing.role == role
        if same and (status == "streaming" or _same_parts(existing.parts, parts)):
            return existing
        raise MessageAlreadyExists()

    for _ in range(_ATTEMPTS):
        if message_id is not None:
            existing = await conversations.get_message(message_id)
            if existing is not None:
                return retry_of(existing)
        try:
            return await conversations.add_message(
                chat_id=chat_id,
                message_id=message_id or new_id(),
                role=role,
                parts=parts,
                status=status,
                now=now(),
            )
        except DuplicateKey:
            continue  # a concurrent write of the same id: answered as a retry of it
        except Refused as refusal:
            raise ChatNotFound() if refusal.reason == "chat" else ReplyAlreadyStreaming() from None
    raise MessageAlreadyExists()


@use_case()
async def send_message(
    caller: Caller, chat_id: UUID, message_id: UUID | None, parts: list[Any]
) -> Message:
    """A USER message at the end of the chat; it moves the chat. Allowed while a reply streams."""
    try:
        # The common case in one trip: a user writing in their own chat with a new id.
        own = await conversations.add_own_message(
            account_id=caller.account_id,
            chat_id=chat_id,
            message_id=message_id or new_id(),
            parts=parts,
            now=now(),
        )
    except DuplicateKey:
        own = None  # a messageId used before: a retry or a conflict, decided below
    if own is not None:
        return own
    await visible_chat(caller, chat_id)
    return await _add(chat_id, message_id, "user", parts, "complete")


@use_case()
async def start_reply(caller: Caller, chat_id: UUID, message_id: UUID | None, role: str) -> Message:
    """A STREAMING reply with no parts yet: at most one per chat."""
    _require_key(caller)
    await visible_chat(caller, chat_id)
    return await _add(chat_id, message_id, role, [], "streaming")


async def _reply(caller: Caller, message_id: UUID, chat_id: UUID | None) -> Message:
    """A message of a chat the caller may see (and of `chat_id`, when the path names one: a
    chat the caller may not see is then ChatNotFound, as on every chat route). One query when the
    chat is the caller's own."""
    found = await conversations.message_and_owner(message_id)
    if found is None or (chat_id is not None and found[0].chat_id != chat_id):
        if chat_id is not None:
            await visible_chat(caller, chat_id)
        raise MessageNotFound()
    message, owner = found
    if not await can_act_for(caller, owner):
        raise ChatNotFound() if chat_id is not None else MessageNotFound()
    return message


_REFUSALS: dict[str, type[ServiceError]] = {
    "chat": MessageNotFound,
    "message": MessageNotFound,
    "conflict": ChunkConflict,
    "order": ChunkOutOfOrder,
    "not_streaming": ReplyNotStreaming,
    "none_streaming": NoReplyStreaming,
}


@use_case()
async def append_reply(
    caller: Caller, message_id: UUID, index: int, parts: list[Any], chat_id: UUID | None = None
) -> Message:
    """Chunk `index` of a streaming reply: the next one is appended; one already stored with the
    same parts is a retry (nothing written, whatever the reply's status now)."""
    _require_key(caller)
    reply = await _reply(caller, message_id, chat_id)
    if reply.status == "streaming" and index == reply.chunks:
        # The common case in one trip: the next chunk of a reply still streaming.
        merged = merge_parts(reply.parts, parts, index + 1)
        appended = await conversations.append_next_chunk(
            reply=reply, index=index, parts=parts, merged=merged, now=now()
        )
        if appended is not None:
            return appended
    try:
        message = await conversations.append_chunk(
            chat_id=reply.chat_id,
            message_id=message_id,
            index=index,
            parts=parts,
            merge=merge_parts,
            now=now(),
        )
    except Refused as refusal:
        if refusal.reason == "retry":
            return await _existing(message_id)
        raise _REFUSALS[refusal.reason]() from None
    return message


async def _existing(message_id: UUID) -> Message:
    message = await conversations.get_message(message_id)
    if message is None:
        raise MessageNotFound()
    return message


@use_case()
async def finish_reply(caller: Caller, message_id: UUID, chat_id: UUID | None = None) -> Message:
    """The reply COMPLETE; finishing a complete one again is harmless."""
    _require_key(caller)
    reply = await _reply(caller, message_id, chat_id)
    try:
        return await conversations.finish_reply(
            chat_id=reply.chat_id, message_id=message_id, now=now()
        )
    except Refused as refusal:
        if refusal.reason == "complete":
            return await _existing(message_id)
        raise _REFUSALS[refusal.reason]() from None


@use_case()
async def stop_reply(caller: Caller, chat_id: UUID) -> Message:
    """The chat's streaming reply STOPPED, by the user."""
    await visible_chat(caller, chat_id)
    try:
        return await conversations.stop_reply(chat_id=chat_id, now=now())
    except Refused as refusal:
        raise (ChatNotFound if refusal.reason == "chat" else NoReplyStreaming)() from None


@use_case()
async def delete_messages(caller: Caller, chat_id: UUID, from_message_id: UUID) -> list[UUID]:
    """Deletes the message and every later one (edit and regenerate); their ids, in order."""
    await visible_chat(caller, chat_id)
    try:
        return await conversations.delete_messages(
            chat_id=chat_id, from_message_id=from_message_id, now=now()
        )
    except Refused as refusal:
        raise (ChatNotFound if refusal.reason == "chat" else MessageNotFound)() from None


@use_case()
async def mark_read(caller: Caller, chat_id: UUID) -> ChatRoom:
    chat = await visible_chat(caller, chat_id)
    await conversations.mark_read(
        read_id=new_id(), chat_id=chat_id, account_id=caller.account_id, now=now()
    )
    return chat


@use_case()
async def stop_idle_replies(idle_seconds: float) -> int:
    """Stops every reply whose last write is older than `idle_seconds`, exactly as the user's
    stop would; returns how many. Every worker may run it: a reply is stopped once."""
    idle_since = now() - timedelta(seconds=idle_seconds)
    stopped = 0
    for chat_id in await conversations.idle_replies(idle_since):
        try:
            await conversations.stop_reply(chat_id=chat_id, now=now(), idle_since=idle_since)
            stopped += 1
        except Refused:
            continue  # written to, stopped or gone meanwhile
    return stopped


# Reads -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: list[Message]
    has_next_page: bool
    has_previous_page: bool
    # The chat's event log as of the read: a stream from it misses nothing the page does not show.
    event_cursor: str


def _page_size(value: object, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 3:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MESSAGES:
        raise InvalidInput(f"{field} must be an integer between 1 and {MAX_MESSAGES}")
    return value


@use_case()
async def list_messages(
    caller: Caller,
    chat_id: UUID,
    *,
    first: object = None,
    after: object = None,
    last: object = None,
    before: object = None,
    last_field: str = "last",
) -> MessagePage:
    """Oldest first; `first/after` pages forward, `last/before` backward; the newest 50 when
    neither size is given."""
    first_size, last_size = _page_size(first, "first"), _page_size(last, last_field)
    if (first_size is not None and last_size is not None) or (
        after is not None and before is not None
    ):
        raise InvalidInput(DIRECTION_ERROR)
    await visible_chat(caller, chat_id)
    after_seq, before_seq = _page_position(after, chat_id), _page_position(before, chat_id)
    forward = first_size is not None
    size = first_size or last_size or DEFAULT_MESSAGES
    page = await conversations.page_messages(
        chat_id, limit=size + 1, after=after_seq, before=before_seq, newest=not forward
    )
    if page is None:
        raise ChatNotFound()
    messages, position = page
    more = len(messages) > size
    if more:
        messages = messages[:size] if forward else messages[1:]
    return MessagePage(
        messages=messages,
        has_next_page=more if forward else before_seq is not None,
        has_previous_page=after_seq is not None if forward else more,
        event_cursor=event_cursor(chat_id, position),
    )


@use_case()
async def chat_states(caller: Caller, chat_ids: Sequence[UUID]) -> dict[UUID, tuple[bool, bool]]:
    """For each chat: (isStreaming, hasUnread for the caller)."""
    return await conversations.chat_states(list(chat_ids), caller.account_id)


@use_case()
async def open_stream(caller: Caller, chat_id: UUID, after: object) -> int:
    """Where a stream of the chat's events starts: after the cursor `after`, or at the log's end
    (what is committed from now on). A cursor that is not a live cursor of this chat:
    CursorExpired."""
    await visible_chat(caller, chat_id)
    read = await conversations.read_log(chat_id, after=2**31 - 1, limit=1)
    if read is None:
        raise ChatNotFound()
    position = read[1]
    if after is None:
        return position
    seq = cursor_position(after, "e", chat_id)
    if seq is None or seq > position:
        raise CursorExpired()
    return seq


async def follow(chat_id: UUID, start: int) -> AsyncIterator[Event]:
    """Every event of the chat after `start`, each once and in order, then the live ones. Hints
    (Pub/Sub, NOTIFY, the process's own writes) carry the next event when they can; a gap, a lost
    hint or silence is filled from the log. Ends with ChatNotFound when the chat is deleted, and
    ServiceUnavailable when the database cannot be read."""
    last = start
    try:
        async with conversations.watch(chat_id) as watcher:
            while True:
                read = await conversations.read_log(chat_id, after=last, limit=LOG_BATCH)
                if read is None:
                    raise ChatNotFound()
                for entry in read[0]:
                    yield entry
                    last = entry.seq
                if len(read[0]) == LOG_BATCH:
                    continue
                while True:
                    if watcher.deaf:
                        await watcher.relisten()
                    try:
                        hint = await asyncio.wait_for(watcher.queue.get(), LOG_POLL_SECONDS)
                    except TimeoutError:
                        break
                    if watcher.behind or not hint:
                        watcher.behind = False
                        await watcher.relisten()
                        break
                    seq, hinted = decode_hint(hint)
                    if seq <= last:
                        continue
                    if seq != last + 1 or hinted is None:
                        break
                    yield hinted
                    last = seq
    except DatabaseUnavailable as exc:
        raise ServiceUnavailable() from exc

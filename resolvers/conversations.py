"""Conversations: the messages of a chat, the assistant's replies written while they are
generated, read marks, and the chat's events as a stream that resumes from a cursor.

Who may do what: whoever may see a chat reads it, sends USER messages, stops its reply, deletes
its trailing messages and marks it read; only an API key starts, appends to and finishes a reply
(a signed-in user's token cannot put words in the assistant's mouth).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import orjson

from db import conversation_reads, conversations
from db.errors import DatabaseUnavailable, DuplicateKey, Refused
from resolvers.access import can_act_for
from resolvers.chats import visible_chat
from resolvers.clock import new_id, now
from resolvers.conversation_input import (
    DEFAULT_MESSAGES,
    DIRECTION_ERROR,
    cursor_position,
    event_cursor,
    merge_parts,
    page_position,
    page_size,
)
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
from resolvers.models import Caller, ChatRow, Event, Message
from resolvers.usecase import use_case

# Log entries read at a time by a stream catching up.
LOG_BATCH = 200
# A stream reads the log at least this often, whatever its hints: a hint lost on the way (Redis
# dropped it, NOTIFY's connection broke) costs a subscriber at most this long.
LOG_POLL_SECONDS = 3.0
_ATTEMPTS = 3

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
            existing = await conversation_reads.get_message(message_id)
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
    found = await conversation_reads.message_and_owner(message_id)
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
        if refusal.reason != "stored":
            raise _REFUSALS[refusal.reason]() from None
        # A chunk already stored: the same parts again is a retry, whatever the reply's status.
        stored = await conversation_reads.stored_chunk(message_id, index)
        if stored is None or not _same_parts(stored, parts):
            raise ChunkConflict() from None
        return await _existing(message_id)
    return message


async def _existing(message_id: UUID) -> Message:
    message = await conversation_reads.get_message(message_id)
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
async def mark_read(caller: Caller, chat_id: UUID) -> ChatRow:
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
    for chat_id in await conversation_reads.idle_replies(idle_since):
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
    first_size, last_size = page_size(first, "first"), page_size(last, last_field)
    if (first_size is not None and last_size is not None) or (
        after is not None and before is not None
    ):
        raise InvalidInput(DIRECTION_ERROR)
    await visible_chat(caller, chat_id)
    after_seq, before_seq = page_position(after, chat_id), page_position(before, chat_id)
    forward = first_size is not None
    size = first_size or last_size or DEFAULT_MESSAGES
    page = await conversation_reads.page_messages(
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
    return await conversation_reads.chat_states(list(chat_ids), caller.account_id)


@use_case()
async def open_stream(caller: Caller, chat_id: UUID, after: object) -> int:
    """Where a stream of the chat's events starts: after the cursor `after`, or at the log's end
    (what is committed from now on). A cursor that is not a live cursor of this chat:
    CursorExpired."""
    await visible_chat(caller, chat_id)
    position = await conversation_reads.log_position(chat_id)
    if position is None:
        raise ChatNotFound()
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
        async with conversation_reads.watch(chat_id) as watcher:
            while True:
                read = await conversation_reads.read_log(chat_id, after=last, limit=LOG_BATCH)
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
                    if watcher.behind or hint is None:
                        watcher.behind = False
                        await watcher.relisten()
                        break
                    seq, hinted = hint
                    if seq <= last:
                        continue
                    if seq != last + 1 or hinted is None:
                        break
                    yield hinted
                    last = seq
    except DatabaseUnavailable as exc:
        raise ServiceUnavailable() from exc

"""The queries of conversations: messages, a reply's chunks, the chat's event log, read marks.

Every write takes the chat's next log sequence numbers first (`UPDATE chats SET last_seq = ...`):
that row lock orders a chat's writes and their events, and only a chat's own writers wait on it.
What a write checks, it checks after taking the lock, so two agents or two users racing on one
chat see each other's work. A write whose precondition fails raises `Refused` inside its
transaction: nothing is written, not even the sequence number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from db import events as events_module
from db.conversation_reads import (
    MESSAGE_COLUMNS,
    chat_row,
    dumps,
    message_row,
    select_message,
)
from db.engine import current_engine, query
from db.errors import Refused, retry_transient
from db.queries import Outbox, send_after_commit, writing
from db.rows import ChunkRow, LogEntry, MessageRow, NextChunk, OwnMessage
from db.tables import Chat, ChatLogEntry, ChatRead, Message

# A merge of a reply's parts with a chunk's: the resolvers' rule, applied under the lock.
Merge = Callable[[list[Any], list[Any], int], list[Any]]

# Every write's first statement: the chat's next sequence number, its row locked until the commit
# (and, when the write moves the chat, its updatedAt), and the chat as its event needs it.
_CHAT_RETURNING = (
    " WHERE id = {} RETURNING last_seq, id, title, account_id, session_id, updated_at,"
    " created_at, (SELECT artist_id FROM sessions WHERE sessions.id = chats.session_id)"
    " AS artist_id"
)
_TAKE = "UPDATE chats SET last_seq = last_seq + 1" + _CHAT_RETURNING
_TAKE_AND_MOVE = "UPDATE chats SET last_seq = last_seq + 1, updated_at = {}" + _CHAT_RETURNING
_INSERT_MESSAGE = (
    "INSERT INTO messages (id, chat_id, seq, role, parts, status, chunks, created_at, updated_at)"
    " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})"
)
_INSERT_LOG = (
    "INSERT INTO chat_log (id, chat_id, seq, type, message_id, chunk_index, payload, created_at)"
    " VALUES ({}, {}, {}, {}, {}, {}, {}, {})"
)


async def _take_seq(outbox: Outbox, chat_id: UUID, moved_at: datetime | None = None) -> int:
    """Locks the chat's row and takes its next sequence number. With `moved_at`, the chat's
    updatedAt moves and its chatEvents UPDATED goes out. Refused ("chat") when the chat is gone."""
    if moved_at is None:
        rows = await Chat.raw(_TAKE, chat_id)
    else:
        rows = await Chat.raw(_TAKE_AND_MOVE, moved_at, chat_id)
    if not rows:
        raise Refused("chat")
    if moved_at is not None:
        await outbox.log("UPDATED", chat_row(rows[0]), moved_at)
    return int(rows[0]["last_seq"])


async def _log(outbox: Outbox, entry: LogEntry, now: datetime) -> None:
    chunk = entry.chunk
    payload = dumps(entry.payload())
    await ChatLogEntry.raw(
        _INSERT_LOG,
        _log_id(entry),
        entry.chat_id,
        entry.seq,
        entry.type,
        chunk.message_id if chunk else None,
        chunk.index if chunk else None,
        payload,
        now,
    )
    outbox.hints.append(events_module.encode_hint(entry, payload))


def _log_id(entry: LogEntry) -> UUID:
    # Made from the entry's place: one id per (chat, seq), whoever writes it.
    return uuid5(entry.chat_id, str(entry.seq))


async def _store_message(message: MessageRow, now: datetime) -> None:
    await Message.raw(
        _INSERT_MESSAGE,
        message.id,
        message.chat_id,
        message.seq,
        message.role,
        dumps(message.parts),
        message.status,
        message.chunks,
        now,
        now,
    )


# Writes ----------------------------------------------------------------------------------------


@retry_transient
@query
async def add_message(
    *, chat_id: UUID, message_id: UUID, role: str, parts: list[Any], status: str, now: datetime
) -> MessageRow:
    """A new message at the end of the chat: a user's (COMPLETE, which moves the chat) or a reply
    (STREAMING, at most one per chat: Refused "streaming"). Raises DuplicateKey when the id is
    taken; Refused "chat" when the chat is gone."""
    async with writing() as outbox:
        streaming = status == "streaming"
        seq = await _take_seq(outbox, chat_id, moved_at=None if streaming else now)
        if streaming and await Message.exists().where(
            (Message.chat == chat_id) & (Message.status == "streaming")
        ):
            raise Refused("streaming")
        message = MessageRow(message_id, chat_id, role, parts, status, now, now, seq)
        await _store_message(message, now)
        await _log(outbox, LogEntry(chat_id, seq, "ADDED", message=message), now)
    return message


@retry_transient
@query
async def add_own_message(
    *, account_id: UUID, chat_id: UUID, message_id: UUID, parts: list[Any], now: datetime
) -> MessageRow | None:
    """A user's message in a chat of `account_id`'s own, in one trip to the database (the common
    case: a user writes in their own chat); None, nothing written, when the chat is not the
    account's (another's, or gone). Raises DuplicateKey when the id is taken."""
    draft = MessageRow(message_id, chat_id, "user", parts, "complete", now, now, seq=0)
    # Logged before its sequence number is known: a null, which readers take from the entry.
    payload = dumps({"message": {**draft.to_json(), "seq": None}})
    row = await current_engine().add_own_message(
        OwnMessage(
            chat_id=chat_id,
            account_id=account_id,
            message_id=message_id,
            parts=dumps(parts),
            log_id=uuid5(chat_id, str(message_id)),
            payload=payload,
            now=now,
        )
    )
    if row is None:
        return None
    message = replace(draft, seq=int(row["last_seq"]))
    entry = LogEntry(chat_id, message.seq, "ADDED", message=message)
    await send_after_commit([events_module.encode_hint(entry, payload)], chat_events=True)
    return message


@retry_transient
@query
async def append_next_chunk(
    *, reply: MessageRow, index: int, parts: list[Any], merged: list[Any], now: datetime
) -> MessageRow | None:
    """Chunk `index` of `reply` as it was read, in one trip to the database (the common case: the
    agent sends the next chunk of a reply still streaming); None, nothing written, when the reply
    changed meanwhile (stopped, finished, or another chunk stored): `append_chunk` then decides."""
    chunk = ChunkRow(reply.id, index, parts)
    # A chunk's payload holds no sequence number: the same text before and after the write.
    payload = dumps(LogEntry(reply.chat_id, 0, "CHUNK", chunk=chunk).payload())
    seq = await current_engine().append_next_chunk(
        NextChunk(
            chat_id=reply.chat_id,
            message_id=reply.id,
            index=index,
            parts=dumps(merged),
            log_id=uuid5(reply.id, str(index)),
            payload=payload,
            now=now,
        )
    )
    if seq is None:
        return None
    entry = LogEntry(reply.chat_id, seq, "CHUNK", chunk=chunk)
    await send_after_commit([events_module.encode_hint(entry, payload)])
    return replace(reply, parts=merged, chunks=index + 1, updated_at=now)


@retry_transient
@query
async def append_chunk(
    *,
    chat_id: UUID,
    message_id: UUID,
    index: int,
    parts: list[Any],
    merge: Merge,
    now: datetime,
) -> MessageRow:
    """The reply of `chat_id` after chunk `index`. Refused: "message" (gone), "stored" (the index
    is stored already: `stored_chunk` tells a retry from a conflict), "not_streaming", "order" (an
    index past the next)."""
    async with writing() as outbox:
        seq = await _take_seq(outbox, chat_id)
        message = await select_message(message_id)  # as it is now, under the chat's lock
        if message is None or message.chat_id != chat_id:
            raise Refused("message")
        if index < message.chunks:
            raise Refused("stored")
        if message.status != "streaming":
            raise Refused("not_streaming")
        if index > message.chunks:
            raise Refused("order")
        merged = merge(message.parts, parts, message.chunks + 1)
        await Message.raw(
            "UPDATE messages SET parts = {}, chunks = {}, updated_at = {} WHERE id = {}",
            dumps(merged),
            message.chunks + 1,
            now,
            message_id,
        )
        chunk = ChunkRow(message_id, index, parts)
        await _log(outbox, LogEntry(chat_id, seq, "CHUNK", chunk=chunk), now)
    return replace(message, parts=merged, chunks=message.chunks + 1, updated_at=now)


async def _end_reply(
    outbox: Outbox, message: MessageRow, status: str, seq: int, now: datetime
) -> MessageRow:
    await Message.update({Message.status: status, Message.updated_at: now}).where(
        Message.id == message.id
    )
    ended = replace(message, status=status, updated_at=now)
    event = "FINISHED" if status == "complete" else "STOPPED"
    await _log(outbox, LogEntry(message.chat_id, seq, event, message=ended), now)
    return ended


@retry_transient
@query
async def finish_reply(*, chat_id: UUID, message_id: UUID, now: datetime) -> MessageRow:
    """The reply made COMPLETE (it moves the chat). Refused: "message" (gone), "complete" (it
    was already: the caller answers with it), "not_streaming" (stopped)."""
    async with writing() as outbox:
        seq = await _take_seq(outbox, chat_id, moved_at=now)
        message = await select_message(message_id)
        if message is None or message.chat_id != chat_id:
            raise Refused("message")
        if message.status != "streaming":
            raise Refused("complete" if message.status == "complete" else "not_streaming")
        ended = await _end_reply(outbox, message, "complete", seq, now)
    return ended


@retry_transient
@query
async def stop_reply(
    *, chat_id: UUID, now: datetime, idle_since: datetime | None = None
) -> MessageRow:
    """The chat's streaming reply made STOPPED (with `idle_since`: only if its last write is older,
    as the reply timeout stops it). Refused: "chat" (gone), "none_streaming"."""
    async with writing() as outbox:
        seq = await _take_seq(outbox, chat_id, moved_at=now)
        where: Any = (Message.chat == chat_id) & (Message.status == "streaming")
        if idle_since is not None:
            where &= Message.updated_at < idle_since
        row = await Message.select(*MESSAGE_COLUMNS).where(where).first()
        if row is None:
            raise Refused("none_streaming")
        ended = await _end_reply(outbox, message_row(row), "stopped", seq, now)
    return ended


@retry_transient
@query
async def delete_messages(*, chat_id: UUID, from_message_id: UUID, now: datetime) -> list[UUID]:
    """Deletes the message and every later one of the chat (a streaming reply among them stopped
    first, with its event); returns their ids in order. Refused: "chat", "message" (not a message
    of this chat)."""
    async with writing() as outbox:
        seq = await _take_seq(outbox, chat_id, moved_at=now)
        start = (
            await Message.select(Message.seq)
            .where((Message.id == from_message_id) & (Message.chat == chat_id))
            .first()
        )
        if start is None:
            raise Refused("message")
        rows = (
            await Message.select(*MESSAGE_COLUMNS)
            .where((Message.chat == chat_id) & (Message.seq >= start["seq"]))
            .order_by(Message.seq)
        )
        doomed = [message_row(row) for row in rows]
        for message in doomed:
            if message.status == "streaming":
                await _end_reply(outbox, message, "stopped", seq, now)
                seq = await _take_seq(outbox, chat_id)
        ids = [message.id for message in doomed]
        await Message.delete().where(Message.id.is_in(ids))
        await _log(outbox, LogEntry(chat_id, seq, "DELETED", message_ids=tuple(ids)), now)
    return ids


@query
async def mark_read(*, read_id: UUID, chat_id: UUID, account_id: UUID, now: datetime) -> None:
    await ChatRead.raw(
        "INSERT INTO chat_reads (id, chat_id, account_id, read_at) VALUES ({}, {}, {}, {})"
        " ON CONFLICT (chat_id, account_id) DO UPDATE SET read_at = excluded.read_at",
        read_id,
        chat_id,
        account_id,
        now,
    )

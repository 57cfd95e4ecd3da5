"""The queries of conversations: messages, a reply's chunks, the chat's event log, read marks.

Every write takes the chat's next log sequence numbers first (`UPDATE chats SET last_seq = ...`):
that row lock orders a chat's writes and their events, and only a chat's own writers wait on it.
What a write checks, it checks after taking the lock, so two agents or two users racing on one
chat see each other's work. A write whose precondition fails raises `Refused` inside its
transaction: nothing is written, not even the sequence number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

import orjson

from db import events as events_module
from db.engine import background_query, current_engine, query
from db.errors import Refused, retry_transient
from db.events import Watcher
from db.queries import Outbox, send_after_commit, writing
from db.rows import ChatRow, ChunkRow, LogEntry, MessageRow, NextChunk, OwnMessage
from db.tables import Chat, ChatLogEntry, ChatRead, Message

# A merge of a reply's parts with a chunk's: the resolvers' rule, applied under the lock.
Merge = Callable[[list[Any], list[Any], int], list[Any]]

_MESSAGE_COLUMNS = (
    Message.id,
    Message.chat,
    Message.role,
    Message.parts,
    Message.status,
    Message.created_at,
    Message.updated_at,
    Message.seq,
    Message.chunks,
)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _message(row: dict[str, Any]) -> MessageRow:
    return MessageRow(
        id=_uuid(row["id"]),
        chat_id=_uuid(row["chat_id"]),
        role=row["role"],
        parts=orjson.loads(row["parts"]),
        status=row["status"],
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
        seq=int(row["seq"]),
        chunks=int(row["chunks"]),
    )


_SELECT_MESSAGE = (
    "SELECT id, chat_id, role, parts, status, created_at, updated_at, seq, chunks"
    " FROM messages WHERE id = {}"
)
# Every write's first statement: the chat's next sequence numbers, its row locked until the commit
# (and, when the write moves the chat, its updatedAt), and the chat as its event needs it.
_CHAT_RETURNING = (
    " WHERE id = {} RETURNING last_seq, id, title, account_id, session_id, updated_at,"
    " created_at, (SELECT artist_id FROM sessions WHERE sessions.id = chats.session_id)"
    " AS artist_id"
)
_TAKE = "UPDATE chats SET last_seq = last_seq + {}" + _CHAT_RETURNING
_TAKE_AND_MOVE = "UPDATE chats SET last_seq = last_seq + {}, updated_at = {}" + _CHAT_RETURNING
_INSERT_MESSAGE = (
    "INSERT INTO messages (id, chat_id, seq, role, parts, status, chunks, created_at, updated_at)"
    " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})"
)
_INSERT_LOG = (
    "INSERT INTO chat_log (id, chat_id, seq, type, message_id, chunk_index, payload, created_at)"
    " VALUES ({}, {}, {}, {}, {}, {}, {}, {})"
)


async def _select_message(message_id: UUID) -> MessageRow | None:
    rows = await Message.raw(_SELECT_MESSAGE, message_id)
    return _message(rows[0]) if rows else None


async def _take_seq(
    outbox: Outbox, chat_id: UUID, count: int = 1, moved_at: datetime | None = None
) -> int:
    """Locks the chat's row and takes `count` sequence numbers; returns the first. With
    `moved_at`, the chat's updatedAt moves and its chatEvents UPDATED goes out. Refused ("chat")
    when the chat is gone."""
    if moved_at is None:
        rows = await Chat.raw(_TAKE, count, chat_id)
    else:
        rows = await Chat.raw(_TAKE_AND_MOVE, count, moved_at, chat_id)
    if not rows:
        raise Refused("chat")
    row = rows[0]
    if moved_at is not None:
        artist = row["artist_id"]
        chat = ChatRow(
            id=_uuid(row["id"]),
            title=row["title"],
            account_id=_uuid(row["account_id"]),
            session_id=_uuid(row["session_id"]),
            updated_at=_time(row["updated_at"]),
            artist_id=None if artist is None else _uuid(artist),
            created_at=_time(row["created_at"]),
        )
        outbox.events.append(events_module.encode("UPDATED", chat))
    return int(row["last_seq"]) - count + 1


async def _log(outbox: Outbox, entry: LogEntry, now: datetime) -> None:
    chunk = entry.chunk
    await ChatLogEntry.raw(
        _INSERT_LOG,
        _log_id(entry),
        entry.chat_id,
        entry.seq,
        entry.type,
        chunk.message_id if chunk else None,
        chunk.index if chunk else None,
        dumps(entry.payload()),
        now,
    )
    outbox.hints.append(events_module.encode_hint(entry))


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
    row = await current_engine().add_own_message(
        OwnMessage(
            chat_id=chat_id,
            account_id=account_id,
            message_id=message_id,
            parts=dumps(parts),
            log_id=uuid5(chat_id, str(message_id)),
            payload=dumps({"message": {**draft.to_json(), "seq": None}}),
            now=now,
        )
    )
    if row is None:
        return None
    message = _replace(draft, seq=int(row["last_seq"]))
    artist = row["artist_id"]
    chat = ChatRow(
        id=chat_id,
        title=row["title"],
        account_id=account_id,
        session_id=_uuid(row["session_id"]),
        updated_at=_time(row["updated_at"]),
        artist_id=None if artist is None else _uuid(artist),
        created_at=_time(row["created_at"]),
    )
    await send_after_commit(
        [events_module.encode_hint(LogEntry(chat_id, message.seq, "ADDED", message=message))],
        events=[events_module.encode("UPDATED", chat)],
    )
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
    placeholder = LogEntry(reply.chat_id, 0, "CHUNK", chunk=chunk)
    seq = await current_engine().append_next_chunk(
        NextChunk(
            chat_id=reply.chat_id,
            message_id=reply.id,
            index=index,
            parts=dumps(merged),
            log_id=uuid5(reply.id, str(index)),
            payload=dumps(placeholder.payload()),
            now=now,
        )
    )
    if seq is None:
        return None
    await send_after_commit(
        [events_module.encode_hint(LogEntry(reply.chat_id, seq, "CHUNK", chunk=chunk))]
    )
    return _replace(reply, parts=merged, chunks=index + 1, updated_at=now)


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
    """The reply of `chat_id` after chunk `index`. Refused: "message" (gone), "retry" (the index
    holds the same parts: nothing written), "conflict" (it holds other parts), "not_streaming",
    "order" (an index past the next)."""
    async with writing() as outbox:
        seq = await _take_seq(outbox, chat_id)
        message = await _select_message(message_id)  # as it is now, under the chat's lock
        if message is None or message.chat_id != chat_id:
            raise Refused("message")
        if index < message.chunks:
            stored = await _stored_chunk(message_id, index)
            if stored is not None and dumps(stored) == dumps(parts):
                raise Refused("retry")
            raise Refused("conflict")
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
    return _replace(message, parts=merged, chunks=message.chunks + 1, updated_at=now)


async def _stored_chunk(message_id: UUID, index: int) -> list[Any] | None:
    row = (
        await ChatLogEntry.select(ChatLogEntry.payload)
        .where((ChatLogEntry.message_id == message_id) & (ChatLogEntry.chunk_index == index))
        .first()
    )
    if row is None:
        return None
    parts: list[Any] = orjson.loads(row["payload"])["chunk"][2]
    return parts


def _replace(message: MessageRow, **changes: Any) -> MessageRow:
    return replace(message, **changes)


async def _end_reply(
    outbox: Outbox, message: MessageRow, status: str, seq: int, now: datetime
) -> MessageRow:
    await Message.update({Message.status: status, Message.updated_at: now}).where(
        Message.id == message.id
    )
    ended = _replace(message, status=status, updated_at=now)
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
        message = await _select_message(message_id)
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
        row = await Message.select(*_MESSAGE_COLUMNS).where(where).first()
        if row is None:
            raise Refused("none_streaming")
        ended = await _end_reply(outbox, _message(row), "stopped", seq, now)
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
            await Message.select(*_MESSAGE_COLUMNS)
            .where((Message.chat == chat_id) & (Message.seq >= start["seq"]))
            .order_by(Message.seq)
        )
        doomed = [_message(row) for row in rows]
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


# Reads -----------------------------------------------------------------------------------------


@query
async def get_message(message_id: UUID) -> MessageRow | None:
    return await _select_message(message_id)


@query
async def message_and_owner(message_id: UUID) -> tuple[MessageRow, UUID] | None:
    """The message and the account its chat belongs to, in one query: what an access check on a
    reply needs."""
    rows = await Message.raw(
        "SELECT m.id, m.chat_id, m.role, m.parts, m.status, m.created_at, m.updated_at, m.seq,"
        " m.chunks, c.account_id AS owner FROM messages m JOIN chats c ON c.id = m.chat_id"
        " WHERE m.id = {}",
        message_id,
    )
    return (_message(rows[0]), _uuid(rows[0]["owner"])) if rows else None


@query
async def page_messages(
    chat_id: UUID, *, limit: int, after: int | None, before: int | None, newest: bool
) -> tuple[list[MessageRow], int] | None:
    """Up to `limit` messages after (or before) a sequence number, oldest first, or the newest
    ones (`newest`), with the chat's log position in the same snapshot (one statement), so that a
    stream resumed from it neither misses nor repeats what the page shows. None: no such chat."""
    conditions = ["m.chat_id = c.id"]
    args: list[Any] = []
    if after is not None:
        conditions.append("m.seq > {}")
        args.append(after)
    if before is not None:
        conditions.append("m.seq < {}")
        args.append(before)
    order = "DESC" if newest else "ASC"
    rows = await Message.raw(
        "SELECT c.last_seq AS last_seq, m.id, m.chat_id, m.role, m.parts, m.status, m.seq,"
        " m.chunks, m.created_at, m.updated_at FROM chats c LEFT JOIN messages m ON "
        + " AND ".join(conditions)
        + " WHERE c.id = {} ORDER BY m.seq "
        + order
        + " LIMIT {}",
        *args,
        chat_id,
        limit,
    )
    if not rows:
        return None
    messages = [_message(row) for row in rows if row["id"] is not None]
    if newest:
        messages.reverse()
    return messages, int(rows[0]["last_seq"])


@query
async def read_log(chat_id: UUID, after: int, limit: int) -> tuple[list[LogEntry], int] | None:
    """The chat's log entries after `after`, in order, and its last sequence number, in one
    snapshot. None: no such chat."""
    rows = await ChatLogEntry.raw(
        "SELECT c.last_seq AS last_seq, l.seq, l.type, l.payload FROM chats c"
        " LEFT JOIN chat_log l ON l.chat_id = c.id AND l.seq > {}"
        " WHERE c.id = {} ORDER BY l.seq LIMIT {}",
        after,
        chat_id,
        limit,
    )
    if not rows:
        return None
    entries = [
        LogEntry.of(chat_id, int(row["seq"]), row["type"], orjson.loads(row["payload"]))
        for row in rows
        if row["seq"] is not None
    ]
    return entries, int(rows[0]["last_seq"])


@query
async def chat_states(chat_ids: Sequence[UUID], account_id: UUID) -> dict[UUID, tuple[bool, bool]]:
    """For each chat: whether a reply streams, and whether an assistant's message ended after
    the account last marked the chat read (or at all, if it never did). One round trip."""
    if not chat_ids:
        return {}
    marks = ", ".join("{}" for _ in chat_ids)
    rows = await Message.raw(
        "SELECT m.chat_id AS chat_id, 's' AS state FROM messages m"
        f" WHERE m.chat_id IN ({marks}) AND m.status = 'streaming'"
        " UNION ALL SELECT m.chat_id, 'u' FROM messages m LEFT JOIN chat_reads r"
        " ON r.chat_id = m.chat_id AND r.account_id = {}"
        f" WHERE m.chat_id IN ({marks}) AND m.role = 'assistant' AND m.status <> 'streaming'"
        " AND (r.read_at IS NULL OR m.updated_at > r.read_at)",
        *chat_ids,
        account_id,
        *chat_ids,
    )
    states = {chat_id: (False, False) for chat_id in chat_ids}
    for row in rows:
        chat_id = _uuid(row["chat_id"])
        streaming, unread = states[chat_id]
        states[chat_id] = (streaming or row["state"] == "s", unread or row["state"] == "u")
    return states


@background_query
async def idle_replies(idle_since: datetime) -> list[UUID]:
    """The chats whose streaming reply's last write is older than `idle_since`."""
    rows = await Message.select(Message.chat).where(
        (Message.status == "streaming") & (Message.updated_at < idle_since)
    )
    return [_uuid(row["chat_id"]) for row in rows]


def watch(chat_id: UUID) -> AbstractAsyncContextManager[Watcher]:
    """Hints of the chat's new log entries in this process, from now on."""
    return current_engine().hub.watch(chat_id)

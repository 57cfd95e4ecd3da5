"""The reads of conversations: a message, a page of messages, a chat's event log, the state of a
page of chats, the replies gone silent; and the row helpers the writes (`db.conversations`) share.
Each read that answers together with the log's position does it in one statement, one snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from db.engine import background_query, current_engine, query
from db.events import Watcher
from db.rows import ChatRow, LogEntry, MessageRow
from db.tables import Chat, ChatLogEntry, Message

MESSAGE_COLUMNS = (
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


def as_uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def as_time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def message_row(row: dict[str, Any]) -> MessageRow:
    return MessageRow(
        id=as_uuid(row["id"]),
        chat_id=as_uuid(row["chat_id"]),
        role=row["role"],
        parts=orjson.loads(row["parts"]),
        status=row["status"],
        created_at=as_time(row["created_at"]),
        updated_at=as_time(row["updated_at"]),
        seq=int(row["seq"]),
        chunks=int(row["chunks"]),
    )


def chat_row(row: dict[str, Any]) -> ChatRow:
    """A chat from a conversation write's RETURNING (its sequence number aside)."""
    artist = row["artist_id"]
    return ChatRow(
        id=as_uuid(row["id"]),
        title=row["title"],
        account_id=as_uuid(row["account_id"]),
        session_id=as_uuid(row["session_id"]),
        updated_at=as_time(row["updated_at"]),
        artist_id=None if artist is None else as_uuid(artist),
        created_at=as_time(row["created_at"]),
    )


SELECT_MESSAGE = (
    "SELECT id, chat_id, role, parts, status, created_at, updated_at, seq, chunks"
    " FROM messages WHERE id = {}"
)


async def select_message(message_id: UUID) -> MessageRow | None:
    rows = await Message.raw(SELECT_MESSAGE, message_id)
    return message_row(rows[0]) if rows else None


@query
async def get_message(message_id: UUID) -> MessageRow | None:
    return await select_message(message_id)


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
    return (message_row(rows[0]), as_uuid(rows[0]["owner"])) if rows else None


@query
async def stored_chunk(message_id: UUID, index: int) -> list[Any] | None:
    """The parts of a reply's chunk as stored (a chunk, once stored, never changes)."""
    row = (
        await ChatLogEntry.select(ChatLogEntry.payload)
        .where((ChatLogEntry.message_id == message_id) & (ChatLogEntry.chunk_index == index))
        .first()
    )
    if row is None:
        return None
    parts: list[Any] = orjson.loads(row["payload"])["chunk"][2]
    return parts


@query
async def log_position(chat_id: UUID) -> int | None:
    """The chat's last sequence number: where a stream of what comes next starts. None: no such
    chat."""
    rows = await Chat.raw("SELECT last_seq FROM chats WHERE id = {}", chat_id)
    return int(rows[0]["last_seq"]) if rows else None


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
    messages = [message_row(row) for row in rows if row["id"] is not None]
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
        chat_id = as_uuid(row["chat_id"])
        streaming, unread = states[chat_id]
        states[chat_id] = (streaming or row["state"] == "s", unread or row["state"] == "u")
    return states


@background_query
async def idle_replies(idle_since: datetime) -> list[UUID]:
    """The chats whose streaming reply's last write is older than `idle_since`."""
    rows = await Message.select(Message.chat).where(
        (Message.status == "streaming") & (Message.updated_at < idle_since)
    )
    return [as_uuid(row["chat_id"]) for row in rows]


def watch(chat_id: UUID) -> AbstractAsyncContextManager[Watcher]:
    """Hints of the chat's new log entries in this process, from now on."""
    return current_engine().hub.watch(chat_id)

"""Records as the queries return them.

`ChatRow` is the one definition of a chat's fields: the database row, the resolvers' domain
value (`resolvers.models.ChatRoom`), the GraphQL type's constructor, the event codec and the REST
JSON all derive from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from types import NoneType, UnionType
from typing import Any, TypedDict, get_args, get_type_hints
from uuid import UUID


@dataclass(frozen=True, slots=True)
class ChatRow:
    """A chat, its fields in the contract's order (the seed's REST JSON has all but createdAt)."""

    id: UUID
    title: str
    account_id: UUID
    session_id: UUID
    updated_at: datetime
    artist_id: UUID | None
    created_at: datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChatRow:
        """From its JSON form (an event's payload): ids as text, times in ISO 8601."""
        return cls(**{name: parse(data[name]) for name, parse in _PARSERS.items()})


CHAT_FIELDS: tuple[str, ...] = tuple(field.name for field in fields(ChatRow))


def _parser(kind: Any) -> Callable[[Any], Any]:
    if isinstance(kind, UnionType):  # `X | None`
        (inner,) = (arg for arg in get_args(kind) if arg is not NoneType)
        parse = _parser(inner)
        return lambda value: None if value is None else parse(value)
    if kind is datetime:
        return datetime.fromisoformat
    return kind  # type: ignore[no-any-return]  # UUID and str parse their own text


_PARSERS = {name: _parser(kind) for name, kind in get_type_hints(ChatRow).items()}


class KeyRow(TypedDict):
    id: UUID
    account_id: UUID


class AccountRow(TypedDict):
    id: UUID
    name: str
    kind: str


class IdentityRow(TypedDict):
    issuer: str
    subject: str
    account_id: UUID


class DocumentRow(TypedDict):
    """A trusted document (`trusted_documents`)."""

    id: str
    sha256: str
    name: str
    operation_type: str
    body: str


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A message of a chat. `parts` are the AI SDK parts as stored (JSON values); `seq` orders the
    chat's messages; `chunks` counts a reply's accepted chunks."""

    id: UUID
    chat_id: UUID
    role: str  # user, assistant or system
    parts: list[Any]
    status: str  # complete, streaming or stopped
    created_at: datetime
    updated_at: datetime
    seq: int
    chunks: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "chat_id": str(self.chat_id),
            "role": self.role,
            "parts": self.parts,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "seq": self.seq,
            "chunks": self.chunks,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], seq: int = 0) -> MessageRow:
        """`seq` stands in for a stored null: a message written in one statement is logged
        before its sequence number is known, which is then its entry's."""
        return cls(
            id=UUID(data["id"]),
            chat_id=UUID(data["chat_id"]),
            role=data["role"],
            parts=data["parts"],
            status=data["status"],
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
            seq=data["seq"] if data["seq"] is not None else seq,
            chunks=data["chunks"],
        )


@dataclass(frozen=True, slots=True)
class ChunkRow:
    message_id: UUID
    index: int
    parts: list[Any]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One event of a chat's log, at `seq`: ADDED, FINISHED and STOPPED carry the message as it
    was then, CHUNK the chunk, DELETED the ids of the deleted messages."""

    chat_id: UUID
    seq: int
    type: str
    message: MessageRow | None = None
    chunk: ChunkRow | None = None
    message_ids: tuple[UUID, ...] | None = None

    def payload(self) -> dict[str, Any]:
        """What the log stores of the event (its chat, seq and type are columns)."""
        if self.message is not None:
            return {"message": self.message.to_json()}
        if self.chunk is not None:
            return {"chunk": [str(self.chunk.message_id), self.chunk.index, self.chunk.parts]}
        return {"message_ids": [str(i) for i in self.message_ids or ()]}

    @classmethod
    def of(cls, chat_id: UUID, seq: int, type: str, payload: Mapping[str, Any]) -> LogEntry:
        if "message" in payload:
            return cls(chat_id, seq, type, message=MessageRow.from_json(payload["message"], seq))
        if "chunk" in payload:
            message_id, index, parts = payload["chunk"]
            return cls(chat_id, seq, type, chunk=ChunkRow(UUID(message_id), index, parts))
        ids = tuple(UUID(i) for i in payload["message_ids"])
        return cls(chat_id, seq, type, message_ids=ids)


@dataclass(frozen=True, slots=True)
class OwnMessage:
    """What an engine writes for a user's message in the account's own chat, in one trip: the
    parts and the log entry's payload as JSON text (the payload's message has no sequence number
    yet: it is the entry's)."""

    chat_id: UUID
    account_id: UUID
    message_id: UUID
    parts: str
    log_id: UUID
    payload: str
    now: datetime


@dataclass(frozen=True, slots=True)
class NextChunk:
    """What an engine writes for the next chunk of a streaming reply, in one trip: the reply's
    parts with the chunk merged (as JSON text), when the reply still has `index` chunks; the log
    entry's payload as JSON text."""

    chat_id: UUID
    message_id: UUID
    index: int
    parts: str
    log_id: UUID
    payload: str
    now: datetime

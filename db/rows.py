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

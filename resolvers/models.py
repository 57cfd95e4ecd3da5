"""Values that cross the resolver boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from db.rows import CHAT_FIELDS as CHAT_FIELDS
from db.rows import ChatRow


@dataclass(frozen=True, slots=True)
class Caller:
    """The account an API key belongs to, resolved once per request at the edge."""

    account_id: UUID
    key_id: UUID


@dataclass(frozen=True, slots=True)
class NewChat:
    title: str
    account_id: UUID | None = None
    artist_id: UUID | None = None
    chat_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class ChatUpdate:
    chat_id: UUID
    title: str


# The chat record is also the domain value: one definition of a chat's fields.
ChatRoom = ChatRow


@dataclass(frozen=True, slots=True)
class ChatEvent:
    type: Literal["CREATED", "UPDATED", "DELETED"]
    chat: ChatRoom


@dataclass(frozen=True, slots=True)
class ChatPage:
    chats: list[ChatRoom]
    has_next_page: bool


def iso_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a `Z`, the same text on every engine and protocol."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # isoformat is several times faster than strftime, and this runs for every chat answered.
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"

"""Values that cross the resolver boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from db.rows import CHAT_FIELDS as CHAT_FIELDS
from db.rows import ChatRow as ChatRow  # the chat record is the domain value
from db.rows import LogEntry, MessageRow


@dataclass(frozen=True, slots=True)
class Caller:
    """The account a request acts as, resolved once per request at the edge: an API key's
    (`key_id`), or a signed-in user's (an access token; no key)."""

    account_id: UUID
    key_id: UUID | None = None

    @property
    def rate_key(self) -> str:
        """Whose budget a request spends: its key's, or for a token its account's."""
        return str(self.key_id) if self.key_id is not None else f"account:{self.account_id}"


@dataclass(frozen=True, slots=True)
class Account:
    id: UUID
    name: str
    kind: str  # user, artist or organization


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


# The chat record (`ChatRow`) is also the domain value: one definition of a chat's fields.


# A message of a chat, and an event of a chat's log: the records are the domain values.
Message = MessageRow
Event = LogEntry


@dataclass(frozen=True, slots=True)
class ChatEvent:
    type: Literal["CREATED", "UPDATED", "DELETED"]
    chat: ChatRow
    # Where a stream resumes right after this event.
    cursor: str
    # The W3C traceparent of the request that wrote it (traces exported then), for a link.
    trace: str | None = None


@dataclass(frozen=True, slots=True)
class ChatPage:
    chats: list[ChatRow]
    has_next_page: bool
    # The chat events' log as of the read: a stream from it misses nothing the page does not show.
    event_cursor: str


def iso_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a `Z`, the same text on every engine and protocol."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # isoformat rather than strftime: cheaper, and this runs for every chat answered.
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"

"""GraphQL object and input types."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from resolvers.models import CHAT_FIELDS
from resolvers.models import ChatRoom as ChatRoomModel


@strawberry.type(description="A chat room. Its URL is /sessions/{sessionId}/chats/{id}.")
class ChatRoom:
    id: uuid.UUID
    title: str = strawberry.field(description="Display title: the trimmed topic, or `New chat`.")
    account_id: uuid.UUID = strawberry.field(description="Owning account.")
    session_id: uuid.UUID = strawberry.field(description="Session that owns this chat.")
    updated_at: datetime = strawberry.field(description="Time of the last update.")
    artist_id: uuid.UUID | None = strawberry.field(
        description="Artist the chat's session was created for, or null."
    )
    created_at: datetime

    @classmethod
    def from_model(cls, chat: ChatRoomModel) -> ChatRoom:
        return cls(**{name: getattr(chat, name) for name in CHAT_FIELDS})


@strawberry.input(description="Every field is optional.")
class CreateChatInput:
    artist_id: uuid.UUID | None = strawberry.field(
        default=strawberry.UNSET, description="Artist account to associate with the chat."
    )
    chat_id: uuid.UUID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Client-generated id. Sending the same request again returns the same chat.",
    )
    account_id: uuid.UUID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Account to create the chat for; the key's own account by default.",
    )
    topic: str | None = strawberry.field(
        default=strawberry.UNSET, description="Topic, at most 100 characters; the chat's title."
    )

    def payload(self) -> dict[str, Any]:
        """The fields that were sent, by their contract names: the resolvers validate them."""
        fields = {
            "artistId": self.artist_id,
            "chatId": self.chat_id,
            "accountId": self.account_id,
            "topic": self.topic,
        }
        return {name: value for name, value in fields.items() if value is not strawberry.UNSET}


@strawberry.type
class CreateChatPayload:
    chat: ChatRoom


@strawberry.input(description="Rename a chat.")
class UpdateChatInput:
    chat_id: uuid.UUID
    topic: str = strawberry.field(description="The new title: at most 100 characters, not blank.")

    def payload(self) -> dict[str, Any]:
        return {"chatId": self.chat_id, "topic": self.topic}


@strawberry.type
class UpdateChatPayload:
    chat: ChatRoom


@strawberry.input(description="Delete a chat (and its session, when no other chat is left in it).")
class DeleteChatInput:
    chat_id: uuid.UUID


@strawberry.type
class DeleteChatPayload:
    chat_id: uuid.UUID


@strawberry.enum
class ChatEventType(Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"


@strawberry.type(description="A change to a chat. DELETED carries the chat as it was.")
class ChatEvent:
    type: ChatEventType
    chat: ChatRoom


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class ChatRoomEdge:
    cursor: str
    node: ChatRoom


@strawberry.type(description="A page of chats, newest first.")
class ChatRoomConnection:
    edges: list[ChatRoomEdge]
    page_info: PageInfo


@strawberry.enum
class AccountKind(Enum):
    USER = "user"
    ARTIST = "artist"
    ORGANIZATION = "organization"


@strawberry.type(description="An account: a person, an artist or an organization.")
class Account:
    id: uuid.UUID
    name: str
    kind: AccountKind


@strawberry.type(description="Who the caller is: the account its key or access token acts as.")
class Viewer:
    account: Account

"""GraphQL object and input types."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from resolvers import conversation_input, conversations
from resolvers.models import CHAT_FIELDS
from resolvers.models import ChatRow as ChatRoomModel
from resolvers.models import Message as MessageModel
from schema.context import Context
from schema.directives import page


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

    @strawberry.field(
        description="The conversation, oldest first: first/after forward, last/before backward; "
        "the newest 50 by default.",
        directives=[page(["first", "last"], conversation_input.DEFAULT_MESSAGES)],
    )
    async def messages(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> MessageConnection:
        page = await conversations.list_messages(
            await info.context.caller(), self.id, first=first, after=after, last=last, before=before
        )
        return message_connection(page)

    @strawberry.field(description="Whether the assistant's reply is being written now.")
    async def is_streaming(self, info: Info[Context, None]) -> bool:
        return (await info.context.chat_state(self.id))[0]

    @strawberry.field(
        description="Whether an assistant's message ended after the caller last marked the chat "
        "read."
    )
    async def has_unread(self, info: Info[Context, None]) -> bool:
        return (await info.context.chat_state(self.id))[1]


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
    cursor: str = strawberry.field(
        description="Where a stream resumes right after this event: chatEvents(after: cursor)."
    )


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(cls, cursors: list[str], *, has_next: bool, has_previous: bool) -> PageInfo:
        """A page's info from its edges' cursors."""
        return cls(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        )


@strawberry.type
class ChatRoomEdge:
    cursor: str
    node: ChatRoom


@strawberry.type(description="A page of chats, newest first.")
class ChatRoomConnection:
    edges: list[ChatRoomEdge]
    page_info: PageInfo
    event_cursor: str = strawberry.field(
        description="The chat events as of this read: subscribe to chatEvents after it, and"
        " nothing the page does not show is missed or seen twice."
    )


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


# Conversations ---------------------------------------------------------------------------------


@strawberry.enum
class MessageRole(Enum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


@strawberry.enum
class MessageStatus(Enum):
    COMPLETE = "complete"
    STREAMING = "streaming"
    STOPPED = "stopped"


@strawberry.type(description="A message of a chat: a role and its AI SDK parts.")
class Message:
    id: uuid.UUID
    chat_id: uuid.UUID
    role: MessageRole
    parts: list[JSON] = strawberry.field(
        description="AI SDK parts: objects with a `type`; `text` parts carry `text`."
    )
    status: MessageStatus
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, message: MessageModel) -> Message:
        return cls(
            id=message.id,
            chat_id=message.chat_id,
            role=MessageRole(message.role),
            parts=message.parts,
            status=MessageStatus(message.status),
            created_at=message.created_at,
            updated_at=message.updated_at,
        )


@strawberry.type
class MessageEdge:
    cursor: str
    node: Message


@strawberry.type(description="A page of a chat's messages, oldest first.")
class MessageConnection:
    edges: list[MessageEdge]
    page_info: PageInfo
    event_cursor: str = strawberry.field(
        description="The chat's event log as of this read: subscribe to chatMessages after it."
    )


def message_connection(page: conversations.MessagePage) -> MessageConnection:
    """A page of messages as a Relay connection."""
    edges = [
        MessageEdge(cursor=conversation_input.page_cursor(m), node=Message.from_model(m))
        for m in page.messages
    ]
    return MessageConnection(
        edges=edges,
        page_info=PageInfo.of(
            [edge.cursor for edge in edges],
            has_next=page.has_next_page,
            has_previous=page.has_previous_page,
        ),
        event_cursor=page.event_cursor,
    )


@strawberry.input
class SendMessageInput:
    chat_id: uuid.UUID
    parts: list[JSON]
    message_id: uuid.UUID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Client-chosen id: sending the same message again returns the stored one.",
    )


@strawberry.input
class StartReplyInput:
    chat_id: uuid.UUID
    message_id: uuid.UUID | None = strawberry.UNSET
    role: MessageRole = MessageRole.ASSISTANT


@strawberry.input
class AppendReplyInput:
    message_id: uuid.UUID
    index: int = strawberry.field(description="0, 1, 2, ...: resending one is a harmless retry.")
    parts: list[JSON]


@strawberry.input
class FinishReplyInput:
    message_id: uuid.UUID


@strawberry.input
class StopReplyInput:
    chat_id: uuid.UUID


@strawberry.input
class MarkChatReadInput:
    chat_id: uuid.UUID


@strawberry.input
class DeleteMessagesInput:
    chat_id: uuid.UUID
    from_message_id: uuid.UUID


@strawberry.type
class MessagePayload:
    message: Message


@strawberry.type
class DeleteMessagesPayload:
    chat_id: uuid.UUID
    message_ids: list[uuid.UUID]


@strawberry.enum
class MessageEventType(Enum):
    ADDED = "ADDED"
    CHUNK = "CHUNK"
    FINISHED = "FINISHED"
    STOPPED = "STOPPED"
    DELETED = "DELETED"


@strawberry.type
class ReplyChunk:
    message_id: uuid.UUID
    index: int
    parts: list[JSON]


@strawberry.type(description="An event of a chat's conversation; `cursor` resumes after it.")
class MessageEvent:
    cursor: str
    type: MessageEventType
    message: Message | None = None
    chunk: ReplyChunk | None = None
    message_ids: list[uuid.UUID] | None = None

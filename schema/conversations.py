"""Conversations in GraphQL: the message types, the mutations that write messages and replies, and
`chatMessages`, the chat's events as a subscription that resumes from a cursor. Every field calls
`resolvers.conversations`, as the REST routes do."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from strawberry.types import Info

from resolvers import conversation_input, conversations
from resolvers.errors import ServiceError
from resolvers.models import Event
from resolvers.models import Message as MessageModel
from resolvers.validation import parse_uuid
from schema.context import Context
from schema.directives import MUTATION
from schema.errors import from_service_error
from schema.types import (
    AppendReplyInput,
    ChatRoom,
    DeleteMessagesInput,
    DeleteMessagesPayload,
    FinishReplyInput,
    MarkChatReadInput,
    Message,
    MessageEvent,
    MessageEventType,
    MessagePayload,
    ReplyChunk,
    SendMessageInput,
    StartReplyInput,
    StopReplyInput,
    UpdateChatPayload,
)


def message_event(entry: Event) -> MessageEvent:
    chunk = entry.chunk
    return MessageEvent(
        cursor=conversation_input.event_cursor(entry.chat_id, entry.seq),
        type=MessageEventType(entry.type),
        message=Message.from_model(entry.message) if entry.message else None,
        chunk=ReplyChunk(message_id=chunk.message_id, index=chunk.index, parts=chunk.parts)
        if chunk
        else None,
        message_ids=list(entry.message_ids) if entry.message_ids is not None else None,
    )


def _optional_uuid(value: Any, field: str) -> uuid.UUID | None:
    return None if value is None or value is strawberry.UNSET else parse_uuid(value, field)


def _payload(message: MessageModel) -> MessagePayload:
    return MessagePayload(message=Message.from_model(message))


@strawberry.type
class ConversationMutations:
    """Mutation fields of conversations; the root Mutation type inherits them."""

    @strawberry.mutation(
        directives=[MUTATION],
        description="A user's message. Same as POST /api/chats/{id}/messages.",
    )
    async def send_message(
        self, info: Info[Context, None], input: SendMessageInput
    ) -> MessagePayload | None:
        caller = await info.context.caller()
        message_id = _optional_uuid(input.message_id, "messageId")
        parts = conversation_input.parse_parts(input.parts)
        chat_id = parse_uuid(input.chat_id, "chatId")
        return _payload(await conversations.send_message(caller, chat_id, message_id, parts))

    @strawberry.mutation(
        directives=[MUTATION],
        description="Start the assistant's reply (API keys only).",
    )
    async def start_reply(
        self, info: Info[Context, None], input: StartReplyInput
    ) -> MessagePayload | None:
        caller = await info.context.caller()
        message_id = _optional_uuid(input.message_id, "messageId")
        role = conversation_input.parse_reply_role(input.role.value)
        chat_id = parse_uuid(input.chat_id, "chatId")
        return _payload(await conversations.start_reply(caller, chat_id, message_id, role))

    @strawberry.mutation(
        directives=[MUTATION],
        description="Append chunk `index` to a streaming reply (API keys only).",
    )
    async def append_reply(
        self, info: Info[Context, None], input: AppendReplyInput
    ) -> MessagePayload | None:
        caller = await info.context.caller()
        index = conversation_input.parse_index(input.index)
        parts = conversation_input.parse_parts(input.parts)
        message_id = parse_uuid(input.message_id, "messageId")
        return _payload(await conversations.append_reply(caller, message_id, index, parts))

    @strawberry.mutation(
        directives=[MUTATION],
        description="Mark a streaming reply complete (API keys only).",
    )
    async def finish_reply(
        self, info: Info[Context, None], input: FinishReplyInput
    ) -> MessagePayload | None:
        caller = await info.context.caller()
        message_id = parse_uuid(input.message_id, "messageId")
        return _payload(await conversations.finish_reply(caller, message_id))

    @strawberry.mutation(
        directives=[MUTATION],
        description="Stop the chat's streaming reply.",
    )
    async def stop_reply(
        self, info: Info[Context, None], input: StopReplyInput
    ) -> MessagePayload | None:
        caller = await info.context.caller()
        chat_id = parse_uuid(input.chat_id, "chatId")
        return _payload(await conversations.stop_reply(caller, chat_id))

    @strawberry.mutation(
        directives=[MUTATION],
        description="The caller has read the chat: hasUnread turns false.",
    )
    async def mark_chat_read(
        self, info: Info[Context, None], input: MarkChatReadInput
    ) -> UpdateChatPayload | None:
        caller = await info.context.caller()
        chat = await conversations.mark_read(caller, parse_uuid(input.chat_id, "chatId"))
        return UpdateChatPayload(chat=ChatRoom.from_model(chat))

    @strawberry.mutation(
        directives=[MUTATION],
        description="Delete a message and every later one (edit, regenerate).",
    )
    async def delete_messages(
        self, info: Info[Context, None], input: DeleteMessagesInput
    ) -> DeleteMessagesPayload | None:
        caller = await info.context.caller()
        chat_id = parse_uuid(input.chat_id, "chatId")
        from_id = parse_uuid(input.from_message_id, "fromMessageId")
        ids = await conversations.delete_messages(caller, chat_id, from_id)
        return DeleteMessagesPayload(chat_id=chat_id, message_ids=ids)


@strawberry.type
class ConversationSubscriptions:
    """Subscription fields of conversations; the root Subscription type inherits them."""

    @strawberry.subscription(
        description="A chat's events in order: after `after` first (a cursor), then live."
    )
    async def chat_messages(
        self, info: Info[Context, None], chat_id: uuid.UUID, after: str | None = None
    ) -> AsyncGenerator[MessageEvent, None]:
        # Errors of a running stream bypass the schema's extensions: give them their code here.
        try:
            caller = await info.context.caller()
            chat = parse_uuid(chat_id, "chatId")
            start = await conversations.open_stream(caller, chat, info.context.resume_from(after))
            async for entry in conversations.follow(chat, start):
                yield message_event(entry)
        except ServiceError as exc:
            raise from_service_error(exc) from exc

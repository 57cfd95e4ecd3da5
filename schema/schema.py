"""The Strawberry schema: Query and Mutation fields call the resolvers and nothing else."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from pathlib import Path

import strawberry
from graphql import (
    GraphQLError,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, Info

from resolvers import accounts as account_cases
from resolvers import chat_events as chat_event_cases
from resolvers import chats as chat_cases
from resolvers.errors import ServiceError
from resolvers.validation import parse_chat_update, parse_new_chat, parse_uuid
from schema import telemetry
from schema.context import Context
from schema.conversations import ConversationMutations, ConversationSubscriptions
from schema.directives import MUTATION, page
from schema.errors import from_service_error
from schema.extensions import EXTENSIONS
from schema.scalars import SCALARS
from schema.types import (
    Account,
    AccountKind,
    ChatEvent,
    ChatEventType,
    ChatRoom,
    ChatRoomConnection,
    ChatRoomEdge,
    CreateChatInput,
    CreateChatPayload,
    DeleteChatInput,
    DeleteChatPayload,
    PageInfo,
    UpdateChatInput,
    UpdateChatPayload,
    Viewer,
)

SDL_PATH = Path(__file__).with_name("schema.graphql")


def _optional_uuid(value: object, field: str) -> uuid.UUID | None:
    return None if value is None or value is strawberry.UNSET else parse_uuid(value, field)


@strawberry.type
class Query:
    @strawberry.field(description="A chat the caller may see, or null.")
    async def chat(self, info: Info[Context, None], id: uuid.UUID) -> ChatRoom | None:
        caller = await info.context.caller()
        chat = await chat_cases.get_chat(caller, parse_uuid(id, "id"))
        return ChatRoom.from_model(chat) if chat else None

    @strawberry.field(
        description="Chats of an account (the caller's own by default), newest first.",
        directives=[page(["first"], chat_cases.DEFAULT_PAGE_SIZE)],
    )
    async def chats(
        self,
        info: Info[Context, None],
        first: int | None = chat_cases.DEFAULT_PAGE_SIZE,
        after: str | None = strawberry.UNSET,
        account_id: uuid.UUID | None = strawberry.UNSET,
        artist_id: uuid.UUID | None = strawberry.UNSET,
    ) -> ChatRoomConnection:
        caller = await info.context.caller()
        page = await chat_cases.list_chats(
            caller,
            account_id=_optional_uuid(account_id, "accountId"),
            artist_id=_optional_uuid(artist_id, "artistId"),
            limit=chat_cases.parse_page_size(first, "first"),
            cursor=after or None,
        )
        edges = [
            ChatRoomEdge(cursor=chat_cases.encode_cursor(chat), node=ChatRoom.from_model(chat))
            for chat in page.chats
        ]
        return ChatRoomConnection(
            edges=edges,
            page_info=PageInfo.of(
                [edge.cursor for edge in edges],
                has_next=page.has_next_page,
                has_previous=bool(after),
            ),
            event_cursor=page.event_cursor,
        )

    @strawberry.field(description="Who the caller is: the signed-in user's or the key's account.")
    async def viewer(self, info: Info[Context, None]) -> Viewer:
        account = await account_cases.viewer(await info.context.caller())
        return Viewer(
            account=Account(id=account.id, name=account.name, kind=AccountKind(account.kind))
        )


@strawberry.type
class Mutation(ConversationMutations):
    # Root fields are nullable (as GitHub's, Shopify's and PostGraphile's): in a document of several
    # mutations, one that fails is null with its error and the committed ones keep their data.

    @strawberry.mutation(
        directives=[MUTATION],
        description="Create a chat room (and its session). Same rules as POST /api/chats.",
    )
    async def create_chat(
        self, info: Info[Context, None], input: CreateChatInput | None = strawberry.UNSET
    ) -> CreateChatPayload | None:
        caller = await info.context.caller()
        payload = input.payload() if input else {}
        chat = await chat_cases.create_chat(caller, parse_new_chat(payload))
        return CreateChatPayload(chat=ChatRoom.from_model(chat))

    @strawberry.mutation(
        directives=[MUTATION],
        description="Rename a chat; bumps its updatedAt. Same as PATCH /api/chats.",
    )
    async def update_chat(
        self, info: Info[Context, None], input: UpdateChatInput
    ) -> UpdateChatPayload | None:
        caller = await info.context.caller()
        chat = await chat_cases.update_chat(caller, parse_chat_update(input.payload()))
        return UpdateChatPayload(chat=ChatRoom.from_model(chat))

    @strawberry.mutation(
        directives=[MUTATION], description="Delete a chat. Same as DELETE /api/chats."
    )
    async def delete_chat(
        self, info: Info[Context, None], input: DeleteChatInput
    ) -> DeleteChatPayload | None:
        caller = await info.context.caller()
        chat = await chat_cases.delete_chat(caller, parse_uuid(input.chat_id, "chatId"))
        return DeleteChatPayload(chat_id=chat.id)


@strawberry.type
class Subscription(ConversationSubscriptions):
    @strawberry.subscription(
        description="Changes to an account's chats (the caller's own by default): after `after`"
        " first (a cursor: an event's, or a chats page's eventCursor), then live, each once."
    )
    async def chat_events(
        self,
        info: Info[Context, None],
        account_id: uuid.UUID | None = strawberry.UNSET,
        after: str | None = None,
    ) -> AsyncGenerator[ChatEvent, None]:
        # Errors of a running stream bypass the schema's extensions: give them their code here.
        try:
            caller = await info.context.caller()
            owner, since = await chat_event_cases.open_chat_events(
                caller, _optional_uuid(account_id, "accountId"), info.context.resume_from(after)
            )
            async for event in chat_event_cases.chat_events(owner, since):
                telemetry.delivered("chatEvents", event.trace)
                chat = ChatRoom.from_model(event.chat)
                yield ChatEvent(type=ChatEventType(event.type), chat=chat, cursor=event.cursor)
        except ServiceError as exc:
            raise from_service_error(exc) from exc


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """ErrorCodes logs what deserves a log line; expected errors are answers, not incidents."""


def build_schema() -> Schema:
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=list(EXTENSIONS),
        config=StrawberryConfig(scalar_map=SCALARS),
    )


def sdl() -> str:
    return build_schema().as_str() + "\n"

"""The Strawberry schema: Query and Mutation fields call the resolvers and nothing else."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path

import strawberry
from cachetools import LRUCache
from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
)
from strawberry.extensions import (
    AddValidationRules,
    SchemaExtension,
    max_aliases,
    query_depth_limiter,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext, Info

from resolvers import accounts as account_cases
from resolvers import chats as chat_cases
from resolvers.errors import ServiceError
from resolvers.validation import parse_chat_update, parse_new_chat, parse_uuid
from schema.context import Context
from schema.conversations import ConversationMutations, ConversationSubscriptions
from schema.cost import find_operation, operation_cost
from schema.errors import ErrorCodes, from_service_error
from schema.execution.private import graphql_schema, provided_operation_name
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
MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 2000
# For a caller with no valid key or token: GraphiQL's introspection query (about 190 tokens, so
# the playground loads its schema before its user has typed a key) and nothing much larger. A
# document's validation grows with the square of its fields; a caller nobody knows does not get
# to make the service pay for it.
ANONYMOUS_MAX_TOKENS = 300
# Fields (and fragment spreads) a document that is not trusted may select, counted before it is
# validated: validating overlapping fields grows with the square of the fields, and a document of
# 2,000 tokens could hold 855 that took 0.77 s of the event loop. At this bound the worst shape
# found takes about 20 ms; GraphiQL's introspection query selects 67 fields and 13 spreads.
MAX_FIELDS = 150
CACHE_SIZE = 256


# Parsed documents by (text, parse options). The options hold the caller's token budget: a
# document parsed within an identified caller's budget is never handed to a caller with a smaller
# one.
PARSED: LRUCache[tuple[str, tuple[tuple[str, object], ...]], DocumentNode] = LRUCache(CACHE_SIZE)


class TextParserCache(SchemaExtension):
    """Strawberry's ParserCache, filled with what Strawberry's own parse returns. ParserCache
    parses in its hook, where a syntax error escapes the path on which ErrorCodes gives it a code;
    stepping aside there meant parsing every bad document twice. Here a document is parsed at most
    once a request, and its syntax error is reported the ordinary way."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is None or context.graphql_document is not None:
            yield
            return
        key = (context.query, tuple(sorted(context.parse_options.items())))
        context.graphql_document = cached = PARSED.get(key)
        yield
        if cached is None and context.graphql_document is not None:
            PARSED[key] = context.graphql_document


# Validation results by (schema, document text, rules). Keyed by the text, which Python hashes once
# and caches, not by the parsed document: graphql-core 3.3's nodes are frozen dataclasses, whose
# hash walks the whole tree on every lookup. The parsed document is a function of its text.
VALIDATION_CACHE: LRUCache[
    tuple[object, str, tuple[type[ASTValidationRule], ...]], list[GraphQLError]
] = LRUCache(CACHE_SIZE)


class TextValidationCache(SchemaExtension):
    """Strawberry's ValidationCache, keyed by the document's text."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if context.query is not None and document is not None:
            rules = tuple(context.validation_rules)
            context.pre_execution_errors = validated(
                graphql_schema(context.schema), context.query, document, rules
            )
        yield


class OperationNameRequired(SchemaExtension):
    """A document of several operations must name the one to run: GraphQL over HTTP makes that a
    request error (Strawberry would run the first). Listed after TextValidationCache, whose errors
    it keeps."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if (
            # `operation_name` falls back to the first operation's; this is what was sent.
            provided_operation_name(context) is None
            and not context.pre_execution_errors
            and document is not None
            and sum(isinstance(d, OperationDefinitionNode) for d in document.definitions) > 1
        ):
            context.pre_execution_errors = [
                GraphQLError("Must provide operation name if query contains multiple operations.")
            ]
        yield


class OperationCost(SchemaExtension):
    """An HTTP request spends its operation's cost (schema.cost) when its caller is first
    authenticated, which no field has asked for yet. Over a WebSocket, schema.sockets charges each
    operation as it arrives."""

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        context, document = execution.context, execution.graphql_document
        if isinstance(context, Context) and context.connection_params is None and document:
            operation = find_operation(document, execution.operation_name)
            context.cost = operation_cost(document, operation)
        yield


class CallerTokenLimit(SchemaExtension):
    """Strawberry's MaxTokensLimiter, with the budget of the caller: MAX_TOKENS for valid
    credentials, ANONYMOUS_MAX_TOKENS otherwise (checked before the document is parsed)."""

    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        limit = await token_budget(context) if isinstance(context, Context) else MAX_TOKENS
        self.execution_context.parse_options["max_tokens"] = limit
        yield


async def token_budget(context: Context) -> int:
    """The tokens a caller's document may hold."""
    return MAX_TOKENS if await context.identified() else ANONYMOUS_MAX_TOKENS


def validated(
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
) -> list[GraphQLError]:
    """A document's validation errors, computed once per text (VALIDATION_CACHE), whichever path
    asks first: a compiled plan's admission or Strawberry's validation."""
    key = (schema, query, rules)
    errors = VALIDATION_CACHE.get(key)
    if errors is None:
        errors = VALIDATION_CACHE[key] = validate_document(schema, document, rules)
    return errors


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
        description="Chats of an account (the caller's own by default), newest first."
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
        description="Create a chat room (and its session). Same rules as POST /api/chats."
    )
    async def create_chat(
        self, info: Info[Context, None], input: CreateChatInput | None = strawberry.UNSET
    ) -> CreateChatPayload | None:
        caller = await info.context.caller()
        payload = input.payload() if input else {}
        chat = await chat_cases.create_chat(caller, parse_new_chat(payload))
        return CreateChatPayload(chat=ChatRoom.from_model(chat))

    @strawberry.mutation(
        description="Rename a chat; bumps its updatedAt. Same as PATCH /api/chats."
    )
    async def update_chat(
        self, info: Info[Context, None], input: UpdateChatInput
    ) -> UpdateChatPayload | None:
        caller = await info.context.caller()
        chat = await chat_cases.update_chat(caller, parse_chat_update(input.payload()))
        return UpdateChatPayload(chat=ChatRoom.from_model(chat))

    @strawberry.mutation(description="Delete a chat. Same as DELETE /api/chats.")
    async def delete_chat(
        self, info: Info[Context, None], input: DeleteChatInput
    ) -> DeleteChatPayload | None:
        caller = await info.context.caller()
        chat = await chat_cases.delete_chat(caller, parse_uuid(input.chat_id, "chatId"))
        return DeleteChatPayload(chat_id=chat.id)


@strawberry.type
class Subscription(ConversationSubscriptions):
    @strawberry.subscription(
        description="Changes to an account's chats (the caller's own by default), as they happen."
    )
    async def chat_events(
        self, info: Info[Context, None], account_id: uuid.UUID | None = strawberry.UNSET
    ) -> AsyncGenerator[ChatEvent, None]:
        # Errors of a running stream bypass the schema's extensions: give them their code here.
        try:
            caller = await info.context.caller()
            owner = _optional_uuid(account_id, "accountId")
            async for event in chat_cases.chat_events(caller, owner):
                chat = ChatRoom.from_model(event.chat)
                yield ChatEvent(type=ChatEventType(event.type), chat=chat)
        except ServiceError as exc:
            raise from_service_error(exc) from exc


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """ErrorCodes logs what deserves a log line; expected errors are answers, not incidents."""


# Built once: QueryDepthLimiter and MaxAliasesLimiter make a new rule class per instance, and a
# per-request instance would then never hit the validation cache (its key holds the rule classes).
LIMIT_RULES: list[type[ASTValidationRule]] = [
    query_depth_limiter.create_validator(MAX_DEPTH, should_ignore=None),
    max_aliases.create_validator(MAX_ALIASES),
]


class LimitRules(AddValidationRules):
    """The depth and alias limits, as validation rules."""

    def __init__(self) -> None:
        super().__init__(LIMIT_RULES)


# In order; schema/execution/cache.py's COMPILES_FOR names the same.
EXTENSIONS = (
    ErrorCodes,
    LimitRules,
    CallerTokenLimit,
    TextParserCache,
    TextValidationCache,
    OperationNameRequired,
    OperationCost,
)


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

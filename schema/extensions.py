"""The schema's extensions, in the order they run, and the limits they hold a document to:
the caller's token budget, the depth and alias rules, the parse and validation caches, the
operation-name rule and the rate-limit cost. A compiled plan reproduces each
(`schema/execution/plans.py` names them); `schema.errors.ErrorCodes` comes first."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from cachetools import LRUCache
from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
)
from strawberry.extensions import AddValidationRules, SchemaExtension

from schema.context import Context
from schema.cost import find_operation, operation_cost
from schema.errors import ErrorCodes
from schema.execution.private import (
    aliases_rule,
    depth_rule,
    graphql_schema,
    provided_operation_name,
    validate_document,
)

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


# Built once: QueryDepthLimiter and MaxAliasesLimiter make a new rule class per instance, and a
# per-request instance would then never hit the validation cache (its key holds the rule classes).
LIMIT_RULES: list[type[ASTValidationRule]] = [
    depth_rule(MAX_DEPTH),
    aliases_rule(MAX_ALIASES),
]


class LimitRules(AddValidationRules):
    """The depth and alias limits, as validation rules."""

    def __init__(self) -> None:
        super().__init__(LIMIT_RULES)


# In order; schema/execution/plans.py's COMPILES_FOR names the same.
EXTENSIONS = (
    ErrorCodes,
    LimitRules,
    CallerTokenLimit,
    TextParserCache,
    TextValidationCache,
    OperationNameRequired,
    OperationCost,
)

"""Every private name of Strawberry and graphql-core this service relies on, in one place.

Strawberry builds its resolvers' `info` from a private class, and graphql-core's field collection,
variable signatures and value coercion live in modules its package does not export. The compiled
path (and the schema's own extensions) use them through this module only;
`tests/unit/test_private_api.py` pins each one's signature or fields, so that an upgrade that
changes one fails there, loudly, rather than as a wrong answer.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    OperationDefinitionNode,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.get_variable_signature import (
    GraphQLVariableSignature,
    get_variable_signature,
)
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    get_argument_values,
    input_is_nested_too_deeply,
    maybe_use_default_value,
)
from graphql.pyutils import Path
from strawberry import Schema
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import max_aliases, query_depth_limiter
from strawberry.schema.schema import _OperationContextAwareGraphQLResolveInfo, validate_document
from strawberry.types import ExecutionContext
from strawberry.types.field import StrawberryField

# Strawberry's `info` for resolvers; built by `resolve_info` below.
ResolveInfo = _OperationContextAwareGraphQLResolveInfo

__all__ = [
    "FieldDetails",
    "FragmentDetails",
    "GraphQLVariableSignature",
    "ResolveInfo",
    "VariableValueSource",
    "VariableValues",
    "aliases_rule",
    "collect_fields",
    "collect_subfields",
    "depth_rule",
    "field_exception_handlers",
    "get_argument_values",
    "get_variable_signature",
    "graphql_schema",
    "input_is_nested_too_deeply",
    "is_default_resolver",
    "maybe_use_default_value",
    "optimized_is_awaitable",
    "provided_operation_name",
    "resolve_info",
    "strawberry_info",
    "validate_document",
]


def graphql_schema(schema: Schema) -> GraphQLSchema:
    """graphql-core's schema inside Strawberry's."""
    return schema._schema


def provided_operation_name(context: ExecutionContext) -> str | None:
    """The operation name the request sent (`operation_name` falls back to the first one's)."""
    return context._provided_operation_name


def field_exception_handlers(schema: Schema, field: StrawberryField) -> tuple[Any, ...]:
    """The exception handlers Strawberry's resolver wrapper would apply to `field`."""
    return schema.schema_converter._get_field_exception_handlers(field)


def resolve_info(
    field_nodes: list[FieldNode],
    return_type: GraphQLOutputType,
    parent_type: GraphQLObjectType,
    path: Path,
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
    variable_values: dict[str, Any],
    context: Any,
    operation_extensions: Any,
) -> Any:
    """The `info` graphql-core would give a root field's resolver under Strawberry (no root
    value, no abort signal, no async helpers)."""
    return ResolveInfo(
        field_nodes[0].name.value,
        field_nodes,
        return_type,
        parent_type,
        path,
        schema,
        fragments,
        None,
        operation,
        variable_values,
        context,
        optimized_is_awaitable,
        None,
        None,
        operation_extensions,
    )


def depth_rule(max_depth: int) -> type[ASTValidationRule]:
    """Strawberry's query-depth validation rule (its extension makes one per instance)."""
    return query_depth_limiter.create_validator(max_depth, should_ignore=None)


def aliases_rule(max_aliases_count: int) -> type[ASTValidationRule]:
    """Strawberry's alias-count validation rule (likewise)."""
    return max_aliases.create_validator(max_aliases_count)


def strawberry_info(info_class: type[Any], raw_info: Any, field: StrawberryField) -> Any:
    """Strawberry's `Info` for a resolver, as its resolver wrapper builds it."""
    return info_class(_raw_info=raw_info, _field=field)


def is_default_resolver(resolve: Any) -> bool:
    """Whether graphql-core's field resolver is Strawberry's default (an attribute read)."""
    return bool(getattr(resolve, "_is_default", False))

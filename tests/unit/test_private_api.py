"""The private names of Strawberry and graphql-core the service relies on
(`schema/execution/private.py`), pinned: an upgrade that changes one fails here, by name, rather
than as a wrong answer somewhere in the compiled path."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import graphql
import pytest
from graphql import GraphQLSchema
from strawberry.types import ExecutionContext

from schema.execution import private
from schema.schema import build_schema


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (
            private.collect_fields,
            ["schema", "fragments", "variable_values", "runtime_type", "operation"],
        ),
        (
            private.collect_subfields,
            ["schema", "fragments", "variable_values", "operation", "return_type"],
        ),
        (private.get_variable_signature, ["schema", "var_def_node"]),
        (private.get_argument_values, ["type_def", "node", "variable_values"]),
        (private.input_is_nested_too_deeply, ["value", "type_"]),
        (private.maybe_use_default_value, ["coerced_values", "name", "input_value", "on_error"]),
        (private.optimized_is_awaitable, ["value"]),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_functions_take_the_arguments_they_are_given(
    function: Callable[..., Any], expected: list[str]
) -> None:
    # The leading positional parameters; later ones have defaults and are not passed.
    assert parameters(function)[: len(expected)] == expected


@pytest.mark.parametrize(
    ("named_tuple", "fields"),
    [
        (private.FieldDetails, ("node", "defer_usage", "fragment_variable_values")),
        (private.FragmentDetails, ("definition", "variable_signatures")),
        (private.GraphQLVariableSignature, ("name", "type", "default", "default_value")),
        (private.VariableValues, ("sources", "coerced")),
        (private.VariableValueSource, ("signature", "value")),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_records_have_the_fields_read(named_tuple: Any, fields: tuple[str, ...]) -> None:
    assert named_tuple._fields == fields


def test_resolve_info_is_built_from_the_fifteen_fields_in_order() -> None:
    """`private.resolve_info` passes them by position."""
    info_class = private.ResolveInfo
    assert parameters(info_class) == [
        "field_name",
        "field_nodes",
        "return_type",
        "parent_type",
        "path",
        "schema",
        "fragments",
        "root_value",
        "operation",
        "variable_values",
        "context",
        "is_awaitable",
        "abort_signal",
        "async_helpers",
        "operation_extensions",
    ]


def test_strawberry_schema_holds_graphql_cores_and_its_field_handlers() -> None:
    schema = build_schema()
    assert isinstance(private.graphql_schema(schema), GraphQLSchema)
    handlers = schema.schema_converter._get_field_exception_handlers
    assert parameters(handlers) == ["field"]
    field = schema.get_type_by_name("Query").fields[0]  # type: ignore[union-attr]
    assert private.field_exception_handlers(schema, field) == ()


def test_execution_context_keeps_the_operation_name_sent() -> None:
    schema = build_schema()
    unnamed = ExecutionContext(query="{ a }", schema=schema, allowed_operations=())
    assert private.provided_operation_name(unnamed) is None
    named = ExecutionContext(
        query="query A { a }", schema=schema, allowed_operations=(), provided_operation_name="A"
    )
    assert private.provided_operation_name(named) == "A"


def test_the_validation_rules_and_validation_are_strawberrys() -> None:
    schema = build_schema()
    depth, aliases = private.depth_rule(1), private.aliases_rule(1)
    assert parameters(private.validate_document) == ["schema", "document", "validation_rules"]
    deep = graphql.parse("{ viewer { account { id } } }")
    aliased = graphql.parse("{ a: __typename b: __typename }")
    graphql_schema = private.graphql_schema(schema)
    assert private.validate_document(graphql_schema, deep, (depth,))
    assert not private.validate_document(graphql_schema, aliased, (depth,))
    assert private.validate_document(graphql_schema, aliased, (aliases,))


def test_strawberrys_info_and_default_resolver() -> None:
    schema = build_schema()
    query = schema.get_type_by_name("Query")
    field = query.fields[0]  # type: ignore[union-attr]
    info = private.strawberry_info(schema.config.info_class, object(), field)
    assert info._field is field
    account = private.graphql_schema(schema).get_type("Account")
    assert private.is_default_resolver(account.fields["id"].resolve)  # type: ignore[union-attr]
    viewer = private.graphql_schema(schema).get_type("Query")
    assert not private.is_default_resolver(viewer.fields["viewer"].resolve)  # type: ignore[union-attr]

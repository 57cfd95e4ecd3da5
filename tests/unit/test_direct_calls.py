"""Compiled plans call the root resolvers directly, with arguments converted by a plan that gives
exactly what Strawberry's own conversion gives (tests/contract/test_compiled.py then proves the
whole answers equal, through both engines)."""

from __future__ import annotations

from typing import Any

import graphql
import pytest
from graphql import GraphQLObjectType
from graphql.execution.values import get_variable_values
from hypothesis import given
from hypothesis import strategies as st
from strawberry.types.arguments import convert_argument
from strawberry.types.field import StrawberryField

from schema.execution.coercion import argument_converter, direct_call
from schema.execution.plan import Plan
from schema.schema import build_schema

SCHEMA = build_schema()
ROOTS = [
    (root.name, name, field_def)
    for root in (SCHEMA._schema.query_type, SCHEMA._schema.mutation_type)
    if isinstance(root, GraphQLObjectType)
    for name, field_def in root.fields.items()
]


@pytest.mark.parametrize(
    ("root", "name", "field_def"), ROOTS, ids=[f"{r}.{n}" for r, n, _ in ROOTS]
)
def test_every_root_resolver_is_called_directly(root: str, name: str, field_def: Any) -> None:
    assert direct_call(SCHEMA, field_def) is not None


def _arguments() -> list[Any]:
    found = []
    for _, _, field_def in ROOTS:
        definition = field_def.extensions["strawberry-definition"]
        assert isinstance(definition, StrawberryField)
        found += definition.arguments
    return found


ARGUMENTS = _arguments()
ids = st.uuids()
# Values as graphql-core hands them over after coercion: scalars parsed, input objects as dicts
# holding only the fields that were sent.
RAW = st.one_of(
    st.none(),
    ids,
    st.integers(-5, 200),
    st.text(max_size=5),
    st.dictionaries(
        st.sampled_from(["artistId", "chatId", "accountId", "topic"]),
        st.one_of(st.none(), ids, st.text(max_size=5)),
    ),
)


@given(index=st.integers(0, len(ARGUMENTS) - 1), raw=RAW)
def test_planned_conversion_equals_strawberrys(index: int, raw: Any) -> None:
    argument = ARGUMENTS[index]
    registry, config = SCHEMA.schema_converter.scalar_registry, SCHEMA.config
    if isinstance(raw, dict) and not _takes_object(argument.type):
        raw = None  # a scalar argument never receives an object
    if not isinstance(raw, dict) and _takes_object(argument.type) and raw is not None:
        raw = {}
    expected = convert_argument(raw, argument.type, registry, config)
    planned = argument_converter(argument.type, registry, config)(raw)
    assert type(planned) is type(expected)
    assert planned == expected


def _takes_object(type_: Any) -> bool:
    inner = getattr(type_, "of_type", type_)
    return hasattr(inner, "__strawberry_definition__")


VARIABLES_DOCUMENT = """
mutation ($input: CreateChatInput = {topic: "default"}, $id: UUID!, $first: Int, $ids: [UUID!]) {
  createChat(input: $input) { chat { id } }
  updateChat(input: {chatId: $id, topic: "x"}) { chat { id } }
}
"""


@given(
    variables=st.dictionaries(
        st.sampled_from(["input", "id", "first", "ids", "unknown"]),
        st.one_of(
            st.none(),
            st.integers(-3, 3),
            st.text(max_size=3),
            st.uuids().map(str),
            st.lists(st.uuids().map(str), max_size=2),
            st.dictionaries(st.sampled_from(["topic", "chatId", "nope"]), st.text(max_size=3)),
        ),
    )
)
def test_planned_variable_coercion_equals_graphql_cores(variables: dict[str, Any]) -> None:
    document = graphql.parse(VARIABLES_DOCUMENT)
    operation = document.definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    plan = Plan(SCHEMA, document, operation)
    expected = get_variable_values(SCHEMA._schema, operation.variable_definitions or (), variables)
    planned = plan.coerce(variables)
    if isinstance(expected, list):  # errors: the plan leaves the request to Strawberry
        assert planned is None
    else:
        assert planned is not None
        assert planned.coerced == expected.coerced
        # Sources hold the signatures: planned once, so equal in content, not the same objects.
        assert _sources(planned) == _sources(expected)


def _sources(values: Any) -> dict[str, Any]:
    return {
        name: (
            source.signature.name,
            str(source.signature.type),
            source.signature.default and graphql.print_ast(source.signature.default.literal),
            source.value,
        )
        for name, source in values.sources.items()
    }

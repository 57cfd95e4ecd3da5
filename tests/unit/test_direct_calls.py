"""Compiled plans call the root resolvers directly, with arguments converted by a plan that gives
exactly what Strawberry's own conversion gives (tests/contract/test_compiled.py then proves the
whole answers equal, through both engines)."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLObjectType
from hypothesis import given
from hypothesis import strategies as st
from strawberry.types.arguments import convert_argument
from strawberry.types.field import StrawberryField

from schema.compiled import _converter, _direct_call
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
    assert _direct_call(SCHEMA, field_def) is not None


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
    planned = _converter(argument.type, registry, config)(raw)
    assert type(planned) is type(expected)
    assert planned == expected


def _takes_object(type_: Any) -> bool:
    inner = getattr(type_, "of_type", type_)
    return hasattr(inner, "__strawberry_definition__")

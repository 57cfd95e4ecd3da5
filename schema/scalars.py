"""UUID and DateTime as the contract writes them.

`UUID` input values reach the resolvers as sent, so the one validation rule there decides and the
error names the field exactly as REST does ("chatId must be a valid UUID"), instead of a generic
coercion error raised before any resolver runs.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from graphql import StringValueNode, ValueNode, value_from_ast_untyped
from strawberry.types.scalar import ScalarDefinition

from resolvers.models import iso_timestamp


def _serialize_uuid(value: Any) -> str:
    return str(value)


def _literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
    if isinstance(node, StringValueNode):
        return node.value
    return value_from_ast_untyped(node, variables)


def _raw(value: Any) -> Any:
    return value


UUIDScalar = strawberry.scalar(
    name="UUID",
    description="A UUID in its canonical 8-4-4-4-12 hexadecimal form.",
    serialize=_serialize_uuid,
    parse_value=_raw,
    parse_literal=_literal,
)

DateTimeScalar = strawberry.scalar(
    name="DateTime",
    description="An ISO 8601 timestamp in UTC with microseconds, e.g. 2026-11-28T20:18:23.123456Z.",
    serialize=iso_timestamp,
    parse_value=datetime.fromisoformat,
)

SCALARS: dict[object, ScalarDefinition] = {uuid.UUID: UUIDScalar, datetime: DateTimeScalar}

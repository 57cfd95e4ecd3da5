"""The validation cache: keyed by the document's text, it answers a document seen before exactly as
validating it again would, without walking the parsed tree."""

from __future__ import annotations

import graphql
import pytest

from schema.extensions import VALIDATION_CACHE
from schema.schema import build_schema

INVALID = "{ chats(first: 1) { edges { node { nope } } } }"


@pytest.mark.anyio
async def test_a_cached_document_gets_the_errors_validation_gives() -> None:
    schema = build_schema()
    first = await schema.execute(INVALID)
    keys = [key for key in VALIDATION_CACHE if key[1] == INVALID and key[0] is schema._schema]
    assert len(keys) == 1  # looked up by its text
    second = await schema.execute(INVALID)
    fresh = graphql.validate(schema._schema, graphql.parse(INVALID))
    assert first.errors is not None
    assert second.errors is not None
    assert [e.formatted for e in second.errors] == [e.formatted for e in first.errors]
    assert [e.message for e in first.errors] == [e.message for e in fresh]
    assert first.errors[0].message == "Cannot query field 'nope' on type 'ChatRoom'."


@pytest.mark.anyio
async def test_documents_that_differ_only_in_text_are_cached_apart() -> None:
    schema = build_schema()
    # Same tree, different text (a space): each gets its own entry, each its own locations.
    one, other = "{ __typename }", "{  __typename }"
    assert (await schema.execute(one)).data == {"__typename": "Query"}
    assert (await schema.execute(other)).data == {"__typename": "Query"}
    texts = {key[1] for key in VALIDATION_CACHE if key[0] is schema._schema}
    assert {one, other} <= texts

"""The GraphQL pipeline compiles only for the schema extensions whose effects a plan reproduces."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from strawberry.extensions import MaskErrors

from schema.edge import graphql_edge
from schema.execution.plans import COMPILES_FOR
from schema.extensions import EXTENSIONS
from schema.schema import Mutation, Query, Schema, Subscription


def schema_with(extensions: list[Any]) -> Schema:
    return Schema(query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions)


def test_the_service_schema_is_compiled(caplog: pytest.LogCaptureFixture) -> None:
    assert EXTENSIONS == COMPILES_FOR
    assert graphql_edge().http.plans is not None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    "extensions",
    [[*EXTENSIONS, MaskErrors], list(EXTENSIONS[:-1]), list(reversed(EXTENSIONS))],
    ids=["one more", "one fewer", "another order"],
)
def test_other_extensions_turn_compilation_off_with_one_line(
    extensions: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="chats_api"):
        app = graphql_edge(schema=schema_with(extensions)).http
    assert app.plans is None
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.startswith("GraphQL documents are not compiled: the schema's extensions (")

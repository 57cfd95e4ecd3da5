"""The parser cache: a document is parsed at most once a request, a bad one included (its syntax
error still gets a code), and once for every token budget it is read within."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from graphql.language.parser import Parser

from schema.extensions import MAX_TOKENS, PARSED
from schema.schema import build_schema

pytestmark = pytest.mark.anyio


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every document graphql-core parses, whoever asks: Strawberry, an extension or a plan."""
    texts: list[str] = []
    real = Parser.parse_document

    def counted(parser: Parser) -> Any:
        texts.append(parser._lexer.source.body)
        return real(parser)

    monkeypatch.setattr(Parser, "parse_document", counted)
    return texts


async def test_a_document_that_does_not_parse_is_parsed_once(parses: list[str]) -> None:
    bad = f"# {uuid.uuid4()}\n{{ chats {{ edges "
    result = await build_schema().execute(bad)
    assert result.errors is not None
    [error] = result.errors
    assert error.message == "Syntax Error: Expected Name, found <EOF>."
    assert error.extensions == {"code": "BAD_USER_INPUT"}
    assert parses == [bad]


async def test_a_document_seen_before_is_not_parsed_again(parses: list[str]) -> None:
    text = f"# {uuid.uuid4()}\n{{ __typename }}"
    schema = build_schema()
    for _ in range(3):
        assert (await schema.execute(text)).data == {"__typename": "Query"}
    assert parses == [text]


async def test_a_document_is_cached_apart_for_each_token_budget() -> None:
    text = f"# {uuid.uuid4()}\n{{ __typename }}"
    schema = build_schema()
    assert (await schema.execute(text)).data == {"__typename": "Query"}
    [key] = [key for key in PARSED if key[0] == text]
    # A caller with another budget gets the text parsed within it, not the document parsed
    # within this one (tests/contract/test_abuse.py: the stranger after the key holder).
    assert key == (text, (("max_tokens", MAX_TOKENS),))

"""The bound on a document's selections is told from its tokens, before it is parsed: the count
agrees with one taken from the parsed document, whatever strings, comments, arguments, aliases,
directives and fragments hold."""

from __future__ import annotations

import pytest
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_introspection_query,
    parse,
)
from hypothesis import given
from hypothesis import strategies as st

from schema.cost import selects_more_than

DOCUMENTS = [
    "{ viewer { account { id } } }",
    'query Q($first: Int = 5, $input: CreateChatInput = {topic: "{ a b c }"}) {'
    " a: chats(first: $first) @include(if: true) { edges { node { id title } } } }",
    'mutation { createChat(input: {topic: """ { x y z } \\""" { } """}) { chat { id } } }',
    "# { a b c d e f }\n{ ...F ... on Query { viewer { account { id } } } ... { __typename } }"
    " fragment F on Query { x: viewer @skip(if: false) { account { id name } } }",
    'subscription S { chatEvents(accountId: "x") { type chat { id } } }',
    "{ chats(filter: [{a: 1, b: [2, {c: d}]}], n: -1.5e3) { edges { cursor } } }",
    get_introspection_query(descriptions=True, input_value_deprecation=True),
]


def counted(document: DocumentNode) -> int:
    """Fields and fragment spreads as written, from the parsed document."""
    stack: list[SelectionSetNode] = [
        d.selection_set
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    count = 0
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
                continue
            count += 1
            if isinstance(selection, FieldNode) and selection.selection_set is not None:
                stack.append(selection.selection_set)
    return count


def assert_agrees(text: str) -> None:
    count = counted(parse(text))
    assert selects_more_than(text, count - 1, 10_000)
    assert not selects_more_than(text, count, 10_000)


@pytest.mark.parametrize("text", DOCUMENTS)
def test_the_count_agrees_with_the_parsed_document(text: str) -> None:
    assert_agrees(text)


names = st.sampled_from(["id", "viewer", "on", "query", "fragment", "true", "x"])
value = st.recursive(
    st.one_of(st.integers().map(str), names, st.just('"} { ) ("'), st.just("$v")),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + " ".join(xs) + "]"),
        st.lists(st.tuples(names, inner), max_size=3).map(
            lambda kv: "{" + " ".join(f"{k}: {v}" for k, v in kv) + "}"
        ),
    ),
    max_leaves=5,
)
arguments = st.lists(st.tuples(names, value), max_size=2).map(
    lambda kv: "(" + ", ".join(f"{k}: {v}" for k, v in kv) + ")" if kv else ""
)
directives = st.lists(st.tuples(names, arguments), max_size=2).map(
    lambda ds: "".join(f" @{n}{a}" for n, a in ds)
)


def selection_sets(depth: int) -> st.SearchStrategy[str]:
    leaf = st.tuples(st.one_of(st.just(""), names.map(lambda a: a + ": ")), names, arguments)
    field = leaf.map(lambda t: "".join(t))
    if depth > 0:
        inner = selection_sets(depth - 1)
        field = st.one_of(field, st.tuples(field, directives, inner).map(" ".join))
        spread = st.one_of(
            names.map(lambda n: f"...F{n}"),
            st.tuples(st.sampled_from(["", "on Query"]), directives, inner).map(
                lambda t: "... " + " ".join(t)
            ),
        )
        field = st.one_of(field, spread)
    return st.lists(field, min_size=1, max_size=4).map(lambda fs: "{ " + " ".join(fs) + " }")


@given(st.lists(selection_sets(3), min_size=1, max_size=2))
def test_the_count_agrees_on_generated_documents(bodies: list[str]) -> None:
    text = bodies[0] + "".join(f" fragment F{i} on Query {b}" for i, b in enumerate(bodies[1:]))
    assert_agrees(text)


def test_a_document_it_cannot_read_is_left_to_the_parser() -> None:
    assert not selects_more_than("{ ^" + " a" * 500 + " }", 10, 10_000)  # not GraphQL
    assert not selects_more_than("{" + " a" * 500 + " }", 10, 100)  # over the token budget
    assert not selects_more_than("{ a } }" + " a" * 50, 10, 10_000)  # unbalanced
    assert not selects_more_than("{" + " a" * 500 + " ^ }", 10, 10_000)

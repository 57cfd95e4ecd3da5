"""Generated requests against a live server: the REST edge from the service's own OpenAPI
document, the GraphQL edge from its schema, and raw bodies no schema would produce. Thousands of
them: no 5xx, every answer as documented."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import graphql
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes
from schemathesis.specs.openapi.checks import positive_data_acceptance

from rest.openapi import DOCUMENT
from schema.schema import sdl
from tests.support.databases import Database
from tests.support.servers import provision, serving

pytestmark = pytest.mark.slow
EXAMPLES = 250
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases on every run: a failure in CI replays locally
)


def _json_node(value: Any) -> graphql.ValueNode:
    """A JSON value as a GraphQL literal: what a client writes for the `JSON` scalar."""
    if isinstance(value, dict):
        return nodes.Object(
            [
                graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=_json_node(v))
                for k, v in value.items()
            ]
        )
    if isinstance(value, list):
        return nodes.List([_json_node(v) for v in value])
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if value is None:
        return graphql.NullValueNode()
    return nodes.String(value)


# AI SDK parts, valid or not: objects keyed by GraphQL names (`type` and `text` among them).
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31 - 1) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["type", "text", "toolCallId", "input", "url", "x"]), inner, max_size=3
        )
    ),
    max_leaves=8,
)
schemathesis.graphql.scalar("JSON", _JSON.map(_json_node))
rest_schema = schemathesis.openapi.from_dict(DOCUMENT)
graphql_schema = schemathesis.graphql.from_file(sdl())


class Live:
    def __init__(self, base: str, key: str, client: httpx.Client) -> None:
        self.base = base
        self.key = key
        # One client for the module's thousand requests: a new one per request loads the CA
        # bundle each time, which costs more CPU than the request.
        self.client = client


@pytest.fixture(scope="module")
def live(postgres_database: Database) -> Iterator[Live]:
    """The production engine; the contract suite covers SQLite's answers to the same input."""
    database = postgres_database
    asyncio.run(database.truncate())
    _, key = provision(database)
    with serving(database) as base, httpx.Client() as client:
        yield Live(base, key, client)


@rest_schema.parametrize()
@FUZZ
def test_rest_edge_conforms_to_its_openapi_document(case: Any, live: Live) -> None:
    case.call_and_validate(
        base_url=live.base,
        headers={"x-api-key": live.key},
        # Some rules are beyond a JSON schema (an opaque cursor that must be one we made, a
        # chatId that must exist): a schema-valid request may rightly be answered 400 or 404.
        excluded_checks=[positive_data_acceptance],
    )


@graphql_schema.parametrize()
@FUZZ
def test_graphql_edge_never_fails_on_generated_operations(case: Any, live: Live) -> None:
    response = case.call(base_url=f"{live.base}/graphql", headers={"x-api-key": live.key})
    assert response.status_code == 200, response.text
    body = response.json()
    codes = {error.get("extensions", {}).get("code") for error in body.get("errors") or []}
    assert "INTERNAL_SERVER_ERROR" not in codes, body
    assert codes <= {
        "BAD_USER_INPUT",
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "NOT_FOUND",
        "CONFLICT",
        "TOO_MANY_REQUESTS",
        "SERVICE_UNAVAILABLE",
        # A generated `first: 99999` prices a document over COST_LIMIT: refused before it runs.
        "COST_LIMIT_EXCEEDED",
    }, body


NASTY = st.one_of(
    st.binary(max_size=300),  # invalid UTF-8 among it
    st.builds(lambda n: b"[" * n + b"]" * n, st.integers(1, 30_000)),  # deep nesting
    st.builds(lambda n: b'{"topic": ' + b"9" * n + b"}", st.integers(1, 5_000)),  # huge numbers
    st.builds(lambda s: json.dumps({"topic": s}).encode(), st.text(max_size=300)),  # NUL, controls
    st.builds(lambda n: json.dumps({"topic": "x" * n}).encode(), st.integers(0, 70_000)),
    st.builds(
        lambda d: json.dumps(d).encode(),
        st.dictionaries(
            st.sampled_from(["artistId", "chatId", "accountId", "topic", "other"]),
            st.one_of(
                st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.uuids().map(str)
            ),
        ),
    ),
)


@given(body=NASTY, method=st.sampled_from(["POST", "PATCH", "DELETE"]))
@FUZZ
def test_raw_bodies_never_break_the_rest_edge(live: Live, body: bytes, method: str) -> None:
    response = live.client.request(
        method, f"{live.base}/api/chats", content=body, headers={"x-api-key": live.key}
    )
    assert response.status_code in (200, 400, 403, 404, 409, 413), response.text
    assert response.headers["content-type"] == "application/json"
    envelope = response.json()
    assert envelope["status"] == ("success" if response.status_code == 200 else "error")


@given(
    variables=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
@FUZZ
def test_raw_variables_never_break_the_graphql_edge(live: Live, variables: object) -> None:
    document = (
        "mutation Create($input: CreateChatInput) { createChat(input: $input) { chat { id } } }"
    )
    response = live.client.post(
        f"{live.base}/graphql",
        json={"query": document, "variables": {"input": variables}},
        headers={"x-api-key": live.key},
    )
    assert response.status_code == 200, response.text
    codes = {e["extensions"]["code"] for e in response.json().get("errors") or []}
    assert codes <= {"BAD_USER_INPUT"}, response.text


# The strings a request carries, as a hostile client crafts them: any code point, lone surrogates
# and controls included, and times or cursors at the edges of what an engine can hold.
CRAFTED = st.one_of(
    st.text(st.characters(exclude_categories=[]), max_size=40),
    st.sampled_from(["\ud800", "\udfff x", "a\u202eb", "\x00", "0" * 40]),
    st.builds(
        lambda moment: base64.urlsafe_b64encode(
            f"{moment}|00000000-0000-7000-8000-000000000000".encode()
        ).decode(),
        st.sampled_from(
            ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-01-01T00:00:00"]
        ),
    ),
)


def _json(value: Any) -> bytes:
    """ASCII-escaped, so that lone surrogates travel as `\\ud800` escapes, as an attacker sends
    them."""
    return json.dumps(value).encode()


@given(name=CRAFTED, topic=CRAFTED, ident=CRAFTED, cursor=CRAFTED)
@settings(FUZZ, max_examples=120)  # four requests each
def test_crafted_strings_never_answer_5xx(
    live: Live, name: str, topic: str, ident: str, cursor: str
) -> None:
    """Operation names, variables, cursors, topics and ids, on both edges."""
    headers = {"x-api-key": live.key, "content-type": "application/json"}
    create = (
        "mutation Create($input: CreateChatInput) { createChat(input: $input) { chat { id } } }"
    )
    page = (
        "query Page($after: String, $id: UUID) {"
        " chats(after: $after, accountId: $id) { edges { cursor } } }"
    )
    query_string = urllib.parse.urlencode(
        {"cursor": cursor, "accountId": ident}, encoding="utf-8", errors="surrogatepass"
    )
    answers = [
        live.client.post(
            f"{live.base}/graphql",
            content=_json(
                {
                    "query": create,
                    "operationName": name,
                    "variables": {"input": {"topic": topic, "chatId": ident}},
                }
            ),
            headers=headers,
        ),
        live.client.post(
            f"{live.base}/graphql",
            content=_json({"query": page, "variables": {"after": cursor, "id": ident}}),
            headers=headers,
        ),
        live.client.post(
            f"{live.base}/api/chats",
            content=_json({"topic": topic, "accountId": ident}),
            headers=headers,
        ),
        live.client.get(f"{live.base}/api/chats?{query_string}", headers=headers),
    ]
    for response in answers:
        assert response.status_code < 500, response.text
        if response.status_code == 200 and "errors" in response.text:
            codes = {e["extensions"]["code"] for e in response.json()["errors"]}
            assert "INTERNAL_SERVER_ERROR" not in codes, response.text

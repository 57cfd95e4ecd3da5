"""A GraphQL request read in one pass answers exactly as Strawberry's own reading does.

`GraphQLApp.parse_http_body` reads the common JSON POST itself and hands everything else to
Strawberry. Each request below goes to the same app twice, once with its own reading and once
with Strawberry's alone (`reads_json = False`); status, media type and body must be identical.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from schema.http import GraphQLApp

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]

TYPENAME = {"query": "query Name { __typename }", "operationName": "Name"}
PERSISTED = {"version": 1, "sha256Hash": "0" * 64}

CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json;charset=utf-8",
    "application/json; charset=UTF-8",
    "Application/JSON",
    "application/graphql-response+json",
    "text/plain",
    "multipart/form-data; boundary=x",
]

BODIES: list[Any] = [
    TYPENAME,
    {**TYPENAME, "variables": None, "extensions": None},
    {**TYPENAME, "variables": {"unused": 1}},
    {"query": "query ($n: Int!) { __typename }", "variables": {"n": "one"}},
    {"query": 1},
    {"query": ["{ __typename }"]},
    {**TYPENAME, "variables": []},
    {**TYPENAME, "variables": "{}"},
    {**TYPENAME, "extensions": "x"},
    {**TYPENAME, "operationName": 5},
    {**TYPENAME, "operationName": "Other"},
    {"query": "{ nope }"},
    {"query": "{"},
    {},
    {"documentId": "not-published"},
    {"documentId": 7, "query": "{ __typename }"},
    {"extensions": {"persistedQuery": PERSISTED}},
    {**TYPENAME, "extensions": {"persistedQuery": PERSISTED}},
    [TYPENAME],
    [],
]


async def answers(
    app: Starlette, client: httpx.AsyncClient, content: bytes, headers: dict[str, str]
) -> list[tuple[int, str | None, bytes]]:
    graphql: GraphQLApp = app.state.graphql
    seen = []
    for reads_json in (True, False):
        graphql.reads_json = reads_json
        response = await client.post("/graphql", content=content, headers=headers)
        seen.append((response.status_code, response.headers.get("content-type"), response.content))
    graphql.reads_json = True
    return seen


async def test_the_app_reads_json_itself(app: Starlette) -> None:
    """No HTTP streaming transport is served, so the one-pass reading is on."""
    assert app.state.graphql.reads_json is True


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_a_well_formed_request_in_any_content_type(
    app: Starlette, client: httpx.AsyncClient, content_type: str, accept: str
) -> None:
    ours, strawberrys = await answers(
        app, client, json.dumps(TYPENAME).encode(), {"content-type": content_type, "accept": accept}
    )
    assert ours == strawberrys


@pytest.mark.parametrize("body", BODIES, ids=lambda body: json.dumps(body)[:40])
async def test_every_body_answers_as_strawberry_reads_it(
    app: Starlette, client: httpx.AsyncClient, body: Any
) -> None:
    ours, strawberrys = await answers(
        app, client, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    assert ours == strawberrys


@pytest.mark.parametrize("content", [b"", b"{", b"{]", b"\xff", b'{"query": "{ __typename }"} x'])
async def test_a_body_that_is_not_json(
    app: Starlette, client: httpx.AsyncClient, content: bytes
) -> None:
    ours, strawberrys = await answers(app, client, content, {"content-type": "application/json"})
    assert ours == strawberrys
    assert ours[0] == 400


@pytest.mark.parametrize("body", ["{ __typename }", 7, None, True])
@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=UTF-8"])
async def test_json_that_is_not_an_object_is_refused(
    client: httpx.AsyncClient, body: Any, content_type: str
) -> None:
    """Strawberry's own reading fails on it (a 500); the GraphQL edge refuses it as the REST
    edge does."""
    response = await client.post(
        "/graphql", content=json.dumps(body).encode(), headers={"content-type": content_type}
    )
    assert (response.status_code, response.text) == (400, "Request body must be a JSON object")


async def test_a_document_id_is_read_with_the_rest_of_the_body(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    graphql: GraphQLApp = app.state.graphql
    parsed: list[bytes | str] = []
    parse_json = graphql.parse_json

    def counted(data: bytes | str) -> Any:
        parsed.append(data)
        return parse_json(data)

    graphql.parse_json = counted  # type: ignore[method-assign]
    response = await client.post("/graphql", json={"documentId": "not-published"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert len(parsed) == 1

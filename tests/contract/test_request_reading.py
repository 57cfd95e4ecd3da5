"""A GraphQL request read by the service's own edge answers exactly as Strawberry's view reads it.

`schema.reading` reads the JSON POST (and GET's parameters) in one pass; Strawberry's view, which
read them before, is kept here as the reference: each request goes to the service and to a stock
Strawberry view of the same schema (with the service's JSON codec), and status, media type and
body must be identical wherever the service's own additions (trusted documents, persisted
queries, the GraphQL-over-HTTP media type) play no part.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL

from chats_api import jsoncodec
from schema.schema import build_schema

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
    {"query": "{ nope }"},
    {"query": "{"},
    [TYPENAME],
    [],
]


class StrawberrysView(GraphQL[Any, None]):
    """Strawberry's own view of the schema, reading with the service's JSON codec."""

    def decode_json(self, data: str | bytes) -> object:
        return jsoncodec.loads(data)

    def encode_json(self, data: object) -> bytes:
        return jsoncodec.dumps(data)


@pytest.fixture(scope="module")
def reference() -> Starlette:
    return Starlette(routes=[Route("/graphql", StrawberrysView(build_schema()))])


# What the service adds to a priced answer, last in its body; Strawberry's view prices nothing.
PRICED = re.compile(rb',"extensions":\{"cost":\{"estimated":\d+,"limit":\d+\}\}\}$')


async def answers(
    client: httpx.AsyncClient, reference: Starlette, content: bytes, headers: dict[str, str]
) -> list[tuple[int, str | None, bytes]]:
    """The service's answer, less its cost, and Strawberry's view's, to the same request."""
    seen = []
    transport = httpx.ASGITransport(app=reference)
    async with httpx.AsyncClient(transport=transport, base_url="http://reference") as strawberry:
        for each in (client, strawberry):
            response = await each.post("/graphql", content=content, headers=headers)
            body = response.content
            if each is client:
                body = PRICED.sub(b"}", body)
            seen.append((response.status_code, response.headers.get("content-type"), body))
    return seen


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
async def test_a_well_formed_request_in_any_content_type(
    client: httpx.AsyncClient, reference: Starlette, content_type: str
) -> None:
    ours, strawberrys = await answers(
        client, reference, json.dumps(TYPENAME).encode(), {"content-type": content_type}
    )
    assert ours == strawberrys


@pytest.mark.parametrize("body", BODIES, ids=lambda body: json.dumps(body)[:40])
async def test_every_body_answers_as_strawberry_reads_it(
    client: httpx.AsyncClient, reference: Starlette, body: Any
) -> None:
    ours, strawberrys = await answers(
        client, reference, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    assert ours == strawberrys


# Where Strawberry's view answers in plain text, the service answers in the error format clients
# read: a request error, by the media type the client accepts (a name that is not a string and a
# missing document are not well-formed requests: 400 either way).
IN_GRAPHQL_ERRORS = [
    pytest.param(
        {**TYPENAME, "operationName": 5}, 400, 'Unknown operation named "5".', id="name-5"
    ),
    pytest.param(
        {**TYPENAME, "operationName": "Other"}, 200, 'Unknown operation named "Other".', id="other"
    ),
    pytest.param({}, 400, "No GraphQL query found in the request", id="no-query"),
]


@pytest.mark.parametrize(("body", "status", "message"), IN_GRAPHQL_ERRORS)
async def test_what_strawberry_answers_in_plain_text_is_a_graphql_error(
    client: httpx.AsyncClient, body: Any, status: int, message: str
) -> None:
    response = await client.post("/graphql", json=body)
    assert response.status_code == status
    assert response.json() == {
        "data": None,
        "errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}],
    }
    spec = await client.post(
        "/graphql", json=body, headers={"accept": "application/graphql-response+json"}
    )
    assert (spec.status_code, spec.json()["errors"][0]["message"]) == (400, message)


@pytest.mark.parametrize("content", [b"", b"{", b"{]", b"\xff", b'{"query": "{ __typename }"} x'])
async def test_a_body_that_is_not_json(
    client: httpx.AsyncClient, reference: Starlette, content: bytes
) -> None:
    ours, strawberrys = await answers(
        client, reference, content, {"content-type": "application/json"}
    )
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
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/graphql", json={"documentId": "not-published"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    both = await client.post("/graphql", json={"documentId": 7, "query": "{ __typename }"})
    assert both.status_code == 400
    assert both.json()["errors"][0]["message"] == "Send either documentId or query, not both"


@pytest.mark.parametrize("query", [None, "{ __typename }"])
async def test_get_reads_the_same_fields_as_post(
    client: httpx.AsyncClient, reference: Starlette, query: str | None
) -> None:
    """GET's parameters, `variables` and `extensions` as JSON, with Strawberry's refusals."""
    transport = httpx.ASGITransport(app=reference)
    async with httpx.AsyncClient(transport=transport, base_url="http://reference") as strawberry:
        for parameters in (
            {"query": query, "variables": "{"},
            {"query": query, "variables": "[1]"},
            {"query": query, "extensions": "7"},
            {"query": query, "variables": ""},
        ):
            sent = {k: v for k, v in parameters.items() if v is not None}
            ours = await client.get("/graphql", params=sent, headers={"accept": "application/json"})
            theirs = await strawberry.get(
                "/graphql", params=sent, headers={"accept": "application/json"}
            )
            assert (ours.status_code, ours.content) == (theirs.status_code, theirs.content), sent

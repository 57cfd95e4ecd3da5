"""A GraphQL request over HTTP, read once: a POST's JSON body in one pass (`documentId` included),
or a GET's parameters. The refusals are Strawberry's own, word for word and status for status (its
view read these requests before this module did; `tests/contract/test_request_reading.py` holds
the two side by side), plus one of ours: JSON that is neither an object nor a batch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive
from strawberry.http.parse_content_type import parse_content_type

from chats_api import jsoncodec

# How Apollo Client, curl and httpx spell a JSON body's type, known without parsing it.
JSON_TYPES = frozenset(
    {"application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"}
)
NOT_AN_OBJECT = "Request body must be a JSON object"
NOT_JSON = "Unable to parse request body as JSON"
UNSUPPORTED_TYPE = "Unsupported content type"
NO_BATCHES = "Batching is not enabled"
NO_QUERY = "No GraphQL query found in the request"
_MUST_BE = "The GraphQL operation's `{}` must be {} or null, if provided."
# The types a request's fields may have, over HTTP and over the WebSocket alike.
OPTIONAL_TEXT = (str, type(None))
OPTIONAL_OBJECT = (dict, type(None))


class BadRequest(Exception):
    """A request that names no operation this edge can read: answered in plain text."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


@dataclass(slots=True)
class GraphQLRequest:
    query: str | None
    variables: dict[str, object] | None
    operation_name: object  # a string, when well formed; anything else is refused by execution
    extensions: dict[str, object] | None
    document_id: object = None  # a trusted document's id (`documentId`)


async def read_request(request: Request) -> GraphQLRequest:
    """Raises BadRequest."""
    if request.method == "GET":
        return _request_of(_query_parameters(request.query_params))
    content_type = request.headers.get("content-type")
    if content_type not in JSON_TYPES and (
        "application/json" not in parse_content_type(content_type or "")[0]
    ):
        raise BadRequest(UNSUPPORTED_TYPE)
    fields = _json(await _body(request.receive))
    if isinstance(fields, list):
        raise BadRequest(NO_BATCHES)
    if not isinstance(fields, dict):
        raise BadRequest(NOT_AN_OBJECT)
    return _request_of(fields)


def _query_parameters(parameters: Mapping[str, str]) -> dict[str, object]:
    """GET's parameters, `variables` and `extensions` read as JSON when they are not empty."""
    fields: dict[str, object] = dict(parameters)
    for name in ("variables", "extensions"):
        if parameters.get(name):
            fields[name] = _json(parameters[name])
    return fields


def _request_of(fields: Mapping[str, object]) -> GraphQLRequest:
    query, variables = fields.get("query"), fields.get("variables")
    extensions = fields.get("extensions")
    # Checked in Strawberry's order, with its words.
    if not isinstance(query, OPTIONAL_TEXT):
        raise BadRequest(_MUST_BE.format("query", "a string"))
    if not isinstance(variables, OPTIONAL_OBJECT):
        raise BadRequest(_MUST_BE.format("variables", "an object"))
    if not isinstance(extensions, OPTIONAL_OBJECT):
        raise BadRequest(_MUST_BE.format("extensions", "an object"))
    return GraphQLRequest(
        query, variables, fields.get("operationName"), extensions, fields.get("documentId")
    )


async def _body(receive: Receive) -> bytes:
    """The body, read straight from the ASGI messages (Starlette's `Request.body` goes through an
    async generator and its context managers: a tenth of a small request's cost here)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _json(data: str | bytes) -> object:
    try:
        return jsoncodec.loads(data)
    except json.JSONDecodeError:
        raise BadRequest(NOT_JSON) from None

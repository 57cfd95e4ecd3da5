"""A GraphQL request over HTTP, read once: a POST's JSON body in one pass (`documentId` included),
or a GET's parameters. The refusals are Strawberry's own, word for word and status for status (its
view read these requests before this module did; `tests/contract/test_request_reading.py` holds
the two side by side), plus one of ours: JSON that is neither an object nor a batch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import Request
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
_MUST_BE = "The GraphQL operation's `{}` must be {} or null, if provided."
_FIELD_TYPES = (
    ("query", str, "a string"),
    ("variables", dict, "an object"),
    ("extensions", dict, "an object"),
)


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
    fields = _json(await request.body())
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
    for name, kind, described in _FIELD_TYPES:
        if not isinstance(fields.get(name), kind | None):
            raise BadRequest(_MUST_BE.format(name, described))
    return GraphQLRequest(
        query=fields.get("query"),  # type: ignore[arg-type]  # checked above
        variables=fields.get("variables"),  # type: ignore[arg-type]
        operation_name=fields.get("operationName"),
        extensions=fields.get("extensions"),  # type: ignore[arg-type]
        document_id=fields.get("documentId"),
    )


def _json(data: str | bytes) -> object:
    try:
        return jsoncodec.loads(data)
    except json.JSONDecodeError:
        raise BadRequest(NOT_JSON) from None

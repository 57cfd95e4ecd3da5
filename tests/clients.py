"""One small client per protocol, each turning its protocol's answer into one comparable Outcome.

A contract test takes the `api` fixture and runs unchanged through REST and GraphQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

CODE_STATUS = {
    "BAD_USER_INPUT": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "TOO_MANY_REQUESTS": 429,
    "INTERNAL_SERVER_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}
CHAT_FIELDS = "id title accountId sessionId updatedAt artistId"
CREATE_CHAT = (
    "mutation CreateChat($input: CreateChatInput) {"
    f" createChat(input: $input) {{ chat {{ {CHAT_FIELDS} }} }} }}"
)
OMIT = object()
JSON = {"content-type": "application/json"}


@dataclass
class Outcome:
    status: int
    message: str | None = None
    chat: dict[str, Any] | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)

    @property
    def error(self) -> tuple[int, str | None]:
        return self.status, self.message


def json_bytes(value: Any) -> bytes:
    """ASCII-escaped JSON, so that test strings holding lone surrogates can be sent at all."""
    return json.dumps(value).encode()


def auth_headers(key: str | None) -> dict[str, str]:
    return {"x-api-key": key} if key is not None else {}


class RestApi:
    name = "rest"

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def create_chat(
        self, payload: Any = OMIT, *, key: str | None = None, headers: dict[str, str] | None = None
    ) -> Outcome:
        request_headers = headers if headers is not None else auth_headers(key)
        if payload is OMIT:
            response = await self.client.post("/api/chats", headers=request_headers)
        else:
            response = await self.client.post(
                "/api/chats", content=json_bytes(payload), headers={**JSON, **request_headers}
            )
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        if response.status_code == 200:
            assert body["status"] == "success"
            assert list(body) == ["status", "chat"]
            return Outcome(200, chat=body["chat"], headers=response.headers)
        assert body == {"status": "error", "message": body["message"]}
        return Outcome(response.status_code, body["message"], headers=response.headers)


class GraphQLApi:
    name = "graphql"

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return await self.client.post(
            "/graphql", content=json_bytes(body), headers={**JSON, **(headers or {})}
        )

    async def create_chat(
        self, payload: Any = OMIT, *, key: str | None = None, headers: dict[str, str] | None = None
    ) -> Outcome:
        request_headers = headers if headers is not None else auth_headers(key)
        variables = None if payload is OMIT else {"input": payload}
        response = await self.execute(CREATE_CHAT, variables, request_headers)
        return outcome_of(response, "createChat")


def outcome_of(response: httpx.Response, field_name: str) -> Outcome:
    # GraphQL errors stay at HTTP 200: Apollo Client treats anything else as a network error.
    assert response.status_code == 200, response.text
    body = response.json()
    if body.get("errors"):
        assert len(body["errors"]) == 1, body
        error = body["errors"][0]
        assert body.get("data") is None or body["data"].get(field_name) is None
        return Outcome(
            CODE_STATUS[error["extensions"]["code"]], error["message"], headers=response.headers
        )
    return Outcome(200, chat=body["data"][field_name]["chat"], headers=response.headers)

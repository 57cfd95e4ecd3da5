"""One small client per protocol, each turning its protocol's answer into one comparable Outcome.

A contract test takes the `api` fixture and runs unchanged through REST and GraphQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from tests.support.databases import Database

CODE_STATUS = {
    "BAD_USER_INPUT": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "TOO_MANY_REQUESTS": 429,
    "INTERNAL_SERVER_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
    "CURSOR_EXPIRED": 410,
}
CHAT_FIELDS = "id title accountId sessionId updatedAt artistId"
CREATE_CHAT = (
    "mutation CreateChat($input: CreateChatInput) {"
    f" createChat(input: $input) {{ chat {{ {CHAT_FIELDS} }} }} }}"
)
UPDATE_CHAT = (
    "mutation UpdateChat($input: UpdateChatInput!) {"
    f" updateChat(input: $input) {{ chat {{ {CHAT_FIELDS} }} }} }}"
)
DELETE_CHAT = (
    "mutation DeleteChat($input: DeleteChatInput!) { deleteChat(input: $input) { chatId } }"
)
LIST_CHATS = f"""
query Chats($first: Int, $after: String, $accountId: UUID, $artistId: UUID) {{
  chats(first: $first, after: $after, accountId: $accountId, artistId: $artistId) {{
    edges {{ node {{ {CHAT_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }}
    eventCursor
  }}
}}"""
# REST query parameters and their GraphQL arguments.
LIST_ARGUMENTS = {
    "limit": "first",
    "cursor": "after",
    "accountId": "accountId",
    "artistId": "artistId",
}
VIEWER = "query Viewer { viewer { account { id name kind } } }"
OMIT = object()
JSON = {"content-type": "application/json"}


# COST_LIMIT's default (schema.gate).
COST_LIMIT = 10_000


def priced(body: dict[str, Any], estimated: int, limit: int = COST_LIMIT) -> dict[str, Any]:
    """A GraphQL answer as the service sends it: with what its document was estimated to cost."""
    return {**body, "extensions": {"cost": {"estimated": estimated, "limit": limit}}}


@dataclass
class Outcome:
    status: int
    message: str | None = None
    chat: dict[str, Any] | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    chats: list[dict[str, Any]] | None = None
    next_cursor: str | None = None
    # The chat events' log as of a list read (REST `cursor`, GraphQL `eventCursor`).
    event_cursor: str | None = None
    chat_id: str | None = None
    account: dict[str, Any] | None = None

    @property
    def error(self) -> tuple[int, str | None]:
        return self.status, self.message


def json_bytes(value: Any) -> bytes:
    """ASCII-escaped JSON, so that test strings holding lone surrogates can be sent at all."""
    return json.dumps(value).encode()


def auth_headers(key: str | None) -> dict[str, str]:
    return {"x-api-key": key} if key is not None else {}


class Api(Protocol):
    """What a contract test asks of either protocol's client."""

    name: str

    async def create_chat(
        self, payload: Any = OMIT, *, key: str | None = None, headers: dict[str, str] | None = None
    ) -> Outcome: ...

    async def list_chats(
        self, params: dict[str, Any] | None = None, *, key: str | None
    ) -> Outcome: ...

    async def update_chat(self, payload: Any, *, key: str | None) -> Outcome: ...

    async def delete_chat(self, payload: Any, *, key: str | None) -> Outcome: ...

    async def viewer(self, headers: dict[str, str]) -> Outcome: ...


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

    async def _send(self, method: str, payload: Any, key: str | None) -> httpx.Response:
        return await self.client.request(
            method, "/api/chats", content=json_bytes(payload), headers={**JSON, **auth_headers(key)}
        )

    async def list_chats(self, params: dict[str, Any] | None = None, *, key: str | None) -> Outcome:
        response = await self.client.get("/api/chats", params=params, headers=auth_headers(key))
        body = rest_success(response, "chats", "nextCursor", "cursor")
        if isinstance(body, Outcome):
            return body
        return Outcome(
            200,
            chats=[without_state(c) for c in body["chats"]],
            next_cursor=body["nextCursor"],
            event_cursor=body["cursor"],
        )

    async def update_chat(self, payload: Any, *, key: str | None) -> Outcome:
        body = rest_success(await self._send("PATCH", payload, key), "chat")
        if isinstance(body, Outcome):
            return body
        return Outcome(200, chat=body["chat"])

    async def delete_chat(self, payload: Any, *, key: str | None) -> Outcome:
        body = rest_success(await self._send("DELETE", payload, key), "chatId")
        if isinstance(body, Outcome):
            return body
        return Outcome(200, chat_id=body["chatId"])

    async def viewer(self, headers: dict[str, str]) -> Outcome:
        body = rest_success(await self.client.get("/api/accounts/me", headers=headers), "account")
        if isinstance(body, Outcome):
            return body
        return Outcome(200, account=body["account"])


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

    async def list_chats(self, params: dict[str, Any] | None = None, *, key: str | None) -> Outcome:
        variables = {LIST_ARGUMENTS[name]: value for name, value in (params or {}).items()}
        response = await self.execute(LIST_CHATS, variables, auth_headers(key))
        body = response.json()
        if body.get("errors"):
            return outcome_of(response, "chats")
        connection = body["data"]["chats"]
        info = connection["pageInfo"]
        return Outcome(
            200,
            chats=[edge["node"] for edge in connection["edges"]],
            next_cursor=info["endCursor"] if info["hasNextPage"] else None,
            event_cursor=connection["eventCursor"],
        )

    async def update_chat(self, payload: Any, *, key: str | None) -> Outcome:
        response = await self.execute(UPDATE_CHAT, {"input": payload}, auth_headers(key))
        return outcome_of(response, "updateChat")

    async def delete_chat(self, payload: Any, *, key: str | None) -> Outcome:
        response = await self.execute(DELETE_CHAT, {"input": payload}, auth_headers(key))
        outcome = outcome_of(response, "deleteChat")
        if outcome.status == 200:
            outcome.chat_id = response.json()["data"]["deleteChat"]["chatId"]
        return outcome

    async def viewer(self, headers: dict[str, str]) -> Outcome:
        response = await self.execute(VIEWER, None, headers)
        body = response.json()
        if body.get("errors"):
            return outcome_of(response, "viewer")
        account = body["data"]["viewer"]["account"]
        # The REST form of the kind, so that both protocols compare equal.
        return Outcome(200, account={**account, "kind": account["kind"].lower()})


def without_state(chat: dict[str, Any]) -> dict[str, Any]:
    """A listed chat as the seed's ChatRoom: its conversation's state checked and set aside."""
    chat = dict(chat)
    assert isinstance(chat.pop("isStreaming"), bool)
    assert isinstance(chat.pop("hasUnread"), bool)
    return chat


def rest_body(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["status"] == ("success" if response.status_code == 200 else "error")
    if response.status_code != 200:
        assert list(body) == ["status", "message"]
    return body


def rest_success(response: httpx.Response, *fields: str) -> dict[str, Any] | Outcome:
    """The success body (checked to hold exactly `fields`), or the error as an Outcome."""
    body = rest_body(response)
    if response.status_code != 200:
        return Outcome(response.status_code, body["message"], headers=response.headers)
    assert list(body) == ["status", *fields]
    return body


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
    return Outcome(200, chat=body["data"][field_name].get("chat"), headers=response.headers)


async def assert_stored(database: Database, outcome: Outcome, *, artist_id: Any = None) -> None:
    """The answered chat is in the database, with its session carrying the account and artist."""
    assert outcome.chat is not None
    row = await database.chat(outcome.chat["id"])
    assert row is not None
    assert row["title"] == outcome.chat["title"]
    assert row["account_id"] == outcome.chat["accountId"] == row["session_account_id"]
    assert row["session_id"] == outcome.chat["sessionId"]
    assert row["artist_id"] == outcome.chat["artistId"] == (str(artist_id) if artist_id else None)

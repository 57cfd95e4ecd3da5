"""A conversation's operations through either protocol, each answer turned into one comparable
`Said`: its status, its error message, and its value in the REST form (a GraphQL message's role
and status lower-cased), so that a contract test runs unchanged through REST and GraphQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.api import CODE_STATUS, JSON, OMIT, json_bytes

MESSAGE = "id chatId role parts status createdAt updatedAt"
CHAT = "id title accountId sessionId updatedAt artistId isStreaming hasUnread"
MUTATIONS = {
    "send": f"mutation($input: SendMessageInput!) {{ sendMessage(input: $input) {{ message {{ {MESSAGE} }} }} }}",  # noqa: E501
    "start": f"mutation($input: StartReplyInput!) {{ startReply(input: $input) {{ message {{ {MESSAGE} }} }} }}",  # noqa: E501
    "append": f"mutation($input: AppendReplyInput!) {{ appendReply(input: $input) {{ message {{ {MESSAGE} }} }} }}",  # noqa: E501
    "finish": f"mutation($input: FinishReplyInput!) {{ finishReply(input: $input) {{ message {{ {MESSAGE} }} }} }}",  # noqa: E501
    "stop": f"mutation($input: StopReplyInput!) {{ stopReply(input: $input) {{ message {{ {MESSAGE} }} }} }}",  # noqa: E501
    "read": f"mutation($input: MarkChatReadInput!) {{ markChatRead(input: $input) {{ chat {{ {CHAT} }} }} }}",  # noqa: E501
    "delete": "mutation($input: DeleteMessagesInput!) { deleteMessages(input: $input) { chatId messageIds } }",  # noqa: E501
}
PAGE = f"""
query($id: UUID!, $first: Int, $after: String, $last: Int, $before: String) {{
  chat(id: $id) {{
    messages(first: $first, after: $after, last: $last, before: $before) {{
      edges {{ cursor node {{ {MESSAGE} }} }}
      pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
      eventCursor
    }}
  }}
}}"""


@dataclass
class Said:
    status: int
    message: str | None = None
    value: Any = None
    body: Any = None

    @property
    def error(self) -> tuple[int, str | None]:
        return self.status, self.message


def rest_message(message: dict[str, Any]) -> dict[str, Any]:
    return {**message, "role": message["role"].lower(), "status": message["status"].lower()}


class Talk:
    """The operations, by protocol (`rest` or `graphql`), with an API key or other headers."""

    def __init__(self, protocol: str, client: httpx.AsyncClient) -> None:
        self.protocol = protocol
        self.client = client

    async def _graphql(self, name: str, variables: dict[str, Any], headers: dict[str, str]) -> Said:
        response = await self.client.post(
            "/graphql",
            content=json_bytes({"query": MUTATIONS[name], "variables": variables}),
            headers={**JSON, **headers},
        )
        return graphql_said(response)

    async def _rest(
        self, method: str, path: str, headers: dict[str, str], body: Any = OMIT, **params: Any
    ) -> Said:
        content = None if body is OMIT else json_bytes(body)
        response = await self.client.request(
            method, path, content=content, headers={**JSON, **headers}, params=params or None
        )
        assert response.headers["content-type"] == "application/json"
        data = response.json()
        if response.status_code != 200:
            assert list(data) == ["status", "message"], data
            return Said(response.status_code, data["message"], body=data)
        assert data["status"] == "success"
        value = data.get("message", data.get("chat"))
        return Said(200, value=value, body=data)

    async def send(self, chat_id: str, parts: Any, headers: dict[str, str], **extra: Any) -> Said:
        if self.protocol == "graphql":
            return await self._graphql(
                "send", {"input": {"chatId": chat_id, "parts": parts, **extra}}, headers
            )
        return await self._rest(
            "POST", f"/api/chats/{chat_id}/messages", headers, {"parts": parts, **extra}
        )

    async def start(self, chat_id: str, headers: dict[str, str], **extra: Any) -> Said:
        if self.protocol == "graphql":
            if "role" in extra:
                extra["role"] = str(extra["role"]).upper()
            return await self._graphql("start", {"input": {"chatId": chat_id, **extra}}, headers)
        return await self._rest("POST", f"/api/chats/{chat_id}/replies", headers, extra)

    async def append(
        self, chat_id: str, message_id: str, index: Any, parts: Any, headers: dict[str, str]
    ) -> Said:
        if self.protocol == "graphql":
            variables = {"input": {"messageId": message_id, "index": index, "parts": parts}}
            return await self._graphql("append", variables, headers)
        path = f"/api/chats/{chat_id}/replies/{message_id}/chunks"
        said = await self._rest("POST", path, headers, {"index": index, "parts": parts})
        if said.status == 200:
            assert said.body == {"status": "success", "messageId": message_id, "index": index}
        return said

    async def finish(self, chat_id: str, message_id: str, headers: dict[str, str]) -> Said:
        if self.protocol == "graphql":
            return await self._graphql("finish", {"input": {"messageId": message_id}}, headers)
        return await self._rest(
            "POST", f"/api/chats/{chat_id}/replies/{message_id}/finish", headers
        )

    async def stop(self, chat_id: str, headers: dict[str, str]) -> Said:
        if self.protocol == "graphql":
            return await self._graphql("stop", {"input": {"chatId": chat_id}}, headers)
        return await self._rest("POST", f"/api/chats/{chat_id}/stop", headers)

    async def read(self, chat_id: str, headers: dict[str, str]) -> Said:
        if self.protocol == "graphql":
            return await self._graphql("read", {"input": {"chatId": chat_id}}, headers)
        return await self._rest("POST", f"/api/chats/{chat_id}/read", headers)

    async def delete(self, chat_id: str, from_id: str, headers: dict[str, str]) -> Said:
        if self.protocol == "graphql":
            variables = {"input": {"chatId": chat_id, "fromMessageId": from_id}}
            said = await self._graphql("delete", variables, headers)
        else:
            path = f"/api/chats/{chat_id}/messages"
            said = await self._rest("DELETE", path, headers, **{"from": from_id})
        if said.status == 200:
            said.value = said.body["messageIds"]
        return said

    async def newest(self, chat_id: str, headers: dict[str, str], limit: int | None = None) -> Said:
        """The newest page (backward): messages oldest first, the older page's cursor, and the
        event log's position."""
        if self.protocol == "graphql":
            response = await self.client.post(
                "/graphql",
                content=json_bytes({"query": PAGE, "variables": {"id": chat_id, "last": limit}}),
                headers={**JSON, **headers},
            )
            body = response.json()
            if body.get("errors"):
                return graphql_said(response)
            if body["data"]["chat"] is None:  # GraphQL's answer for a chat the caller cannot see
                return Said(404, "Chat not found", body=body)
            connection = body["data"]["chat"]["messages"]
            info = connection["pageInfo"]
            return Said(
                200,
                value=[rest_message(edge["node"]) for edge in connection["edges"]],
                body={
                    "previous": info["startCursor"] if info["hasPreviousPage"] else None,
                    "cursor": connection["eventCursor"],
                },
            )
        params = {"limit": limit} if limit is not None else {}
        said = await self._rest("GET", f"/api/chats/{chat_id}/messages", headers, **params)
        if said.status == 200:
            said.value = said.body["messages"]
            said.body = {"previous": said.body["previousCursor"], "cursor": said.body["cursor"]}
        return said


def graphql_said(response: httpx.Response) -> Said:
    # GraphQL errors stay at HTTP 200: Apollo Client treats anything else as a network error.
    assert response.status_code == 200, response.text
    body = response.json()
    if body.get("errors"):
        assert len(body["errors"]) == 1, body
        error = body["errors"][0]
        return Said(CODE_STATUS[error["extensions"]["code"]], error["message"], body=body)
    (payload,) = body["data"].values()
    if "message" in payload:
        return Said(200, value=rest_message(payload["message"]), body=body)
    if "chat" in payload:
        return Said(200, value=payload["chat"], body=body)
    return Said(200, value=payload, body={"messageIds": payload["messageIds"]})

"""Conversations through both protocols on both engines: messages, replies in numbered chunks,
read marks, trailing deletes and paging, every refusal with its exact answer and nothing written."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.api import Api
from tests.support.apps import AppFactory, http_client
from tests.support.databases import Database
from tests.support.issuer import StandInIssuer
from tests.support.talk import Talk
from tests.support.world import World

pytestmark = pytest.mark.anyio
TEXT = [{"type": "text", "text": "Plan the release"}]
PARTS_ERROR = (400, "parts must be a list of 1 to 100 objects with a string type")
CHAT_NOT_FOUND = (404, "Chat not found")
MESSAGE_NOT_FOUND = (404, "Message not found")


@pytest.fixture
def talk(protocol: str, client: httpx.AsyncClient) -> Talk:
    return Talk(protocol, client)


def key(world: World, name: str = "alice") -> dict[str, str]:
    return {"x-api-key": world.keys[name]}


async def new_chat(api: Api, world: World, name: str = "alice") -> str:
    outcome = await api.create_chat({"topic": "Conversation"}, key=world.keys[name])
    assert outcome.chat is not None
    return str(outcome.chat["id"])


async def stored(database: Database) -> dict[str, int]:
    return {t: await database.count(t) for t in ("messages", "chat_log", "chat_reads")}


async def reply(talk: Talk, chat: str, world: World, *chunks: str) -> str:
    started = await talk.start(chat, key(world))
    assert started.status == 200, started
    reply_id = str(started.value["id"])
    for index, text in enumerate(chunks):
        said = await talk.append(
            chat, reply_id, index, [{"type": "text", "text": text}], key(world)
        )
        assert said.status == 200, said
    return reply_id


async def test_a_conversation(api: Api, talk: Talk, world: World, database: Database) -> None:
    chat = await new_chat(api, world)
    message_id = str(uuid.uuid4())
    sent = await talk.send(chat, TEXT, key(world), messageId=message_id)
    assert sent.status == 200, sent
    assert sent.value["id"] == message_id
    assert (sent.value["role"], sent.value["status"], sent.value["parts"]) == (
        "user",
        "complete",
        TEXT,
    )

    reply_id = await reply(talk, chat, world, "Week one: ", "singles, ", "then the album.")
    listed = await api.list_chats({}, key=world.keys["alice"])
    assert listed.status == 200
    finished = await talk.finish(chat, reply_id, key(world))
    assert finished.status == 200
    assert finished.value["status"] == "complete"
    # Text deltas accumulate into one text part, as AI SDK frontends show them.
    whole = [{"type": "text", "text": "Week one: singles, then the album."}]
    assert finished.value["parts"] == whole

    page = await talk.newest(chat, key(world))
    assert [(m["id"], m["role"], m["status"]) for m in page.value] == [
        (message_id, "user", "complete"),
        (reply_id, "assistant", "complete"),
    ]
    assert page.value[1]["parts"] == whole
    assert page.body["previous"] is None
    assert await stored(database) == {"messages": 2, "chat_log": 6, "chat_reads": 0}

    state = await talk.read(chat, key(world))
    assert state.status == 200
    assert (state.value["isStreaming"], state.value["hasUnread"]) == (False, False)
    assert await database.count("chat_reads") == 1


async def test_is_streaming_and_has_unread(
    api: Api, talk: Talk, world: World, client: httpx.AsyncClient
) -> None:
    chat = await new_chat(api, world)

    async def state(name: str) -> tuple[bool, bool]:
        # Read through the listing of each protocol: REST's chats carry both flags too.
        response = await client.get("/api/chats", headers=key(world, name))
        [listed] = [c for c in response.json()["chats"] if c["id"] == chat]
        return listed["isStreaming"], listed["hasUnread"]

    assert await state("alice") == (False, False)
    reply_id = await reply(talk, chat, world, "Thinking")
    assert await state("alice") == (True, False)
    assert (await talk.finish(chat, reply_id, key(world))).status == 200
    assert await state("alice") == (False, True)
    # Read state is per caller: the label's key shares the chat, and has not read it.
    assert (await talk.read(chat, key(world))).status == 200
    assert await state("alice") == (False, False)
    label = await client.get(
        "/api/chats", headers=key(world, "label"), params={"accountId": str(world.alice)}
    )
    [seen] = [c for c in label.json()["chats"] if c["id"] == chat]
    assert seen["hasUnread"] is True


async def test_a_message_id_is_retry_safe(
    api: Api, talk: Talk, world: World, database: Database
) -> None:
    chat = await new_chat(api, world)
    other = await new_chat(api, world)
    message_id = str(uuid.uuid4())
    first = await talk.send(chat, TEXT, key(world), messageId=message_id)
    again = await talk.send(chat, TEXT, key(world), messageId=message_id)
    assert again.status == 200
    assert again.value == first.value
    before = await stored(database)
    changed = await talk.send(
        chat, [{"type": "text", "text": "other"}], key(world), messageId=message_id
    )
    assert changed.error == (409, "messageId already exists")
    elsewhere = await talk.send(other, TEXT, key(world), messageId=message_id)
    assert elsewhere.error == (409, "messageId already exists")
    as_reply = await talk.start(chat, key(world), messageId=message_id)
    assert as_reply.error == (409, "messageId already exists")
    assert await stored(database) == before


async def test_chunks_are_numbered(api: Api, talk: Talk, world: World, database: Database) -> None:
    chat = await new_chat(api, world)
    reply_id = await reply(talk, chat, world, "a", "b")
    before = await stored(database)
    resent = await talk.append(chat, reply_id, 1, [{"type": "text", "text": "b"}], key(world))
    assert resent.status == 200  # a retry: nothing written
    assert await stored(database) == before
    conflict = await talk.append(chat, reply_id, 1, [{"type": "text", "text": "B"}], key(world))
    assert conflict.error == (409, "Reply chunk conflicts with the stored one")
    gap = await talk.append(chat, reply_id, 3, [{"type": "text", "text": "d"}], key(world))
    assert gap.error == (409, "Reply chunk out of order")
    negative = await talk.append(chat, reply_id, -1, [{"type": "text", "text": "d"}], key(world))
    assert negative.error == (400, "index must be a non-negative integer")
    assert await stored(database) == before

    assert (await talk.finish(chat, reply_id, key(world))).status == 200
    late = await talk.append(chat, reply_id, 2, [{"type": "text", "text": "c"}], key(world))
    assert late.error == (409, "The reply is not streaming")
    # A resent chunk stays a harmless retry whatever became of the reply; so does finishing again.
    assert (
        await talk.append(chat, reply_id, 0, [{"type": "text", "text": "a"}], key(world))
    ).status == 200
    assert (await talk.finish(chat, reply_id, key(world))).status == 200
    assert (await talk.stop(chat, key(world))).error == (409, "No reply is streaming in this chat")


async def test_one_streaming_reply_per_chat(
    api: Api, talk: Talk, world: World, database: Database
) -> None:
    chat = await new_chat(api, world)
    reply_id = str(uuid.uuid4())
    assert (await talk.start(chat, key(world), messageId=reply_id)).status == 200
    # The same start again is a retry, which wins over "already streaming".
    again = await talk.start(chat, key(world), messageId=reply_id)
    assert again.status == 200
    assert again.value["id"] == reply_id
    second = await talk.start(chat, key(world))
    assert second.error == (409, "A reply is already streaming in this chat")
    # A user may still write while the reply streams.
    assert (await talk.send(chat, TEXT, key(world))).status == 200
    user_role = await talk.start(chat, key(world), role="user")
    assert user_role.error == (400, "role must be assistant or system")
    stopped = await talk.stop(chat, key(world))
    assert stopped.status == 200
    assert (stopped.value["id"], stopped.value["status"]) == (reply_id, "stopped")
    assert (await talk.finish(chat, reply_id, key(world))).error == (
        409,
        "The reply is not streaming",
    )
    system = await talk.start(chat, key(world), role="system")
    assert (system.status, system.value["role"]) == (200, "system")
    assert await database.count("messages") == 3


@pytest.mark.parametrize(
    ("parts", "error"),
    [
        pytest.param(None, PARTS_ERROR, id="null"),
        pytest.param("hi", PARTS_ERROR, id="string"),
        pytest.param([], PARTS_ERROR, id="empty"),
        pytest.param([{"type": "text", "text": "x"}] * 101, PARTS_ERROR, id="101-parts"),
        pytest.param(["text"], PARTS_ERROR, id="not-an-object"),
        pytest.param([{"text": "x"}], PARTS_ERROR, id="no-type"),
        pytest.param([{"type": ""}], PARTS_ERROR, id="empty-type"),
        pytest.param([{"type": "x" * 65}], PARTS_ERROR, id="long-type"),
        pytest.param([{"type": 3}], PARTS_ERROR, id="type-not-a-string"),
        pytest.param([{"type": "text"}], PARTS_ERROR, id="text-without-text"),
        pytest.param([{"type": "text", "text": 3}], PARTS_ERROR, id="text-not-a-string"),
        pytest.param([{"type": "text", "text": "a\x00b"}], PARTS_ERROR, id="nul-in-text"),
        pytest.param([{"type": "data", "da\x00ta": 1}], PARTS_ERROR, id="nul-in-a-key"),
        pytest.param(
            [{"type": "text", "text": "x" * 33_000}], (400, "message too large"), id="33k"
        ),
    ],
)
async def test_bad_parts_write_nothing(
    api: Api, talk: Talk, world: World, database: Database, parts: Any, error: tuple[int, str]
) -> None:
    chat = await new_chat(api, world)
    reply_id = await reply(talk, chat, world)
    before = await stored(database)
    sent = await talk.send(chat, parts, key(world))
    appended = await talk.append(chat, reply_id, 0, parts, key(world))
    if parts is None and talk.protocol == "graphql":
        # `[JSON!]!` refuses null before any resolver runs: GraphQL's own BAD_USER_INPUT.
        assert (sent.status, appended.status) == (400, 400)
    else:
        assert (sent.error, appended.error) == (error, error)
    assert await stored(database) == before


async def test_parts_are_kept_as_sent(api: Api, talk: Talk, world: World) -> None:
    chat = await new_chat(api, world)
    parts = [
        {"type": "text", "text": "\u05e9\u05dc\u05d5\u05dd \u200f!"},  # right-to-left marks stay
        {"type": "tool-call", "toolCallId": "c1", "input": {"n": 1, "x": 1.5, "ok": True}},
        {"type": "file", "url": "https://example.com/a.png", "mediaType": "image/png"},
    ]
    sent = await talk.send(chat, parts, key(world))
    assert sent.value["parts"] == parts
    page = await talk.newest(chat, key(world))
    assert page.value[0]["parts"] == parts
    assert page.value[0]["parts"][1]["input"]["ok"] is True


async def test_who_may_do_what(api: Api, talk: Talk, world: World, database: Database) -> None:
    chat = await new_chat(api, world)
    reply_id = await reply(talk, chat, world, "a")
    before = await stored(database)
    bob = key(world, "bob")
    assert (await talk.send(chat, TEXT, bob)).error == CHAT_NOT_FOUND
    assert (await talk.start(chat, bob)).error == CHAT_NOT_FOUND
    assert (await talk.stop(chat, bob)).error == CHAT_NOT_FOUND
    assert (await talk.read(chat, bob)).error == CHAT_NOT_FOUND
    assert (await talk.newest(chat, bob)).error == CHAT_NOT_FOUND
    assert (await talk.delete(chat, reply_id, bob)).error == CHAT_NOT_FOUND
    unknown = str(uuid.uuid4())
    assert (await talk.send(unknown, TEXT, key(world))).error == CHAT_NOT_FOUND
    if talk.protocol == "graphql":
        appended = await talk.append(chat, reply_id, 1, TEXT, bob)
        assert appended.error == MESSAGE_NOT_FOUND
    else:  # the path names a chat bob may not see
        assert (await talk.append(chat, reply_id, 1, TEXT, bob)).error == CHAT_NOT_FOUND
    assert (await talk.finish(chat, unknown, key(world))).error == MESSAGE_NOT_FOUND
    assert (await talk.delete(chat, unknown, key(world))).error == MESSAGE_NOT_FOUND
    assert await stored(database) == before
    # The label's key acts for its member alice: it writes in her chat.
    assert (await talk.send(chat, TEXT, key(world, "label"))).status == 200


async def test_a_trailing_delete(api: Api, talk: Talk, world: World, database: Database) -> None:
    chat = await new_chat(api, world)
    first = (await talk.send(chat, TEXT, key(world))).value["id"]
    reply_id = await reply(talk, chat, world, "streaming")
    last = (await talk.send(chat, TEXT, key(world))).value["id"]
    deleted = await talk.delete(chat, reply_id, key(world))
    assert deleted.status == 200
    assert deleted.value == [reply_id, last]
    page = await talk.newest(chat, key(world))
    assert [m["id"] for m in page.value] == [first]
    types = [row["type"] for row in await database.fetch("SELECT type FROM chat_log ORDER BY seq")]
    # The streaming reply was stopped first, then the messages deleted.
    assert types[-2:] == ["STOPPED", "DELETED"]
    assert (await talk.start(chat, key(world))).status == 200  # nothing streams any more


async def test_deleting_a_chat_deletes_its_conversation(
    api: Api, talk: Talk, world: World, database: Database
) -> None:
    chat = await new_chat(api, world)
    await talk.send(chat, TEXT, key(world))
    await talk.read(chat, key(world))
    deleted = await api.delete_chat({"chatId": chat}, key=world.keys["alice"])
    assert deleted.status == 200
    assert await stored(database) == {"messages": 0, "chat_log": 0, "chat_reads": 0}


async def test_paging_both_ways(
    api: Api, talk: Talk, world: World, client: httpx.AsyncClient
) -> None:
    chat = await new_chat(api, world)
    ids = [
        (await talk.send(chat, [{"type": "text", "text": str(n)}], key(world))).value["id"]
        for n in range(7)
    ]
    newest = await talk.newest(chat, key(world), limit=3)
    assert [m["id"] for m in newest.value] == ids[4:]
    assert newest.body["previous"] is not None
    default = await talk.newest(chat, key(world))
    assert [m["id"] for m in default.value] == ids
    if talk.protocol == "rest":
        await _rest_pages_backwards(client, world, chat, newest.body["previous"], ids[:4])
    else:
        await _graphql_pages(client, world, chat, ids)


async def _rest_pages_backwards(
    client: httpx.AsyncClient, world: World, chat: str, before: str | None, older: list[str]
) -> None:
    seen: list[str] = []
    while before is not None:
        page = (
            await client.get(
                f"/api/chats/{chat}/messages",
                headers=key(world),
                params={"limit": 3, "before": before},
            )
        ).json()
        seen = [m["id"] for m in page["messages"]] + seen
        before = page["previousCursor"]
    assert seen == older
    bad = await client.get(f"/api/chats/{chat}/messages", headers=key(world), params={"limit": 0})
    assert bad.json()["message"] == "limit must be an integer between 1 and 100"


async def _graphql_pages(
    client: httpx.AsyncClient, world: World, chat: str, ids: list[str]
) -> None:
    query = "query($id: UUID!, $a: Int, $b: String, $c: Int, $d: String) { chat(id: $id) { messages(first: $a, after: $b, last: $c, before: $d) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } }"  # noqa: E501

    async def page(**variables: Any) -> Any:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": {"id": chat, **variables}},
            headers=key(world),
        )
        return response.json()

    forward: list[str] = []
    after = None
    while True:
        body = await page(a=3, b=after)
        connection = body["data"]["chat"]["messages"]
        forward += [edge["node"]["id"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert forward == ids
    both = await page(a=2, c=2)
    assert (
        both["errors"][0]["message"]
        == "Page either forward (first, after) or backward (last, before)"
    )
    garbage = await page(a=2, b="nope")
    assert garbage["errors"][0]["message"] == "cursor is not valid"
    too_many = await page(c=101)
    assert too_many["errors"][0]["message"] == "last must be an integer between 1 and 100"


@pytest.fixture
async def signed_in_talk(
    protocol: str, app_for: AppFactory, issuer: StandInIssuer
) -> AsyncIterator[Talk]:
    """The protocol's talk on an app that accepts the stand-in issuer's tokens."""
    async with app_for(**issuer.settings()) as app, http_client(app) as client:
        yield Talk(protocol, client)


async def test_a_token_cannot_write_the_assistants_messages(
    signed_in_talk: Talk, issuer: StandInIssuer, database: Database
) -> None:
    talk = signed_in_talk
    token = {"authorization": f"Bearer {issuer.token('ada', name='Ada')}"}
    created = await talk.client.post("/api/chats", headers=token, json={"topic": "mine"})
    chat = created.json()["chat"]["id"]
    assert (await talk.send(chat, TEXT, token)).status == 200
    denied = (403, "Only an API key may write the assistant's messages")
    assert (await talk.start(chat, token)).error == denied
    assert (await talk.start(chat, token, role="user")).error == (
        400,
        "role must be assistant or system",
    )
    assert await database.count("messages") == 1


async def test_a_silent_agents_reply_is_stopped(
    app_for: AppFactory, protocol: str, world: World, database: Database
) -> None:
    async with app_for(reply_timeout=1) as app, http_client(app) as client:
        talk = Talk(protocol, client)
        created = await client.post("/api/chats", headers=key(world), json={})
        chat = created.json()["chat"]["id"]
        reply_id = await reply(talk, chat, world, "half a tho")
        for _ in range(80):  # within REPLY_TIMEOUT + 5 s
            page = await talk.newest(chat, key(world))
            if page.value[-1]["status"] == "stopped":
                break
            await asyncio.sleep(0.1)
        assert (page.value[-1]["id"], page.value[-1]["status"]) == (reply_id, "stopped")
        assert page.value[-1]["parts"] == [{"type": "text", "text": "half a tho"}]

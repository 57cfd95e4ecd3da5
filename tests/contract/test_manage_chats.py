"""Listing, renaming and deleting chats, through both protocols on both engines."""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import httpx
import pytest

from tests.support.api import Api, RestApi
from tests.support.databases import Database
from tests.support.world import World

pytestmark = pytest.mark.anyio
NOT_FOUND = (404, "Chat not found")


async def create(api: Api, key: str, count: int = 1, **payload: Any) -> list[dict[str, Any]]:
    chats = []
    for n in range(count):
        outcome = await api.create_chat({"topic": f"chat {n}", **payload}, key=key)
        assert outcome.chat is not None, outcome
        chats.append(outcome.chat)
    return chats


# List ------------------------------------------------------------------------------------------


async def test_list_pages_newest_first(api: Api, world: World) -> None:
    created = await create(api, world.keys["alice"], 5)
    await create(api, world.keys["bob"], 2)
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 2}
    pages = 0
    while True:
        outcome = await api.list_chats(params, key=world.keys["alice"])
        assert outcome.status == 200
        assert outcome.chats is not None
        seen += outcome.chats
        pages += 1
        if outcome.next_cursor is None:
            break
        params = {"limit": 2, "cursor": outcome.next_cursor}
    assert pages == 3
    assert seen == list(reversed(created))


async def test_list_defaults_to_20(api: Api, world: World) -> None:
    await create(api, world.keys["alice"], 21)
    outcome = await api.list_chats({}, key=world.keys["alice"])
    assert outcome.chats is not None
    assert len(outcome.chats) == 20
    assert outcome.next_cursor is not None


async def test_pagination_neither_skips_nor_repeats_while_chats_are_created(
    api: Api, world: World
) -> None:
    older = await create(api, world.keys["alice"], 6)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = await api.list_chats(params, key=world.keys["alice"])
        assert page.chats is not None
        seen += [chat["id"] for chat in page.chats]
        await create(api, world.keys["alice"], 1)  # a newer chat lands before the cursor
        if page.next_cursor is None:
            break
        params = {"limit": 2, "cursor": page.next_cursor}
    assert seen == [chat["id"] for chat in reversed(older)]


async def test_list_by_artist(api: Api, world: World) -> None:
    with_band = await create(api, world.keys["alice"], 2, artistId=str(world.band))
    await create(api, world.keys["alice"], 2, artistId=str(world.orgband))
    await create(api, world.keys["alice"], 1)
    outcome = await api.list_chats({"artistId": str(world.band)}, key=world.keys["alice"])
    assert outcome.chats == list(reversed(with_band))


@pytest.mark.parametrize(
    ("key", "account", "allowed"),
    [
        pytest.param("label", "carol", True, id="organization-key"),
        pytest.param("alice", "carol", True, id="fellow-member"),
        pytest.param("carol", "carol", True, id="self"),
        pytest.param("dave", "carol", False, id="outsider"),
        pytest.param("carol", "bob", False, id="unrelated"),
    ],
)
async def test_list_another_account(
    api: Api, world: World, key: str, account: str, allowed: bool
) -> None:
    created = await create(api, world.keys["carol"], 2)
    outcome = await api.list_chats({"accountId": str(getattr(world, account))}, key=world.keys[key])
    if allowed:
        assert outcome.chats == (list(reversed(created)) if account == "carol" else [])
    else:
        assert outcome.error == (403, "Access denied to specified accountId")


PAGE_SIZE = "{} must be an integer between 1 and 100"


def cursor_of(moment: str) -> str:
    """A cursor as the service encodes one, for any time."""
    raw = f"{moment}|00000000-0000-7000-8000-000000000000".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({"limit": 0}, PAGE_SIZE, id="limit-zero"),
        pytest.param({"limit": 101}, PAGE_SIZE, id="limit-101"),
        pytest.param({"cursor": "nonsense!"}, "cursor is not valid", id="bad-cursor"),
        # Valid ISO 8601 that no engine can hold once in UTC: year 1 at +14:00, year 9999 at -14:00.
        pytest.param(
            {"cursor": cursor_of("0001-01-01T00:00:00+14:00")},
            "cursor is not valid",
            id="cursor-before-year-1-in-utc",
        ),
        pytest.param(
            {"cursor": cursor_of("9999-12-31T23:59:59-14:00")},
            "cursor is not valid",
            id="cursor-after-year-9999-in-utc",
        ),
        pytest.param({"accountId": "x"}, "accountId must be a valid UUID", id="account-id"),
        pytest.param({"artistId": "x"}, "artistId must be a valid UUID", id="artist-id"),
    ],
)
async def test_list_bad_parameters(
    api: Api, world: World, params: dict[str, Any], message: str
) -> None:
    # Each protocol names the page size its own way: `limit` in REST, `first` in GraphQL.
    expected = message.format("limit" if api.name == "rest" else "first")
    outcome = await api.list_chats(params, key=world.keys["alice"])
    assert outcome.error == (400, expected)


@pytest.mark.parametrize("limit", ["abc", "1.5", "-1", "0x10", "1e2", "٣"])
async def test_rest_limit_must_be_a_number(
    client: httpx.AsyncClient, world: World, limit: str
) -> None:
    outcome = await RestApi(client).list_chats({"limit": limit}, key=world.keys["alice"])
    assert outcome.error == (400, "limit must be an integer between 1 and 100")


async def test_rest_empty_limit_is_the_default(client: httpx.AsyncClient, world: World) -> None:
    outcome = await RestApi(client).list_chats({"limit": ""}, key=world.keys["alice"])
    assert outcome.status == 200


async def test_list_needs_a_key(api: Api, world: World) -> None:
    outcome = await api.list_chats({}, key=None)
    assert outcome.error == (401, "Exactly one of x-api-key or Authorization must be provided")


# Update ----------------------------------------------------------------------------------------


async def test_rename(api: Api, database: Database, world: World) -> None:
    [chat] = await create(api, world.keys["alice"], artistId=str(world.band))
    outcome = await api.update_chat(
        {"chatId": chat["id"], "topic": "  Renamed  "}, key=world.keys["alice"]
    )
    assert outcome.status == 200
    assert outcome.chat is not None
    assert outcome.chat["title"] == "Renamed"
    assert outcome.chat["updatedAt"] > chat["updatedAt"]
    assert {k: v for k, v in outcome.chat.items() if k not in ("title", "updatedAt")} == {
        k: v for k, v in chat.items() if k not in ("title", "updatedAt")
    }
    row = await database.chat(chat["id"])
    assert row is not None
    assert row["title"] == "Renamed"
    # The renamed chat is now the newest.
    listed = await api.list_chats({}, key=world.keys["alice"])
    assert listed.chats is not None
    assert listed.chats[0] == outcome.chat


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        pytest.param("label", True, id="organization"),
        pytest.param("carol", True, id="fellow-member"),
        pytest.param("dave", False, id="outsider"),
        pytest.param("bob", False, id="unrelated"),
    ],
)
async def test_rename_access(
    api: Api, database: Database, world: World, key: str, allowed: bool
) -> None:
    [chat] = await create(api, world.keys["alice"])
    outcome = await api.update_chat({"chatId": chat["id"], "topic": "x"}, key=world.keys[key])
    row = await database.chat(chat["id"])
    assert row is not None
    if allowed:
        assert outcome.status == 200
        assert row["title"] == "x"
    else:
        assert outcome.error == NOT_FOUND
        assert row["title"] == chat["title"]


TOPIC_REQUIRED = "topic is required and must not be blank"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param({"topic": ""}, TOPIC_REQUIRED, id="empty-topic"),
        pytest.param({"topic": "   "}, TOPIC_REQUIRED, id="blank-topic"),
        pytest.param(
            {"topic": "x" * 101}, "topic must be a string of at most 100 characters", id="long"
        ),
        pytest.param(
            {"topic": "a\x00"}, "topic must be a string of at most 100 characters", id="nul"
        ),
        pytest.param(
            {"chatId": "x", "topic": "ok"}, "chatId must be a valid UUID", id="bad-chat-id"
        ),
    ],
)
async def test_rename_invalid(
    api: Api, database: Database, world: World, payload: dict[str, Any], message: str
) -> None:
    [chat] = await create(api, world.keys["alice"])
    outcome = await api.update_chat({"chatId": chat["id"], **payload}, key=world.keys["alice"])
    assert outcome.error == (400, message)
    row = await database.chat(chat["id"])
    assert row is not None
    assert row["title"] == chat["title"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param({"chatId": "CHAT"}, TOPIC_REQUIRED, id="missing-topic"),
        pytest.param({"topic": "x"}, "chatId must be a valid UUID", id="missing-chat-id"),
        # Present but not a string: the creation rule's answer.
        pytest.param(
            {"chatId": "CHAT", "topic": None},
            "topic must be a string of at most 100 characters",
            id="null-topic",
        ),
        pytest.param(
            {"chatId": "CHAT", "topic": 5},
            "topic must be a string of at most 100 characters",
            id="number-topic",
        ),
    ],
)
async def test_rename_missing_fields_rest(
    api: Api, database: Database, world: World, payload: dict[str, Any], message: str
) -> None:
    """GraphQL's UpdateChatInput makes both fields required; its type system answers there."""
    [chat] = await create(api, world.keys["alice"])
    payload = {k: chat["id"] if v == "CHAT" else v for k, v in payload.items()}
    outcome = await api.update_chat(payload, key=world.keys["alice"])
    if api.name == "rest":
        assert outcome.error == (400, message)
    else:
        assert outcome.status == 400
    row = await database.chat(chat["id"])
    assert row is not None
    assert row["title"] == chat["title"]


async def test_rename_unknown_chat(api: Api, world: World) -> None:
    outcome = await api.update_chat(
        {"chatId": str(uuid.uuid4()), "topic": "x"}, key=world.keys["alice"]
    )
    assert outcome.error == NOT_FOUND


# Delete ----------------------------------------------------------------------------------------


async def test_delete(api: Api, database: Database, world: World) -> None:
    [chat, other] = await create(api, world.keys["alice"], 2)
    outcome = await api.delete_chat({"chatId": chat["id"]}, key=world.keys["alice"])
    assert outcome.status == 200
    assert outcome.chat_id == chat["id"]
    assert await database.chat(chat["id"]) is None
    assert await database.chat(other["id"]) is not None
    # Its session had no other chat: gone too.
    assert await database.counts() == {"sessions": 1, "chats": 1}
    again = await api.delete_chat({"chatId": chat["id"]}, key=world.keys["alice"])
    assert again.error == NOT_FOUND


async def test_deleted_id_is_free_again(api: Api, database: Database, world: World) -> None:
    chat_id = str(uuid.uuid4())
    await create(api, world.keys["alice"], chatId=chat_id)
    assert (await api.delete_chat({"chatId": chat_id}, key=world.keys["alice"])).status == 200
    [recreated] = await create(api, world.keys["bob"], chatId=chat_id, topic="bob's now")
    assert recreated["accountId"] == str(world.bob)
    assert await database.counts() == {"sessions": 1, "chats": 1}


async def test_delete_keeps_a_session_with_other_chats(
    api: Api, database: Database, world: World
) -> None:
    [chat] = await create(api, world.keys["alice"])
    # A second chat in the same session, as other services of the platform write them.
    await database.execute(
        "INSERT INTO chats (id, session_id, account_id, title, created_at, updated_at)"
        f" SELECT '{uuid.uuid4()}', session_id, account_id, 'sibling', created_at, updated_at"
        f" FROM chats WHERE id = '{chat['id']}'"
    )
    assert (await api.delete_chat({"chatId": chat["id"]}, key=world.keys["alice"])).status == 200
    assert await database.counts() == {"sessions": 1, "chats": 1}


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        pytest.param("label", True, id="organization"),
        pytest.param("dave", False, id="outsider"),
    ],
)
async def test_delete_access(
    api: Api, database: Database, world: World, key: str, allowed: bool
) -> None:
    [chat] = await create(api, world.keys["alice"])
    outcome = await api.delete_chat({"chatId": chat["id"]}, key=world.keys[key])
    if allowed:
        assert outcome.status == 200
        assert await database.counts() == {"sessions": 0, "chats": 0}
    else:
        assert outcome.error == NOT_FOUND
        assert await database.counts() == {"sessions": 1, "chats": 1}


@pytest.mark.parametrize(
    "payload",
    [pytest.param({"chatId": "nope"}, id="malformed"), pytest.param({"chatId": 5}, id="number")],
)
async def test_delete_invalid(api: Api, database: Database, world: World, payload: Any) -> None:
    await create(api, world.keys["alice"])
    outcome = await api.delete_chat(payload, key=world.keys["alice"])
    assert outcome.error == (400, "chatId must be a valid UUID")
    assert await database.counts() == {"sessions": 1, "chats": 1}


async def test_delete_needs_a_key(api: Api, database: Database, world: World) -> None:
    [chat] = await create(api, world.keys["alice"])
    outcome = await api.delete_chat({"chatId": chat["id"]}, key=world.keys["revoked"])
    assert outcome.error == (401, "Unauthorized")
    assert await database.counts() == {"sessions": 1, "chats": 1}


async def test_concurrent_deletes_one_wins(api: Api, database: Database, world: World) -> None:
    [chat] = await create(api, world.keys["alice"])
    outcomes = await asyncio.gather(
        *(api.delete_chat({"chatId": chat["id"]}, key=world.keys["alice"]) for _ in range(8))
    )
    assert sorted(o.status for o in outcomes) == [200] + [404] * 7
    assert await database.counts() == {"sessions": 0, "chats": 0}


async def test_rename_needs_a_valid_key(api: Api, database: Database, world: World) -> None:
    [chat] = await create(api, world.keys["alice"])
    outcome = await api.update_chat({"chatId": chat["id"], "topic": "x"}, key=world.keys["expired"])
    assert outcome.error == (401, "Unauthorized")
    row = await database.chat(chat["id"])
    assert row is not None
    assert row["title"] == chat["title"]


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_rest_bodies_are_bounded_and_strict(
    client: httpx.AsyncClient, database: Database, world: World, method: str
) -> None:
    headers = {"x-api-key": world.keys["alice"]}
    too_large = await client.request(
        method, "/api/chats", content=b" " * (64 * 1024 + 1), headers=headers
    )
    assert too_large.status_code == 413
    assert too_large.json() == {"status": "error", "message": "Request body too large"}
    not_json = await client.request(method, "/api/chats", content=b"{", headers=headers)
    assert not_json.json() == {"status": "error", "message": "Invalid JSON body"}
    not_object = await client.request(method, "/api/chats", content=b"[]", headers=headers)
    assert not_object.json() == {"status": "error", "message": "Request body must be a JSON object"}
    assert await database.counts() == {"sessions": 0, "chats": 0}

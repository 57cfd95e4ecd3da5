"""Who may create a chat for which account and artist (the access rules in rest/README.md)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest

from db import queries
from db.rows import KeyRow
from tests.support.api import Api, assert_stored
from tests.support.databases import Database
from tests.support.world import World

pytestmark = pytest.mark.anyio
ACCOUNT_DENIED = (403, "Access denied to specified accountId")
ARTIST_DENIED = (403, "Access denied to specified artistId")


def resolve(world: World, name: str) -> str:
    return str(uuid.uuid4()) if name == "unknown" else str(getattr(world, name))


@pytest.mark.parametrize(
    ("key", "account", "allowed"),
    [
        pytest.param("alice", "alice", True, id="self"),
        pytest.param("label", "alice", True, id="organization-key-for-member"),
        pytest.param("label", "label", True, id="organization-key-for-itself"),
        pytest.param("alice", "label", True, id="member-for-organization"),
        pytest.param("alice", "carol", True, id="fellow-member"),
        pytest.param("alice", "orgband", True, id="member-for-artist-in-organization"),
        pytest.param("dave", "alice", False, id="outsider"),
        pytest.param("alice", "bob", False, id="unrelated-account"),
        pytest.param("alice", "band", False, id="managed-artist-is-not-an-account-to-act-for"),
        pytest.param("alice", "unknown", False, id="unknown-account"),
        pytest.param("bob", "label", False, id="non-member-for-organization"),
    ],
)
async def test_account_access(
    api: Api, database: Database, world: World, key: str, account: str, allowed: bool
) -> None:
    account_id = resolve(world, account)
    outcome = await api.create_chat({"accountId": account_id}, key=world.keys[key])
    if allowed:
        assert outcome.status == 200
        assert outcome.chat is not None
        assert outcome.chat["accountId"] == account_id
        await assert_stored(database, outcome)
    else:
        assert outcome.error == ACCOUNT_DENIED
        assert await database.counts() == {"sessions": 0, "chats": 0}


@pytest.mark.parametrize(
    ("key", "account", "artist", "allowed"),
    [
        pytest.param("alice", None, "band", True, id="managed-artist"),
        pytest.param("alice", None, "orgband", True, id="artist-in-shared-organization"),
        pytest.param("label", None, "orgband", True, id="organization-and-its-artist"),
        pytest.param("label", "alice", "band", True, id="for-member-with-members-artist"),
        pytest.param("label", "carol", "orgband", True, id="for-member-with-organization-artist"),
        pytest.param("label", "carol", "band", False, id="for-member-with-another-members-artist"),
        pytest.param("alice", None, "stranger", False, id="unmanaged-artist"),
        pytest.param("bob", None, "band", False, id="someone-elses-artist"),
        pytest.param("alice", None, "bob", False, id="not-an-artist"),
        pytest.param("alice", None, "label", False, id="organization-is-not-an-artist"),
        pytest.param("alice", None, "unknown", False, id="unknown-artist"),
    ],
)
async def test_artist_access(
    api: Api,
    database: Database,
    world: World,
    key: str,
    account: str | None,
    artist: str,
    allowed: bool,
) -> None:
    artist_id = resolve(world, artist)
    payload = {"artistId": artist_id}
    if account is not None:
        payload["accountId"] = resolve(world, account)
    outcome = await api.create_chat(payload, key=world.keys[key])
    if allowed:
        assert outcome.status == 200
        await assert_stored(database, outcome, artist_id=artist_id)
    else:
        assert outcome.error == ARTIST_DENIED
        assert await database.counts() == {"sessions": 0, "chats": 0}


async def test_account_is_checked_before_artist(api: Api, database: Database, world: World) -> None:
    outcome = await api.create_chat(
        {"accountId": str(world.bob), "artistId": str(world.stranger)}, key=world.keys["alice"]
    )
    assert outcome.error == ACCOUNT_DENIED
    assert await database.counts() == {"sessions": 0, "chats": 0}


async def test_denied_request_with_taken_chat_id_is_forbidden_not_conflict(
    api: Api, database: Database, world: World
) -> None:
    chat_id = str(uuid.uuid4())
    assert (await api.create_chat({"chatId": chat_id}, key=world.keys["alice"])).status == 200
    outcome = await api.create_chat(
        {"chatId": chat_id, "artistId": str(world.stranger)}, key=world.keys["alice"]
    )
    assert outcome.error == ARTIST_DENIED
    assert await database.counts() == {"sessions": 1, "chats": 1}


async def test_a_key_is_looked_up_once_however_many_requests_ask_at_once(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # When a busy key's cache entry expires, the requests in flight for it share one lookup (the
    # real query; only counted here) instead of all querying the database together.
    lookups: list[str] = []
    real = queries.find_active_key

    async def counted(key_hash: str, now: datetime) -> KeyRow | None:
        lookups.append(key_hash)
        return await real(key_hash, now)

    monkeypatch.setattr(queries, "find_active_key", counted)
    outcomes = await asyncio.gather(
        *(api.create_chat({"topic": f"t{n}"}, key=world.keys["bob"]) for n in range(12))
    )
    assert [o.status for o in outcomes] == [200] * 12
    assert {o.chat["accountId"] for o in outcomes if o.chat} == {str(world.bob)}
    assert len(lookups) == 1
    # An unknown key is not remembered: each burst asks again, and every request is refused.
    for burst in (2, 3):
        refused = await asyncio.gather(*(api.create_chat(key="chats_unknown") for _ in range(5)))
        assert {o.error for o in refused} == {(401, "Unauthorized")}
        assert len(lookups) >= burst

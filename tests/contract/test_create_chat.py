"""The contract of creating a chat, through both protocols on both engines."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

import pytest

from db.tables import Chat, Session
from tests.support.api import Api, assert_stored
from tests.support.databases import Database
from tests.support.world import World

pytestmark = pytest.mark.anyio
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def test_minimal_create(api: Api, database: Database, world: World) -> None:
    outcome = await api.create_chat(key=world.keys["alice"])
    assert outcome.status == 200
    chat = outcome.chat
    assert chat is not None
    assert list(chat) == ["id", "title", "accountId", "sessionId", "updatedAt", "artistId"]
    assert UUID_TEXT.fullmatch(chat["id"])
    assert UUID_TEXT.fullmatch(chat["sessionId"])
    assert chat["title"] == "New chat"
    assert chat["accountId"] == str(world.alice)
    assert chat["artistId"] is None
    assert TIMESTAMP.fullmatch(chat["updatedAt"])
    # Server-made ids are UUIDv7: time-ordered.
    assert uuid.UUID(chat["id"]).version == 7
    assert await database.counts() == {"sessions": 1, "chats": 1}
    await assert_stored(database, outcome)


@pytest.mark.parametrize(
    ("topic", "title"),
    [
        pytest.param("Pulse Feb 2", "Pulse Feb 2", id="plain"),
        pytest.param("  Pulse Feb 2 \n", "Pulse Feb 2", id="trimmed"),
        pytest.param("", "New chat", id="empty"),
        pytest.param(" \t ", "New chat", id="blank"),
        pytest.param("é" * 100, "é" * 100, id="100-code-points"),
        pytest.param("  " + "x" * 100 + "  ", "x" * 100, id="100-after-trim"),
        pytest.param("🎸 riffs", "🎸 riffs", id="emoji"),
        # The zero-width joiner of an emoji sequence is no bidirectional control.
        pytest.param("👨\u200d👩\u200d👧 tour", "👨\u200d👩\u200d👧 tour", id="emoji-family-zwj"),
    ],
)
async def test_title_from_topic(
    api: Api, database: Database, world: World, topic: str, title: str
) -> None:
    outcome = await api.create_chat({"topic": topic}, key=world.keys["alice"])
    assert outcome.status == 200
    assert outcome.chat is not None
    assert outcome.chat["title"] == title
    await assert_stored(database, outcome)


TOPIC_ERROR = "topic must be a string of at most 100 characters"

INVALID_INPUT = [
    *[
        pytest.param({field: value}, f"{field} must be a valid UUID", id=f"{field}-{label}")
        for field in ("artistId", "chatId", "accountId")
        for label, value in [
            ("null", None),
            ("number", 5),
            ("empty", ""),
            ("word", "not-a-uuid"),
            ("braces", "{12345678-1234-5678-1234-567812345678}"),
            ("no-hyphens", "12345678123456781234567812345678"),
            ("urn", "urn:uuid:12345678-1234-5678-1234-567812345678"),
            ("too-long", "12345678-1234-5678-1234-5678123456789"),
        ]
    ],
    pytest.param({"topic": None}, TOPIC_ERROR, id="topic-null"),
    pytest.param({"topic": "x" * 101}, TOPIC_ERROR, id="topic-101"),
    pytest.param({"topic": "é" * 101}, TOPIC_ERROR, id="topic-101-code-points"),
    pytest.param({"topic": "a\x00b"}, TOPIC_ERROR, id="topic-nul"),
    pytest.param({"topic": "bell\x07"}, TOPIC_ERROR, id="topic-control"),
    pytest.param({"topic": "line\nbreak"}, TOPIC_ERROR, id="topic-inner-newline"),
    pytest.param({"topic": "del\x7f"}, TOPIC_ERROR, id="topic-delete-char"),
    pytest.param({"topic": "a\u202eb"}, TOPIC_ERROR, id="topic-right-to-left-override"),
    pytest.param({"topic": "\u2066isolate\u2069"}, TOPIC_ERROR, id="topic-bidi-isolate"),
    pytest.param({"topic": "mark\u200f"}, TOPIC_ERROR, id="topic-right-to-left-mark"),
    pytest.param({"topic": "\u061carabic mark"}, TOPIC_ERROR, id="topic-arabic-letter-mark"),
    # When several fields are wrong, the first in the contract's order is reported.
    pytest.param(
        {"topic": None, "accountId": 1, "chatId": 1, "artistId": 1},
        "artistId must be a valid UUID",
        id="artist-id-first",
    ),
    pytest.param(
        {"topic": None, "accountId": "x"}, "accountId must be a valid UUID", id="uuid-before-topic"
    ),
]


@pytest.mark.parametrize(("payload", "message"), INVALID_INPUT)
async def test_invalid_input(
    api: Api, database: Database, world: World, payload: dict[str, Any], message: str
) -> None:
    outcome = await api.create_chat(payload, key=world.keys["alice"])
    assert outcome.error == (400, message)
    assert await database.counts() == {"sessions": 0, "chats": 0}


@pytest.mark.parametrize(
    "topic",
    [
        pytest.param(5, id="number"),
        pytest.param(True, id="boolean"),
        pytest.param(["a"], id="list"),
        pytest.param({"a": 1}, id="object"),
    ],
)
async def test_topic_not_a_string(api: Api, database: Database, world: World, topic: Any) -> None:
    outcome = await api.create_chat({"topic": topic}, key=world.keys["alice"])
    assert outcome.status == 400
    if api.name == "rest":
        assert outcome.message == TOPIC_ERROR
    else:
        # GraphQL's own type system refuses a non-string for `String` before any resolver runs;
        # the message is graphql-core's and names the value.
        assert outcome.message is not None
        assert "String cannot represent a non string value" in outcome.message
    assert await database.counts() == {"sessions": 0, "chats": 0}


def headers_case(kind: str, world: World) -> dict[str, str]:
    alice = world.keys["alice"]
    return {
        "none": {},
        "both": {"x-api-key": alice, "authorization": f"Bearer {alice}"},
        "unknown": {"x-api-key": "chats_" + "A" * 43},
        "empty": {"x-api-key": ""},
        "revoked": {"x-api-key": world.keys["revoked"]},
        "expired": {"x-api-key": world.keys["expired"]},
        "basic": {"authorization": f"Basic {alice}"},
        "bearer-alone": {"authorization": "Bearer"},
        "bearer-two-tokens": {"authorization": f"Bearer {alice} extra"},
        "bearer-unknown": {"authorization": "Bearer nope"},
    }[kind]


AMBIGUOUS = "Exactly one of x-api-key or Authorization must be provided"


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        pytest.param("none", AMBIGUOUS, id="no-credentials"),
        pytest.param("both", AMBIGUOUS, id="both-headers"),
        pytest.param("unknown", "Unauthorized", id="unknown-key"),
        pytest.param("empty", "Unauthorized", id="empty-key"),
        pytest.param("revoked", "Unauthorized", id="revoked-key"),
        pytest.param("expired", "Unauthorized", id="expired-key"),
        pytest.param("basic", "Unauthorized", id="basic-scheme"),
        pytest.param("bearer-alone", "Unauthorized", id="bearer-without-token"),
        pytest.param("bearer-two-tokens", "Unauthorized", id="bearer-two-tokens"),
        pytest.param("bearer-unknown", "Unauthorized", id="bearer-unknown-key"),
    ],
)
async def test_unauthenticated(
    api: Api, database: Database, world: World, kind: str, message: str
) -> None:
    # An invalid body too: 401 wins over 400.
    outcome = await api.create_chat({"chatId": "not-a-uuid"}, headers=headers_case(kind, world))
    assert outcome.error == (401, message)
    assert await database.counts() == {"sessions": 0, "chats": 0}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda key: {"x-api-key": key}, id="x-api-key"),
        pytest.param(lambda key: {"authorization": f"Bearer {key}"}, id="bearer"),
        pytest.param(lambda key: {"Authorization": f"bearer {key}"}, id="bearer-lowercase"),
    ],
)
async def test_key_headers(api: Api, database: Database, world: World, headers: Any) -> None:
    outcome = await api.create_chat({}, headers=headers(world.keys["future"]))
    assert outcome.status == 200
    await assert_stored(database, outcome)


async def test_retry_with_same_chat_id_returns_the_same_chat(
    api: Api, database: Database, world: World
) -> None:
    chat_id = str(uuid.uuid4())
    payload = {"chatId": chat_id, "topic": "Tour", "artistId": str(world.band)}
    first = await api.create_chat(payload, key=world.keys["alice"])
    again = await api.create_chat({**payload, "topic": "  Tour  "}, key=world.keys["alice"])
    assert first.status == again.status == 200
    assert first.chat is not None
    assert first.chat["id"] == chat_id
    assert again.chat == first.chat
    assert await database.counts() == {"sessions": 1, "chats": 1}
    await assert_stored(database, first, artist_id=world.band)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"topic": "Other"}, id="other-title"),
        pytest.param({"artistId": None}, id="other-artist"),
        pytest.param({"accountId": "carol"}, id="other-account"),
    ],
)
async def test_reused_chat_id_is_a_conflict(
    api: Api, database: Database, world: World, change: dict[str, Any]
) -> None:
    chat_id = str(uuid.uuid4())
    original = {"chatId": chat_id, "topic": "Tour", "artistId": str(world.orgband)}
    first = await api.create_chat(original, key=world.keys["alice"])
    assert first.status == 200
    second = {**original}
    for field, value in change.items():
        if value is None:
            del second[field]
        else:
            second[field] = str(getattr(world, value)) if field == "accountId" else value
    outcome = await api.create_chat(second, key=world.keys["alice"])
    assert outcome.error == (409, "chatId already exists")
    assert await database.counts() == {"sessions": 1, "chats": 1}
    await assert_stored(database, first, artist_id=world.orgband)


async def test_chat_id_of_another_accounts_chat_is_a_conflict(
    api: Api, database: Database, world: World
) -> None:
    chat_id = str(uuid.uuid4())
    assert (await api.create_chat({"chatId": chat_id}, key=world.keys["bob"])).status == 200
    outcome = await api.create_chat({"chatId": chat_id}, key=world.keys["dave"])
    assert outcome.error == (409, "chatId already exists")
    assert await database.counts() == {"sessions": 1, "chats": 1}


async def test_client_chat_id_in_upper_case_is_stored_canonically(
    api: Api, database: Database, world: World
) -> None:
    chat_id = uuid.uuid4()
    outcome = await api.create_chat({"chatId": str(chat_id).upper()}, key=world.keys["alice"])
    assert outcome.status == 200
    assert outcome.chat is not None
    assert outcome.chat["id"] == str(chat_id)
    await assert_stored(database, outcome)


async def test_rows_are_stored_as_the_orm_stores_them(
    api: Api, database: Database, world: World
) -> None:
    # The create path writes its two rows with hand-written SQL (one round trip, or one trip to
    # SQLite's thread); Piccolo writes the same values the same way, so every reader agrees.
    outcome = await api.create_chat({"topic": "raw"}, key=world.keys["alice"])
    assert outcome.chat is not None
    written = await database.chat(outcome.chat["id"])
    assert written is not None
    session_id, chat_id = uuid.uuid4(), uuid.uuid4()
    moment = datetime.fromisoformat(outcome.chat["updatedAt"])
    await Session.insert(Session(id=session_id, account=world.alice, created_at=moment))
    await Chat.insert(
        Chat(
            id=chat_id,
            session=session_id,
            account=world.alice,
            title="raw",
            created_at=moment,
            updated_at=moment,
        )
    )
    stored = (
        "SELECT typeof(c.id) AS id_type, c.account_id, typeof(c.account_id) AS account_type,"
        " c.title, c.created_at, c.updated_at, typeof(c.updated_at) AS updated_type,"
        " s.account_id AS session_account, s.artist_id, s.created_at AS session_created"
        " FROM chats c JOIN sessions s ON s.id = c.session_id WHERE c.id = ?"
    )
    if database.engine != "sqlite":
        stored = stored.replace("typeof(", "pg_typeof(").replace(") AS", ")::text AS")
    by_service = await database.fetch(stored, uuid.UUID(outcome.chat["id"]))
    by_orm = await database.fetch(stored, chat_id)
    assert by_service == by_orm
    assert len(by_service) == 1

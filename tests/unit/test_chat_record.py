"""One chat record: every form of a chat derives from `db.rows.ChatRow`'s fields."""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson

from db import events
from db.engine import create_engine, use_engine
from db.queries import _CHAT_COLUMNS
from db.rows import CHAT_FIELDS, ChatRow
from db.tables import Chat
from resolvers import models
from rest.responses import chat_json
from schema.types import ChatRoom as ChatRoomType

MOMENT = datetime(2026, 11, 28, 20, 18, 23, 123456, tzinfo=UTC)
CHAT = ChatRow(
    id=uuid.UUID("0192f1c5-3b5e-7cc4-a6b1-2a7c8d9e0f11"),
    title="Pulse Feb 2",
    account_id=uuid.UUID("0192f1c5-3b5e-7cc4-a6b1-2a7c8d9e0f12"),
    session_id=uuid.UUID("0192f1c5-3b5e-7cc4-a6b1-2a7c8d9e0f13"),
    updated_at=MOMENT,
    artist_id=None,
    created_at=MOMENT.replace(microsecond=0),
)


def test_the_domain_value_is_the_record() -> None:
    assert models.ChatRow is ChatRow


def test_the_query_selects_each_field_under_its_name(tmp_path: Path) -> None:
    use_engine(create_engine(f"sqlite:///{tmp_path / 'unused.sqlite3'}"))  # SQL text only
    sql = str(Chat.select(*_CHAT_COLUMNS))
    assert re.findall(r' AS "(\w+)"', sql) == list(CHAT_FIELDS)


def test_the_graphql_type_has_the_records_fields() -> None:
    declared = [field.name for field in dataclasses.fields(ChatRoomType)]
    # The record's fields, then the conversation's (resolved per caller, not stored on the chat).
    assert tuple(declared) == (*CHAT_FIELDS, "messages", "is_streaming", "has_unread")
    room = ChatRoomType.from_model(CHAT)
    assert {name: getattr(room, name) for name in CHAT_FIELDS} == dataclasses.asdict(CHAT)


def test_the_rest_json_is_the_seeds_chat_room() -> None:
    assert chat_json(CHAT) == {
        "id": "0192f1c5-3b5e-7cc4-a6b1-2a7c8d9e0f11",
        "title": "Pulse Feb 2",
        "accountId": "0192f1c5-3b5e-7cc4-a6b1-2a7c8d9e0f12",
        "sessionId": "0192f1c5-3b5e-7cc4-a6b1-2a7c8d9e0f13",
        "updatedAt": "2026-11-28T20:18:23.123456Z",
        "artistId": None,
    }
    assert list(chat_json(CHAT)) == [
        "id",
        "title",
        "accountId",
        "sessionId",
        "updatedAt",
        "artistId",
    ]


def test_an_event_survives_its_codec() -> None:
    with_artist = dataclasses.replace(CHAT, artist_id=uuid.uuid4())
    for chat in (CHAT, with_artist):
        payload = events.encode(chat)
        assert set(orjson.loads(payload)) == set(CHAT_FIELDS)
        assert ChatRow.from_json(orjson.loads(payload)) == chat

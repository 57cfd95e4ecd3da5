"""Page sizes and cursors, without a database."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import pytest

from resolvers.chats import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    decode_cursor,
    encode_cursor,
    parse_page_size,
)
from resolvers.errors import InvalidInput
from resolvers.models import ChatRow

MOMENT = datetime(2026, 11, 28, 20, 18, 23, 123456, tzinfo=UTC)


def chat() -> ChatRow:
    return ChatRow(
        id=uuid.uuid4(),
        title="t",
        account_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        updated_at=MOMENT,
        artist_id=None,
        created_at=MOMENT,
    )


@pytest.mark.parametrize(("value", "size"), [(None, DEFAULT_PAGE_SIZE), (1, 1), ("100", 100)])
def test_page_sizes(value: object, size: int) -> None:
    assert parse_page_size(value, "limit") == size


@pytest.mark.parametrize("value", [0, 101, -1, True, 1.5, "abc", "1.5", "0x10", "1e2", "٣", "0100"])
def test_bad_page_sizes_name_the_parameter(value: object) -> None:
    message = f"^first must be an integer between 1 and {MAX_PAGE_SIZE}$"
    with pytest.raises(InvalidInput, match=message):
        parse_page_size(value, "first")


def test_a_cursor_is_the_keyset_position_of_its_chat() -> None:
    room = chat()
    assert decode_cursor(encode_cursor(room)) == (MOMENT, room.id)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        _b64("not a cursor"),
        _b64(f"{MOMENT.isoformat()}|nope"),
        _b64("2026-11-28T20:18:23|0192f1c5-3b5e-7cc4-a6b1-2a7c8d9e0f11"),  # no timezone
        base64.urlsafe_b64encode(b"\xff\xfe|x").decode(),
    ],
)
def test_bad_cursors(cursor: str) -> None:
    with pytest.raises(InvalidInput, match=r"^cursor is not valid$"):
        decode_cursor(cursor)

"""The conversation rules that need no database: merging a reply's chunks, reply roles, chunk
indices, and cursors that name their chat."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest

from resolvers import conversation_input
from resolvers.errors import InvalidInput
from resolvers.models import Message

CHAT = uuid.UUID("0192f1c5-3b5e-7cc4-a6b1-2a7c8d9e0f11")
OTHER = uuid.UUID("0192f1c5-3b5e-7cc4-a6b1-2a7c8d9e0f12")


def text(value: str) -> dict[str, str]:
    return {"type": "text", "text": value}


def test_text_deltas_join_and_other_parts_follow() -> None:
    merged = conversation_input.merge_parts([text("Hel")], [text("lo"), {"type": "tool-call"}], 2)
    assert merged == [text("Hello"), {"type": "tool-call"}]
    # A text part after a non-text part starts a new part.
    assert conversation_input.merge_parts(merged, [text("!")], 3) == [*merged, text("!")]
    # The first chunk of an empty reply is taken as it is.
    assert conversation_input.merge_parts([], [text("a")], 1) == [text("a")]


def test_a_reply_has_a_chunk_and_size_limit() -> None:
    with pytest.raises(InvalidInput, match="message too large"):
        conversation_input.merge_parts([], [text("a")], conversation_input.MAX_CHUNKS + 1)
    big = [text("x" * (conversation_input.MAX_REPLY_BYTES - 30))]
    with pytest.raises(InvalidInput, match="message too large"):
        conversation_input.merge_parts(big, [text("y" * 100)], 2)


@pytest.mark.parametrize(
    ("value", "role"),
    [(None, "assistant"), ("assistant", "assistant"), ("SYSTEM", "system")],
)
def test_reply_roles(value: object, role: str) -> None:
    assert conversation_input.parse_reply_role(value) == role


@pytest.mark.parametrize("value", ["user", "USER", "", 3, ["assistant"]])
def test_other_roles_are_refused(value: object) -> None:
    with pytest.raises(InvalidInput, match="role must be assistant or system"):
        conversation_input.parse_reply_role(value)


@pytest.mark.parametrize("value", [-1, 1.0, "1", True, None])
def test_an_index_is_a_non_negative_integer(value: object) -> None:
    with pytest.raises(InvalidInput, match="index must be a non-negative integer"):
        conversation_input.parse_index(value)


def test_an_index_past_the_last_chunk_is_too_large() -> None:
    assert (
        conversation_input.parse_index(conversation_input.MAX_CHUNKS - 1)
        == conversation_input.MAX_CHUNKS - 1
    )
    with pytest.raises(InvalidInput, match="message too large"):
        conversation_input.parse_index(conversation_input.MAX_CHUNKS)


def test_cursors_name_their_chat_and_kind() -> None:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    message = Message(uuid.uuid4(), CHAT, "user", [text("a")], "complete", now, now, seq=7)
    page = conversation_input.page_cursor(message)
    event = conversation_input.event_cursor(CHAT, 7)
    assert conversation_input.cursor_position(page, "p", CHAT) == 7
    assert conversation_input.cursor_position(event, "e", CHAT) == 7
    # Another chat's cursor, the other kind of cursor, and garbage are no cursors of this chat.
    assert conversation_input.cursor_position(page, "p", OTHER) is None
    assert conversation_input.cursor_position(event, "p", CHAT) is None
    for garbage in ("", "nope", "=", "e" * 300, 3):
        assert conversation_input.cursor_position(garbage, "e", CHAT) is None


def test_a_hint_carries_its_entry_only_within_notifys_bytes() -> None:
    """NOTIFY refuses a payload over 8,000 bytes: a hint counts bytes, not characters."""
    from db.events import decode_hint, encode_hint
    from db.rows import ChunkRow, LogEntry

    def hint_of(chunk_text: str) -> str:
        entry = LogEntry(CHAT, 3, "CHUNK", chunk=ChunkRow(OTHER, 0, [text(chunk_text)]))
        return encode_hint(entry, orjson.dumps(entry.payload()).decode())

    small = hint_of("hello")
    assert decode_hint(small)[1] is not None  # carried: a watcher in step reads nothing
    wide = hint_of("\u4f60" * 3000)  # 3,000 characters, 9,000 bytes
    assert len(wide.encode()) < 8000
    assert decode_hint(wide) == (3, None)  # only the position: the watcher reads the log

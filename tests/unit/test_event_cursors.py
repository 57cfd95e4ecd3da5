"""The pieces of resumable chat events that need no server: a reader's place in the log (a
snapshot's transactions skipped, then forgotten), the cursor's codec, and `Accept` read as media
types."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from db.event_log import LoggedEvent, Since, place_of
from db.rows import ChatRow
from resolvers.chat_events import decode_cursor, encode_cursor
from schema.http_streams import MULTIPART, SSE, media_ranges, streaming_transport

NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
ACCOUNT = uuid.uuid4()
CHAT = ChatRow(uuid.uuid4(), "t", ACCOUNT, uuid.uuid4(), NOW, None, NOW)


def event(tx: int, row: int) -> LoggedEvent:
    return LoggedEvent((tx, row), "CREATED", CHAT, NOW)


def test_a_snapshot_skips_what_it_saw_and_reads_what_it_did_not() -> None:
    """The account's last final row was (99, 7); a read saw 101, 102 and 104 committed while 100
    and 103 ran: 101, 102 and 104 are in the page (skipped); 100, 103 and everything from 105 come
    after it."""
    since = place_of("99:7:101,102,104")
    assert since.position == (99, 7)
    order = [event(tx, n + 8) for n, tx in enumerate([100, 101, 102, 103, 104, 105, 106])]
    delivered = []
    for logged in order:
        if not since.skips(logged):
            delivered.append(logged.position[0])
        since = since.passed(logged)
    assert delivered == [100, 103, 105, 106]
    assert since == Since((106, 14))  # past what the read saw: a plain place


def test_sqlite_places_are_ids() -> None:
    assert place_of("0:41:") == Since((0, 41))
    assert place_of("0:0:") == Since((0, 0))


@pytest.mark.parametrize(
    "since",
    [Since((5, 7)), Since((99, 7), frozenset({101, 102, 104})), Since((0, 0))],
)
def test_a_cursor_holds_its_place(since: Since) -> None:
    cursor = encode_cursor(ACCOUNT, since, NOW)
    assert decode_cursor(cursor, ACCOUNT, NOW + timedelta(hours=23)) == since


def test_two_reads_of_one_log_answer_one_cursor() -> None:
    """A cursor says the hour it was taken, not the moment."""
    since = Since((5, 7))
    later = NOW + timedelta(minutes=59, seconds=59)
    assert encode_cursor(ACCOUNT, since, NOW) == encode_cursor(ACCOUNT, since, later)


def test_a_cursor_that_is_not_live_decodes_to_nothing() -> None:
    cursor = encode_cursor(ACCOUNT, Since((5, 7)), NOW)
    assert decode_cursor(cursor, uuid.uuid4(), NOW) is None  # another account's
    assert decode_cursor(cursor, ACCOUNT, NOW + timedelta(hours=24, minutes=59)) is not None
    assert decode_cursor(cursor, ACCOUNT, NOW + timedelta(hours=25)) is None
    for malformed in ("", "x", "Yzpub3Q", cursor[:-3], "é" * 10, 42, None, "A" * 9000):
        assert decode_cursor(malformed, ACCOUNT, NOW) is None


@pytest.mark.parametrize(
    ("accept", "transport"),
    [
        (
            "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,"
            "application/graphql-response+json,application/json;q=0.9",
            MULTIPART,
        ),
        (
            'multipart/mixed; boundary="graphql"; subscriptionSpec="1.0", application/json',
            MULTIPART,
        ),
        ("multipart/mixed;subscriptionSpec=1.0", MULTIPART),
        ("text/event-stream", SSE),
        ("application/json, text/event-stream;q=0.5", SSE),
        ("multipart/mixed;boundary=other;subscriptionSpec=1.0", None),
        ("multipart/mixed", None),
        ('multipart/mixed;deferSpec="2,0"', None),
        ("application/graphql-response+json, application/json", None),
        ("", None),
    ],
)
def test_accept_is_read_as_media_types(accept: str, transport: str | None) -> None:
    assert streaming_transport(accept) == transport


@pytest.mark.parametrize(
    ("accept", "transport"),
    [
        ('text/event-stream;q="', SSE),  # an unclosed quote in a parameter: the type stands
        ('"' * 500, None),
        (";" * 500 + "=", None),
        (",,,;;;===", None),
        ("multipart/mixed;" * 200, None),
    ],
)
def test_a_malformed_accept_raises_nothing(accept: str, transport: str | None) -> None:
    """Nothing a client can put in `Accept` raises; what is not a stream's media type is none."""
    assert streaming_transport(accept) == transport


def test_a_quoted_comma_stays_in_its_parameter() -> None:
    assert media_ranges('a/b;x="1,2";y=3, c/d') == [("a/b", {"x": "1,2", "y": "3"}), ("c/d", {})]

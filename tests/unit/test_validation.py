"""The input rules both protocols share, checked without HTTP or a database."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from resolvers.errors import InvalidInput
from resolvers.validation import (
    BIDI_CONTROLS,
    DEFAULT_TITLE,
    TOPIC_ERROR,
    TOPIC_REQUIRED,
    parse_chat_update,
    parse_new_chat,
    parse_uuid,
)

ID = "0192f1c5-3b5e-7cc4-a6b1-2a7c8d9e0f11"


@pytest.mark.parametrize("value", [ID, ID.upper()])
def test_uuid_in_canonical_form(value: str) -> None:
    assert parse_uuid(value, "chatId") == uuid.UUID(ID)


@pytest.mark.parametrize(
    "value",
    [None, 5, "", "nope", "{" + ID + "}", "urn:uuid:" + ID, ID.replace("-", ""), " " + ID],
)
def test_uuid_in_any_other_form_names_its_field(value: object) -> None:
    with pytest.raises(InvalidInput, match=r"^chatId must be a valid UUID$"):
        parse_uuid(value, "chatId")


@pytest.mark.parametrize(
    ("topic", "title"),
    [
        ("  Pulse Feb 2 \n", "Pulse Feb 2"),
        ("", DEFAULT_TITLE),
        ("   ", DEFAULT_TITLE),
        ("é" * 100, "é" * 100),
        ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"),
    ],
)
def test_title_is_the_trimmed_topic(topic: str, title: str) -> None:
    assert parse_new_chat({"topic": topic}).title == title


@pytest.mark.parametrize(
    "topic",
    ["x" * 101, "a\x00b", "a\nb", "\ud800", 5, None, ["x"]]
    + [f"a{control}b" for control in sorted(BIDI_CONTROLS)],
)
def test_bad_topics(topic: object) -> None:
    with pytest.raises(InvalidInput, match=f"^{TOPIC_ERROR}$"):
        parse_new_chat({"topic": topic})


def test_fields_are_checked_in_the_contracts_order() -> None:
    with pytest.raises(InvalidInput, match=r"^artistId "):
        parse_new_chat({"topic": 5, "accountId": "x", "chatId": "x", "artistId": "x"})
    with pytest.raises(InvalidInput, match=r"^chatId "):
        parse_new_chat({"topic": 5, "accountId": "x", "chatId": "x"})


def test_unknown_fields_are_ignored_and_absent_ones_are_none() -> None:
    new = parse_new_chat({"colour": "blue"})
    assert (new.title, new.account_id, new.artist_id, new.chat_id) == (
        DEFAULT_TITLE,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    "payload", [{"chatId": ID}, {"chatId": ID, "topic": " "}, {"chatId": ID, "topic": ""}]
)
def test_a_rename_needs_a_topic(payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match=f"^{TOPIC_REQUIRED}$"):
        parse_chat_update(payload)


def test_a_rename_checks_the_chat_id_first() -> None:
    with pytest.raises(InvalidInput, match=r"^chatId must be a valid UUID$"):
        parse_chat_update({"topic": ""})

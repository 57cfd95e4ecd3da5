"""Input rules shared by both protocols. Edges hand over raw values; these functions decide."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from uuid import UUID

from resolvers.errors import InvalidInput
from resolvers.models import ChatUpdate, NewChat

DEFAULT_TITLE = "New chat"
MAX_TITLE_LENGTH = 100

_UUID_FORM = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# Cc: control characters (NUL included); Cs: lone surrogates, which no database can store.
_FORBIDDEN_CATEGORIES = {"Cc", "Cs"}
# Bidirectional controls reorder what a reader sees ("Trojan Source"); the zero-width joiner of
# emoji sequences (U+200D) is not one of them and stays valid.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
TOPIC_ERROR = f"topic must be a string of at most {MAX_TITLE_LENGTH} characters"
TOPIC_REQUIRED = "topic is required and must not be blank"


def parse_uuid(value: object, field: str) -> UUID:
    """Only the canonical 8-4-4-4-12 form; `uuid.UUID` would also take braces, URNs and bare hex."""
    if isinstance(value, str) and _UUID_FORM.fullmatch(value):
        return UUID(value)
    raise InvalidInput(f"{field} must be a valid UUID")


def uuid_or_none(value: str) -> UUID | None:
    """A path's id: the UUID it names, or None when it is not one (it names nothing)."""
    return UUID(value) if _UUID_FORM.fullmatch(value) else None


def parse_optional_uuid(payload: Mapping[str, object], field: str) -> UUID | None:
    """Absent is None; present must be a UUID (an explicit null is not a UUID)."""
    if field not in payload:
        return None
    return parse_uuid(payload[field], field)


def parse_title(topic: object) -> str:
    """The trimmed topic; blank becomes the default title."""
    if not isinstance(topic, str):
        raise InvalidInput(TOPIC_ERROR)
    title = topic.strip()
    if len(title) > MAX_TITLE_LENGTH or has_control_characters(title):
        raise InvalidInput(TOPIC_ERROR)
    return title or DEFAULT_TITLE


def _is_control(char: str) -> bool:
    """A control character (a newline or an escape forges lines and colours where the text is
    printed), a lone surrogate or a bidirectional control."""
    return char in BIDI_CONTROLS or unicodedata.category(char) in _FORBIDDEN_CATEGORIES


def has_control_characters(text: str) -> bool:
    return any(map(_is_control, text))


def printable(text: str) -> str:
    """The text with its control characters written as escapes, for a terminal or a log."""
    if not has_control_characters(text):
        return text
    return "".join(f"\\u{ord(char):04x}" if _is_control(char) else char for char in text)


def parse_plain_text(value: str, field: str) -> str:
    """An operator's name or identifier, refused if it holds control characters."""
    if has_control_characters(value):
        raise InvalidInput(f"{field} must not hold control characters")
    return value


def parse_required_uuid(payload: Mapping[str, object], field: str) -> UUID:
    return parse_uuid(payload.get(field), field)


def parse_chat_update(payload: Mapping[str, object]) -> ChatUpdate:
    """A rename needs a topic, and a blank one is not a title."""
    chat_id = parse_required_uuid(payload, "chatId")
    topic = payload.get("topic")
    if "topic" not in payload or (isinstance(topic, str) and not topic.strip()):
        raise InvalidInput(TOPIC_REQUIRED)
    return ChatUpdate(chat_id=chat_id, title=parse_title(topic))


def parse_new_chat(payload: Mapping[str, object]) -> NewChat:
    """Unknown fields are ignored. Fields are checked in the contract's order."""
    artist_id = parse_optional_uuid(payload, "artistId")
    chat_id = parse_optional_uuid(payload, "chatId")
    account_id = parse_optional_uuid(payload, "accountId")
    title = parse_title(payload["topic"]) if "topic" in payload else DEFAULT_TITLE
    return NewChat(title=title, account_id=account_id, artist_id=artist_id, chat_id=chat_id)

"""Chat use cases."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from uuid import UUID

from db import queries
from db.errors import DuplicateKey
from resolvers.access import acting_account, can_act_for, check_artist
from resolvers.chat_events import encode_cursor as event_cursor
from resolvers.clock import new_id, now
from resolvers.errors import (
    ChatAlreadyExists,
    ChatCreationFailed,
    ChatNotFound,
    InvalidInput,
)
from resolvers.models import Caller, ChatPage, ChatRow, ChatUpdate, NewChat
from resolvers.usecase import use_case

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# A chatId that collides, then vanishes (deleted) before we can read it, is tried again this often.
_INSERT_ATTEMPTS = 3


@use_case(ChatCreationFailed)
async def create_chat(caller: Caller, new: NewChat) -> ChatRow:
    """A session and its chat, in one transaction.

    A `chatId` that already names a chat of the same account, artist and title is a retry of the
    same request and answers with that chat; any other reuse is a conflict.
    """
    account_id = await acting_account(caller, new.account_id)
    if new.artist_id is not None:
        await check_artist(account_id, new.artist_id)
    chat_id = new.chat_id or new_id()
    for _ in range(_INSERT_ATTEMPTS):
        try:
            return await queries.insert_session_and_chat(
                session_id=new_id(),
                chat_id=chat_id,
                account_id=account_id,
                artist_id=new.artist_id,
                title=new.title,
                now=now(),
            )
        except DuplicateKey:
            existing = await queries.get_chat(chat_id)
            if existing is None:
                continue
            if (existing.account_id, existing.artist_id, existing.title) == (
                account_id,
                new.artist_id,
                new.title,
            ):
                return existing
            raise ChatAlreadyExists() from None
    raise ChatCreationFailed()


@use_case()
async def get_chat(caller: Caller, chat_id: UUID) -> ChatRow | None:
    """The chat, or None when it does not exist or the caller may not see it (the same answer)."""
    chat = await queries.get_chat(chat_id)
    if chat is None or not await can_act_for(caller, chat.account_id):
        return None
    return chat


@use_case()
async def visible_chat(caller: Caller, chat_id: UUID) -> ChatRow:
    """For operations on a chat: a missing and a hidden chat are both ChatNotFound."""
    chat = await get_chat(caller, chat_id)
    if chat is None:
        raise ChatNotFound()
    return chat


@use_case()
async def update_chat(caller: Caller, update: ChatUpdate) -> ChatRow:
    """Renames a chat the caller may see and bumps its updatedAt."""
    await visible_chat(caller, update.chat_id)
    chat = await queries.rename_chat(update.chat_id, update.title, now())
    if chat is None:  # deleted in the meantime
        raise ChatNotFound()
    return chat


@use_case()
async def delete_chat(caller: Caller, chat_id: UUID) -> ChatRow:
    """Deletes a chat the caller may see (and its session, when empty); returns it as it was."""
    await visible_chat(caller, chat_id)
    chat = await queries.delete_chat(chat_id, now())
    if chat is None:  # deleted in the meantime
        raise ChatNotFound()
    return chat


@use_case()
async def list_chats(
    caller: Caller,
    *,
    account_id: UUID | None,
    limit: int,
    cursor: str | None,
    artist_id: UUID | None = None,
) -> ChatPage:
    """One page of an account's chats, newest first; the caller's own by default."""
    owner = await acting_account(caller, account_id)
    before = decode_cursor(cursor) if cursor is not None else None
    rows, since = await queries.list_chats(
        owner, limit=limit + 1, artist_id=artist_id, before=before
    )
    return ChatPage(
        chats=rows[:limit],
        has_next_page=len(rows) > limit,
        event_cursor=event_cursor(owner, since, now()),
    )


def parse_page_size(value: object, field: str) -> int:
    """An integer from 1 to the maximum; query strings hand it over as text."""
    if value is None:
        return DEFAULT_PAGE_SIZE
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 3:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidInput(f"{field} must be an integer between 1 and {MAX_PAGE_SIZE}")
    return value


def encode_cursor(chat: ChatRow) -> str:
    """Opaque to clients: the keyset position (updated_at, id) of a chat."""
    raw = f"{chat.updated_at.isoformat()}|{chat.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        updated_at, _, chat_id = base64.urlsafe_b64decode(padded).decode().partition("|")
        moment = datetime.fromisoformat(updated_at)
        if moment.tzinfo is None:
            raise ValueError("a cursor's time has a timezone")
        # In UTC, as the engines store it: a time that leaves the representable range there
        # (year 1 at +14:00) is no position.
        return moment.astimezone(UTC), UUID(chat_id)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor is not valid") from None

"""The accounts' chat events as a stream that resumes from a cursor.

A cursor is the reader's place in the log (`db.event_log.Since`), the account it reads and the
hour the place was taken (an hour, not a moment: two reads of the same log answer the same
cursor); it is opaque to clients. A cursor is live while it is the caller's account's and its hour
began less than the log's retention (24 hours) and an hour ago; any other is CURSOR_EXPIRED, and
the client reloads the chats list, whose `eventCursor` starts the stream anew.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from datetime import datetime
from uuid import UUID

from db import event_log, event_tail
from db.errors import DatabaseUnavailable
from db.event_log import Since
from resolvers.access import acting_account
from resolvers.clock import now
from resolvers.errors import CursorExpired, ServiceUnavailable
from resolvers.models import Caller, ChatEvent
from resolvers.usecase import use_case

_KIND = "c"
# A place seen by a read lists the transactions it saw above it: a handful, bounded generously.
_MAX_CURSOR = 8192


def encode_cursor(account_id: UUID, since: Since, at: datetime) -> str:
    fields = [_KIND, str(account_id), *map(str, since.position), str(_hour(at))]
    if since.seen:
        fields.append(",".join(map(str, sorted(since.seen))))
    return base64.urlsafe_b64encode(":".join(fields).encode()).decode().rstrip("=")


def _hour(moment: datetime) -> int:
    return int(moment.timestamp() // 3600)


def decode_cursor(cursor: object, account_id: UUID, at: datetime) -> Since | None:
    """The place, or None when the cursor is not a live cursor of the account's events."""
    if not isinstance(cursor, str) or len(cursor) > _MAX_CURSOR:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, account, tx, row, hour, *seen = (
            base64.urlsafe_b64decode(padded).decode("ascii").split(":")
        )
        seen_txs = seen[0].split(",") if seen else []
        numbers = [tx, row, hour, *seen_txs]
        if kind != _KIND or UUID(account) != account_id or not all(map(str.isdigit, numbers)):
            return None
        if len(seen) > 1 or _hour(at - event_log.RETENTION) - 1 >= int(hour):
            return None
        return Since((int(tx), int(row)), frozenset(map(int, seen_txs)))
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
        return None


@use_case()
async def open_chat_events(
    caller: Caller, account_id: UUID | None, after: object
) -> tuple[UUID, Since]:
    """Whose events the stream reads (the caller's own by default), and from where: after the
    cursor `after`, or what is committed from now on."""
    owner = await acting_account(caller, account_id)
    if after is None:
        return owner, await event_log.since_now(owner)
    since = decode_cursor(after, owner, now())
    if since is None or await event_log.beyond(since):
        raise CursorExpired()
    return owner, since


async def chat_events(owner: UUID, since: Since) -> AsyncIterator[ChatEvent]:
    """The account's events after `since`, then live; each once, in the log's order, with the
    cursor to resume right after it. Ends with ServiceUnavailable when the log cannot be read."""
    try:
        async for event, place in event_tail.follow(owner, since):
            cursor = encode_cursor(owner, place, event.created_at)
            yield ChatEvent(type=event.type, chat=event.chat, cursor=cursor, trace=event.trace)
    except DatabaseUnavailable as exc:
        raise ServiceUnavailable() from exc


@use_case()
async def prune_chat_events() -> None:
    """Forgets the events older than the log's retention (and its margin)."""
    await event_log.prune(now())

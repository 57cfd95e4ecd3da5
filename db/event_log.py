"""The accounts' chat events as a log (`chat_events`): written by the transaction that makes
them, read in one order that never changes, kept for RETENTION.

Order without a lock. On PostgreSQL a row's place is `(tx, id)`, `tx` being its writing
transaction's id; a reader takes only rows whose `tx` is below its snapshot's `xmin`, the oldest
transaction still running, so every row at or before a place it has read is final: no
transaction still open can add one there. Writers take no lock at all (`pg_notify` took one for
the whole database). On SQLite one writer at a time commits rows in `id` order, `tx` is 0.

A reader's place is a `Since`: the last place read, and, for a place taken from a read's snapshot
(a page of chats), the transactions that snapshot had already seen, which come later in the
log's order but are skipped (they are in the page). A place is an account's own: two reads of the
same account's log answer the same place, whatever else the database was doing in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import orjson

from db.conversation_reads import as_time, as_uuid
from db.engine import background_query, current_engine, query
from db.events import EventType, encode
from db.rows import ChatRow
from db.tables import ChatEventEntry
from db.tracing import traceparent

Position = tuple[int, int]
# Events are kept this long at least; a cursor older than it (and the hour it was taken in) is
# expired. Rows go an hour after that, so a cursor still valid never points past a pruned row.
RETENTION = timedelta(hours=24)
_PRUNE_AFTER = RETENTION + timedelta(hours=2)
_LAST_ID = 2**63 - 1

_INSERT = (
    "INSERT INTO chat_events (account_id, chat_id, type, payload, created_at, trace)"
    " VALUES ({}, {}, {}, {}, {}, {})"
)
_POSTGRES_HORIZON = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    position: Position
    type: EventType
    chat: ChatRow
    created_at: datetime
    # The writing request's W3C traceparent, when traces were exported then.
    trace: str | None = None


@dataclass(frozen=True, slots=True)
class Since:
    """A reader's place: after `position`, and past the transactions in `seen` (later in the
    log's order, but already seen by the read the place was taken from)."""

    position: Position
    seen: frozenset[int] = frozenset()

    def skips(self, event: LoggedEvent) -> bool:
        return event.position[0] in self.seen

    def passed(self, event: LoggedEvent) -> Since:
        """The place once `event` is read (delivered or skipped)."""
        tx = event.position[0]
        return Since(event.position, frozenset(t for t in self.seen if t > tx))


def _postgres() -> bool:
    return current_engine().engine_type == "postgres"


async def append(event_type: EventType, chat: ChatRow, now: datetime) -> None:
    """The event, in the current write transaction; its hint goes after the commit."""
    await ChatEventEntry.raw(
        _INSERT, chat.account_id, chat.id, event_type, encode(chat), now, traceparent()
    )


def _event(row: dict[str, Any]) -> LoggedEvent:
    return LoggedEvent(
        position=(int(row["tx"]), int(row["id"])),
        type=row["type"],
        chat=ChatRow.from_json(orjson.loads(row["payload"])),
        created_at=as_time(row["created_at"]),
        trace=row["trace"],
    )


def _read_sql(by_account: bool) -> str:
    horizon = _POSTGRES_HORIZON if _postgres() else "1"
    account = "account_id = {} AND " if by_account else ""
    return (
        "SELECT account_id, id, tx, type, payload, created_at, trace FROM chat_events"
        f" WHERE {account}(tx, id) > ({{}}, {{}}) AND tx < {horizon}"
        " ORDER BY tx, id LIMIT {}"
    )


@query
async def read_account(account_id: UUID, after: Position, limit: int) -> list[LoggedEvent]:
    """The account's final events after `after`, in the log's order."""
    rows = await ChatEventEntry.raw(_read_sql(True), account_id, *after, limit)
    return [_event(row) for row in rows]


@background_query
async def read_all(after: Position, limit: int) -> list[tuple[UUID, LoggedEvent]]:
    """Every account's final events after `after`, in the log's order, with their account."""
    rows = await ChatEventEntry.raw(_read_sql(False), *after, limit)
    return [(as_uuid(row["account_id"]), _event(row)) for row in rows]


async def horizon() -> Since:
    """The log as of now: every event at or before it is final (a place to read on from, for a
    reader that wants only what comes next)."""
    if _postgres():
        rows = await ChatEventEntry.raw(f"SELECT {_POSTGRES_HORIZON} AS horizon")
        return Since((int(rows[0]["horizon"]) - 1, _LAST_ID))
    rows = await ChatEventEntry.raw("SELECT seq FROM sqlite_sequence WHERE name = 'chat_events'")
    return Since((0, int(rows[0]["seq"]) if rows else 0))


horizon_now = background_query(horizon)


def place_sql() -> tuple[str, int]:
    """A column that a read adds to its statement to answer an account's place in the log as of
    its snapshot (`place_of` reads it), and how many times it takes the account as a parameter.
    On PostgreSQL: the account's last row below the snapshot's `xmin` (every row there is final),
    and the transactions of the account's rows at or above it that the snapshot sees (committed
    before it: skipped); rows of transactions still running then come after the place."""
    if not _postgres():
        return (
            "(SELECT '0:' || coalesce(max(id), 0) || ':' FROM chat_events WHERE account_id = {})",
            1,
        )
    return (
        f"(SELECT coalesce((SELECT tx || ':' || id FROM chat_events WHERE account_id = {{}}"
        f" AND tx < {_POSTGRES_HORIZON} ORDER BY tx DESC, id DESC LIMIT 1), '0:0') || ':'"
        " || coalesce((SELECT string_agg(DISTINCT tx::text, ',') FROM chat_events"
        f" WHERE account_id = {{}} AND tx >= {_POSTGRES_HORIZON}), ''))",
        2,
    )


def place_of(value: str) -> Since:
    tx, row, seen = value.split(":")
    return Since((int(tx), int(row)), frozenset(int(t) for t in seen.split(",") if t))


@query
async def since_now(account_id: UUID) -> Since:
    """The account's place as of a snapshot taken now: what a stream of what comes next starts
    from."""
    sql, uses = place_sql()
    rows = await ChatEventEntry.raw(f"SELECT {sql} AS place", *[account_id] * uses)
    return place_of(rows[0]["place"])


@query
async def beyond(since: Since) -> bool:
    """Whether a reader's place lies beyond the log (no reader was ever there)."""
    latest = await horizon()
    return since.position > latest.position


@background_query
async def prune(now: datetime) -> None:
    """Deletes the events older than the retention and its margin."""
    await ChatEventEntry.raw("DELETE FROM chat_events WHERE created_at < {}", now - _PRUNE_AFTER)

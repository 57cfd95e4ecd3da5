"""Every query the service runs. Each returns the records of `db.rows` (the `ChatRow` dataclass,
or a typed dict for keys, accounts, identities and documents) or plain values, and raises only
`db.errors` types (or an unexpected exception, which the caller treats as a bug)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from piccolo.columns.combination import Or, Where

from db import event_log
from db import events as events_module
from db.conversation_reads import chat_row
from db.engine import (
    background_query,
    current_engine,
    query,
    write_transaction,
)
from db.errors import retry_transient
from db.event_log import Since
from db.rows import CHAT_FIELDS, AccountRow, ChatRow, DocumentRow, KeyRow
from db.tables import (
    Account,
    ApiKey,
    ArtistLink,
    Chat,
    Membership,
    Session,
    TrustedDocument,
)

# The chat record's fields, each from its column; the artist is the chat's session's.
_CHAT_COLUMNS = tuple(
    Chat.session.artist.as_alias(name)
    if name == "artist_id"
    else Chat._meta.get_column_by_name(name.removesuffix("_id"))
    for name in CHAT_FIELDS
)


# Keys and accounts -----------------------------------------------------------------------------


@query
async def find_active_key(key_hash: str, now: datetime) -> KeyRow | None:
    row = (
        await ApiKey.select(ApiKey.id, ApiKey.account)
        .where(
            (ApiKey.key_hash == key_hash)
            & ApiKey.revoked_at.is_null()
            & Or(ApiKey.expires_at.is_null(), ApiKey.expires_at > now)
        )
        .first()
    )
    return KeyRow(id=row["id"], account_id=row["account_id"]) if row else None


@query
async def get_account(account_id: UUID) -> AccountRow | None:
    row = (
        await Account.select(Account.id, Account.name, Account.kind)
        .where(Account.id == account_id)
        .first()
    )
    return AccountRow(id=row["id"], name=row["name"], kind=row["kind"]) if row else None


@query
async def account_kind(account_id: UUID) -> str | None:
    row = await Account.select(Account.kind).where(Account.id == account_id).first()
    return row["kind"] if row else None


@query
async def organizations_of(account_id: UUID) -> set[UUID]:
    """The account itself when it is an organization, plus the organizations it is a member of:
    one round trip."""
    rows = await Account.raw(
        "SELECT id AS organization FROM accounts WHERE id = {} AND kind = 'organization'"
        " UNION SELECT organization_id FROM memberships WHERE member_id = {}",
        account_id,
        account_id,
    )
    # A UNION loses SQLite's declared column type: its ids come back as text.
    return {UUID(str(row["organization"])) for row in rows}


@query
async def manages_artist(account_id: UUID, artist_id: UUID) -> bool:
    return await ArtistLink.exists().where(
        (ArtistLink.account == account_id) & (ArtistLink.artist == artist_id)
    )


@query
async def create_account(account_id: UUID, name: str, kind: str, now: datetime) -> None:
    await Account.insert(Account(id=account_id, name=name, kind=kind, created_at=now))


@query
async def create_key(
    key_id: UUID,
    account_id: UUID,
    name: str,
    key_hash: str,
    now: datetime,
    expires_at: datetime | None,
) -> None:
    await ApiKey.insert(
        ApiKey(
            id=key_id,
            account=account_id,
            name=name,
            key_hash=key_hash,
            created_at=now,
            expires_at=expires_at,
        )
    )


@query
async def revoke_key(
    now: datetime, *, key_id: UUID | None = None, key_hash: str | None = None
) -> bool:
    """Revoke by id or by hash; False when no key matched. Revoking again keeps the first time."""
    where: Where | Any = ApiKey.id == key_id if key_id is not None else ApiKey.key_hash == key_hash
    rows = await (
        ApiKey.update({ApiKey.revoked_at: now})
        .where(where & ApiKey.revoked_at.is_null())
        .returning(ApiKey.id)
    )
    return bool(rows) or await ApiKey.exists().where(where)


@query
async def add_member(
    membership_id: UUID, organization_id: UUID, member_id: UUID, now: datetime
) -> None:
    await Membership.insert(
        Membership(id=membership_id, organization=organization_id, member=member_id, created_at=now)
    )


@query
async def link_artist(link_id: UUID, account_id: UUID, artist_id: UUID, now: datetime) -> None:
    await ArtistLink.insert(
        ArtistLink(id=link_id, account=account_id, artist=artist_id, created_at=now)
    )


# Identities ------------------------------------------------------------------------------------


# Trusted documents -----------------------------------------------------------------------------

# Rows per INSERT: well under SQLite's and PostgreSQL's limits on a statement's parameters.
_DOCUMENTS_PER_INSERT = 500


@retry_transient
@query
async def publish_documents(
    documents: list[DocumentRow], now: datetime
) -> tuple[list[str], list[str], list[str]]:
    """Stores the documents whose ids are new, in one transaction: all of them, or, when an id is
    already stored with another body, none. Returns the ids (new, already stored, stored with
    another body)."""
    engine = current_engine()
    async with write_transaction(engine):
        stored = {
            row["id"]: row["sha256"]
            for row in await TrustedDocument.select(TrustedDocument.id, TrustedDocument.sha256)
        }
        new = [d for d in documents if d["id"] not in stored]
        known = [d["id"] for d in documents if stored.get(d["id"]) == d["sha256"]]
        changed = [d["id"] for d in documents if stored.get(d["id"], d["sha256"]) != d["sha256"]]
        if changed:
            return [], known, changed
        for start in range(0, len(new), _DOCUMENTS_PER_INSERT):
            await TrustedDocument.insert(
                *(
                    TrustedDocument(**document, published_at=now)
                    for document in new[start : start + _DOCUMENTS_PER_INSERT]
                )
            )
    return [d["id"] for d in new], known, []


@background_query
async def count_documents() -> int:
    return int(await TrustedDocument.count())


@background_query
async def list_documents() -> list[tuple[DocumentRow, datetime]]:
    """Every trusted document with when it was published, oldest first."""
    rows = await TrustedDocument.select().order_by(TrustedDocument.published_at, TrustedDocument.id)
    return [
        (
            DocumentRow(
                id=row["id"],
                sha256=row["sha256"],
                name=row["name"],
                operation_type=row["operation_type"],
                body=row["body"],
            ),
            row["published_at"],
        )
        for row in rows
    ]


# Chats -----------------------------------------------------------------------------------------


@dataclass
class Outbox:
    """What a write transaction sends once it commits: the hint that it logged chat events, and
    the hints of its chat log entries."""

    chat_events: bool = False
    hints: list[str] = field(default_factory=list)

    async def log(self, event_type: events_module.EventType, chat: ChatRow, now: datetime) -> None:
        """A chat event, in the log, in this transaction."""
        await event_log.append(event_type, chat, now)
        self.chat_events = True


@asynccontextmanager
async def writing() -> AsyncIterator[Outbox]:
    """A write transaction whose hints leave only once it commits. The logs are the record, so a
    hint may be lost; sending one inside the transaction would make every write of the database
    wait on NOTIFY's lock."""
    outbox = Outbox()
    async with write_transaction(current_engine()):
        yield outbox
    await send_after_commit(outbox.hints, chat_events=outbox.chat_events)


async def send_after_commit(hints: list[str], *, chat_events: bool = False) -> None:
    """The hints of a write that has committed. Never raises: the write has happened, and a
    reader that misses a hint reads the log."""
    hub = current_engine().hub
    if chat_events:
        hub.hint_chat_events()
    await hub.publish(hints)


async def select_chat(chat_id: UUID) -> ChatRow | None:
    row = await Chat.select(*_CHAT_COLUMNS).where(Chat.id == chat_id).first()
    return ChatRow(**row) if row else None


@retry_transient
@query
async def insert_session_and_chat(
    *,
    session_id: UUID,
    chat_id: UUID,
    account_id: UUID,
    artist_id: UUID | None,
    title: str,
    now: datetime,
) -> ChatRow:
    """Both rows or neither. Raises DuplicateKey when `chat_id` is taken."""
    row = ChatRow(
        id=chat_id,
        title=title,
        account_id=account_id,
        session_id=session_id,
        artist_id=artist_id,
        created_at=now,
        updated_at=now,
    )
    # Each engine's own one-trip write: both rows, and the event.
    await current_engine().create_chat(row, events_module.encode(row))
    return row


@query
async def get_chat(chat_id: UUID) -> ChatRow | None:
    return await select_chat(chat_id)


@retry_transient
@query
async def rename_chat(chat_id: UUID, title: str, now: datetime) -> ChatRow | None:
    """The renamed chat, or None when there is no such chat."""
    async with writing() as outbox:
        updated = (
            await Chat.update({Chat.title: title, Chat.updated_at: now})
            .where(Chat.id == chat_id)
            .returning(Chat.id)
        )
        if not updated:
            return None
        row = await select_chat(chat_id)
        assert row is not None
        await outbox.log("UPDATED", row, now)
    return row


@retry_transient
@query
async def delete_chat(chat_id: UUID, now: datetime) -> ChatRow | None:
    """Deletes the chat, and its session when no other chat is left in it. Returns the chat as it
    was, or None when there was no such chat."""
    async with writing() as outbox:
        row = await select_chat(chat_id)
        # Of concurrent deletes, only the one whose DELETE removed the row reports it.
        if row is None or not await Chat.delete().where(Chat.id == chat_id).returning(Chat.id):
            return None
        if not await Chat.exists().where(Chat.session == row.session_id):
            await Session.delete().where(Session.id == row.session_id)
        await outbox.log("DELETED", row, now)
    return row


@query
async def list_chats(
    account_id: UUID,
    *,
    limit: int,
    artist_id: UUID | None = None,
    before: tuple[datetime, UUID] | None = None,
) -> tuple[list[ChatRow], Since]:
    """Newest first by (updated_at, id); `before` is the keyset position of the previous page.
    With the chat events' log as of the same snapshot (one statement): a stream of the account's
    events from there neither misses nor repeats what the page shows."""
    place, uses = event_log.place_sql()
    conditions: list[str] = ["c.account_id = {}"]
    args: list[Any] = [*[account_id] * uses, account_id]
    if artist_id is not None:
        conditions.append("s.artist_id = {}")
        args.append(artist_id)
    if before is not None:
        conditions.append("(c.updated_at < {} OR (c.updated_at = {} AND c.id < {}))")
        args += [before[0], before[0], before[1]]
    rows = await Chat.raw(
        f"SELECT snap.place, page.* FROM (SELECT {place} AS place) snap"
        " LEFT JOIN (SELECT c.id, c.title, c.account_id, c.session_id, c.updated_at,"
        " s.artist_id, c.created_at FROM chats c JOIN sessions s ON s.id = c.session_id"
        f" WHERE {' AND '.join(conditions)} ORDER BY c.updated_at DESC, c.id DESC LIMIT {{}})"
        " page ON 1 = 1 ORDER BY page.updated_at DESC, page.id DESC",
        *args,
        limit,
    )
    chats = [chat_row(row) for row in rows if row["id"] is not None]
    return chats, event_log.place_of(rows[0]["place"])


@query
async def ping() -> None:
    await Chat.raw("SELECT 1")

"""Every query the service runs. Each returns the records of `db.rows` (the `ChatRow` dataclass,
or a typed dict for keys, accounts, identities and documents) or plain values, and raises only
`db.errors` types (or an unexpected exception, which the caller treats as a bug)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from piccolo.columns.combination import Or, Where

from db import events as events_module
from db.engine import (
    background_query,
    current_engine,
    query,
    write_transaction,
)
from db.errors import retry_transient
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
    """What a write transaction sends if it commits: chat events (`events`), and the hints of
    chat log entries (`hints`)."""

    events: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)


@asynccontextmanager
async def writing() -> AsyncIterator[Outbox]:
    """A write transaction whose events and hints leave only if it commits. Chat events go with
    `pg_notify` before the commit when NOTIFY carries them, else to the hub after it. Hints always
    leave after the commit: the log is the record, so a hint may be lost, and sending it inside
    the transaction would make every conversation write of the database wait on NOTIFY's lock."""
    engine = current_engine()
    outbox = Outbox()
    in_transaction = engine.hub.notifies_in_transaction
    async with write_transaction(engine):
        yield outbox
        if in_transaction:
            for payload in outbox.events:
                await Chat.raw("SELECT pg_notify({}, {})", events_module.CHANNEL, payload)
    await send_after_commit(outbox.hints, events=[] if in_transaction else outbox.events)


async def send_after_commit(hints: list[str], events: list[str] | None = None) -> None:
    """Hints (and chat events) of a write that has committed: to the hub, or with `pg_notify`
    when NOTIFY carries them, in one statement. Never raises: the write has happened, and a
    watcher that misses a hint reads the log."""
    engine = current_engine()
    payloads = [*(events or ()), *hints]
    if not payloads:
        return
    if not engine.hub.notifies_in_transaction:
        await engine.hub.publish(payloads)
        return
    calls = ", ".join("pg_notify({}, {})" for _ in payloads)
    with contextlib.suppress(Exception):
        await Chat.raw(
            f"SELECT {calls}",
            *(value for payload in payloads for value in (events_module.CHANNEL, payload)),
        )


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
    await current_engine().create_chat(row, events_module.encode("CREATED", row))
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
        outbox.events.append(events_module.encode("UPDATED", row))
    return row


@retry_transient
@query
async def delete_chat(chat_id: UUID) -> ChatRow | None:
    """Deletes the chat, and its session when no other chat is left in it. Returns the chat as it
    was, or None when there was no such chat."""
    async with writing() as outbox:
        row = await select_chat(chat_id)
        # Of concurrent deletes, only the one whose DELETE removed the row reports it.
        if row is None or not await Chat.delete().where(Chat.id == chat_id).returning(Chat.id):
            return None
        if not await Chat.exists().where(Chat.session == row.session_id):
            await Session.delete().where(Session.id == row.session_id)
        outbox.events.append(events_module.encode("DELETED", row))
    return row


@query
async def list_chats(
    account_id: UUID,
    *,
    limit: int,
    artist_id: UUID | None = None,
    before: tuple[datetime, UUID] | None = None,
) -> list[ChatRow]:
    """Newest first by (updated_at, id); `before` is the keyset position of the previous page."""
    where: Any = Chat.account == account_id
    if artist_id is not None:
        where &= Chat.session.artist == artist_id
    if before is not None:
        updated_at, chat_id = before
        where &= Or(
            Chat.updated_at < updated_at,
            (Chat.updated_at == updated_at) & (Chat.id < chat_id),
        )
    rows = (
        await Chat.select(*_CHAT_COLUMNS)
        .where(where)
        .order_by(Chat.updated_at, Chat.id, ascending=False)
        .limit(limit)
    )
    return [ChatRow(**row) for row in rows]


@query
async def ping() -> None:
    await Chat.raw("SELECT 1")


def chat_events() -> AsyncIterator[tuple[events_module.EventType, ChatRow]]:
    """Every chat event committed from now on, on the current engine."""
    return current_engine().hub.subscribe()

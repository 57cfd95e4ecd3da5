"""Signed-in users' identities: their links to accounts, and the identities operators blocked."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from db.engine import current_engine, query, write_transaction
from db.errors import retry_transient
from db.rows import IdentityRow
from db.tables import Account, BlockedIdentity, Identity


@query
async def identity_standing(issuer: str, subject: str) -> tuple[UUID | None, bool]:
    """The account an identity is linked to (None: none), and whether it is blocked: one trip
    for every new signed-in caller."""
    rows = await Identity.raw(
        "SELECT (SELECT account_id FROM identities WHERE issuer = {} AND subject = {})"
        " AS account_id, EXISTS (SELECT 1 FROM blocked_identities"
        " WHERE issuer = {} AND subject = {}) AS blocked",
        issuer,
        subject,
        issuer,
        subject,
    )
    account_id, blocked = rows[0]["account_id"], rows[0]["blocked"]
    # SQLite answers a subquery's value as text and EXISTS as 0 or 1.
    return (None if account_id is None else UUID(str(account_id))), bool(blocked)


@query
async def identity_account(issuer: str, subject: str) -> UUID | None:
    row = (
        await Identity.select(Identity.account)
        .where((Identity.issuer == issuer) & (Identity.subject == subject))
        .first()
    )
    return row["account_id"] if row else None


@retry_transient
@query
async def create_account_with_identity(
    *, account_id: UUID, name: str, identity_id: UUID, issuer: str, subject: str, now: datetime
) -> None:
    """A `user` account and its identity's link, both or neither. Raises DuplicateKey when the
    identity is linked already (a concurrent first request won): the account is rolled back."""
    async with write_transaction(current_engine()):
        await Account.insert(Account(id=account_id, name=name, kind="user", created_at=now))
        await Identity.insert(
            Identity(
                id=identity_id, issuer=issuer, subject=subject, account=account_id, created_at=now
            )
        )


@query
async def link_identity(
    identity_id: UUID, account_id: UUID, issuer: str, subject: str, now: datetime
) -> None:
    """Raises DuplicateKey when the identity is linked already."""
    await Identity.insert(
        Identity(id=identity_id, issuer=issuer, subject=subject, account=account_id, created_at=now)
    )


@query
async def list_identities(account_id: UUID | None = None) -> list[IdentityRow]:
    select = Identity.select(Identity.issuer, Identity.subject, Identity.account).order_by(
        Identity.created_at
    )
    if account_id is not None:
        select = select.where(Identity.account == account_id)
    return [
        IdentityRow(issuer=row["issuer"], subject=row["subject"], account_id=row["account_id"])
        for row in await select
    ]


@query
async def unlink_identity(issuer: str, subject: str) -> bool:
    rows = await (
        Identity.delete()
        .where((Identity.issuer == issuer) & (Identity.subject == subject))
        .returning(Identity.id)
    )
    return bool(rows)


@query
async def move_identity(
    identity_id: UUID, account_id: UUID, issuer: str, subject: str, now: datetime
) -> None:
    """Links the identity to `account_id`, whichever account it was linked to: one transaction,
    so no request sees it unlinked in between (and none can provision it meanwhile)."""
    async with write_transaction(current_engine()):
        moved = await (
            Identity.update({Identity.account: account_id})
            .where((Identity.issuer == issuer) & (Identity.subject == subject))
            .returning(Identity.id)
        )
        if not moved:
            await Identity.insert(
                Identity(
                    id=identity_id,
                    issuer=issuer,
                    subject=subject,
                    account=account_id,
                    created_at=now,
                )
            )


@query
async def block_identity(block_id: UUID, issuer: str, subject: str, now: datetime) -> None:
    """Raises DuplicateKey when the identity is blocked already."""
    await BlockedIdentity.insert(
        BlockedIdentity(id=block_id, issuer=issuer, subject=subject, blocked_at=now)
    )


@query
async def unblock_identity(issuer: str, subject: str) -> bool:
    rows = await (
        BlockedIdentity.delete()
        .where((BlockedIdentity.issuer == issuer) & (BlockedIdentity.subject == subject))
        .returning(BlockedIdentity.id)
    )
    return bool(rows)


@query
async def blocked_identities() -> list[tuple[str, str, datetime]]:
    rows = await BlockedIdentity.select(
        BlockedIdentity.issuer, BlockedIdentity.subject, BlockedIdentity.blocked_at
    ).order_by(BlockedIdentity.blocked_at)
    return [(row["issuer"], row["subject"], row["blocked_at"]) for row in rows]

"""Signed-in users' identities, `(issuer, subject)`, and the accounts they act as."""

from __future__ import annotations

import contextlib
from datetime import datetime
from uuid import UUID

from db import identities as queries
from db.errors import DuplicateKey
from db.queries import account_kind
from db.rows import IdentityRow
from resolvers.clock import new_id, now
from resolvers.errors import IdentityBlocked, IdentityNotLinked, InvalidInput
from resolvers.tokens import Identity
from resolvers.validation import parse_plain_text, parse_uuid

MAX_ISSUER_CHARS = 500
MAX_SUBJECT_CHARS = 255


async def account_for(identity: Identity, *, provision: bool) -> UUID:
    """The account linked to the identity, unless it is blocked. One seen for the first time gets
    a new `user` account and its link in one transaction when `provision`; concurrent first
    requests make one account (the unique index on the identity lets one in, the others read its
    link)."""
    account_id, blocked = await queries.identity_standing(identity.issuer, identity.subject)
    if blocked:
        raise IdentityBlocked()
    if account_id is not None:
        return account_id
    if not provision:
        raise IdentityNotLinked()
    account_id = new_id()
    try:
        await queries.create_account_with_identity(
            account_id=account_id,
            name=identity.name,
            identity_id=new_id(),
            issuer=identity.issuer,
            subject=identity.subject,
            now=now(),
        )
    except DuplicateKey:
        linked = await queries.identity_account(identity.issuer, identity.subject)
        if linked is None:  # linked and unlinked again in between: nothing to act as
            raise IdentityNotLinked() from None
        return linked
    return account_id


def _identity(issuer: str, subject: str) -> tuple[str, str]:
    if not issuer.strip() or len(issuer) > MAX_ISSUER_CHARS:
        raise InvalidInput(f"issuer must be 1 to {MAX_ISSUER_CHARS} characters")
    if not subject or len(subject) > MAX_SUBJECT_CHARS:
        raise InvalidInput(f"subject must be 1 to {MAX_SUBJECT_CHARS} characters")
    return parse_plain_text(issuer, "issuer"), parse_plain_text(subject, "subject")


async def link(account: str, issuer: str, subject: str, *, replace: bool = False) -> None:
    """Links an identity to an existing account; linking it again to the same one is harmless.
    Linked to another account, it is refused, or with `replace` moved at once."""
    account_id = parse_uuid(account, "account")
    issuer, subject = _identity(issuer, subject)
    if await account_kind(account_id) is None:
        raise InvalidInput(f"account {account_id} does not exist")
    if replace:
        await queries.move_identity(new_id(), account_id, issuer, subject, now())
        return
    try:
        await queries.link_identity(new_id(), account_id, issuer, subject, now())
    except DuplicateKey:
        linked = await queries.identity_account(issuer, subject)
        if linked != account_id:
            raise InvalidInput(
                f"the identity is linked to account {linked}; unlink it first, or link it"
                " with --replace"
            ) from None


async def list_links(account: str | None) -> list[IdentityRow]:
    return await queries.list_identities(parse_uuid(account, "account") if account else None)


async def unlink(issuer: str, subject: str) -> None:
    if not await queries.unlink_identity(*_identity(issuer, subject)):
        raise InvalidInput("no such identity")


async def block(issuer: str, subject: str) -> None:
    """The identity is refused from now on (within a second on every worker) and never
    provisioned; its link, if any, stays for when it is unblocked."""
    issuer, subject = _identity(issuer, subject)
    with contextlib.suppress(DuplicateKey):  # blocked already
        await queries.block_identity(new_id(), issuer, subject, now())


async def unblock(issuer: str, subject: str) -> None:
    if not await queries.unblock_identity(*_identity(issuer, subject)):
        raise InvalidInput("the identity is not blocked")


async def blocked() -> list[tuple[str, str, datetime]]:
    return await queries.blocked_identities()

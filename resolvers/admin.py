"""Administration use cases behind the command line: accounts, keys, memberships, artist links."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from db import queries
from db.errors import DuplicateKey
from resolvers.auth import generate_key, hash_key
from resolvers.clock import new_id, now
from resolvers.errors import InvalidInput
from resolvers.validation import parse_plain_text, parse_uuid

ACCOUNT_KINDS = ("user", "artist", "organization")


async def _require_kind(account_id: UUID, kinds: tuple[str, ...], role: str) -> None:
    kind = await queries.account_kind(account_id)
    if kind is None:
        raise InvalidInput(f"{role} {account_id} does not exist")
    if kind not in kinds:
        raise InvalidInput(f"{role} {account_id} is a {kind} account, not an {' or '.join(kinds)}")


async def create_account(name: str, kind: str) -> UUID:
    if kind not in ACCOUNT_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(ACCOUNT_KINDS)}")
    if not name.strip():
        raise InvalidInput("name must not be blank")
    parse_plain_text(name, "name")
    account_id = new_id()
    await queries.create_account(account_id, name.strip(), kind, now())
    return account_id


async def create_key(account: str, name: str, expires_at: datetime | None = None) -> str:
    """Returns the new key; only its hash is stored, so this is the one time it is seen."""
    account_id = parse_uuid(account, "account")
    parse_plain_text(name, "name")
    await _require_kind(account_id, ACCOUNT_KINDS, "account")
    key = generate_key()
    await queries.create_key(new_id(), account_id, name, hash_key(key), now(), expires_at)
    return key


async def revoke_key(key_or_id: str) -> None:
    try:
        revoked = await queries.revoke_key(now(), key_id=parse_uuid(key_or_id, "key"))
    except InvalidInput:
        revoked = await queries.revoke_key(now(), key_hash=hash_key(key_or_id))
    if not revoked:
        raise InvalidInput("no such key")


async def add_member(organization: str, account: str) -> None:
    organization_id = parse_uuid(organization, "org")
    account_id = parse_uuid(account, "account")
    await _require_kind(organization_id, ("organization",), "org")
    await _require_kind(account_id, ACCOUNT_KINDS, "account")
    if organization_id == account_id:
        raise InvalidInput("an organization cannot be a member of itself")
    try:
        await queries.add_member(new_id(), organization_id, account_id, now())
    except DuplicateKey:
        pass  # already a member: the command is idempotent


async def link_artist(account: str, artist: str) -> None:
    account_id = parse_uuid(account, "account")
    artist_id = parse_uuid(artist, "artist")
    await _require_kind(account_id, ACCOUNT_KINDS, "account")
    await _require_kind(artist_id, ("artist",), "artist")
    try:
        await queries.link_artist(new_id(), account_id, artist_id, now())
    except DuplicateKey:
        pass  # already linked: the command is idempotent

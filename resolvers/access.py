"""Who may act for whom: the access rules of rest/README.md ("POST /api/chats")."""

from __future__ import annotations

from uuid import UUID

from db import queries
from resolvers.errors import AccountAccessDenied, ArtistAccessDenied
from resolvers.models import Caller


async def can_act_for(caller: Caller, target_id: UUID) -> bool:
    """The target is the caller, one of the caller's organizations, or shares one with it.

    Sharing covers the two other cases: an organization is among its own organizations.
    An unknown target has no organizations, so it is refused like a foreign one.
    """
    if target_id == caller.account_id:
        return True
    return not (await queries.organizations_of(caller.account_id)).isdisjoint(
        await queries.organizations_of(target_id)
    )


async def acting_account(caller: Caller, account_id: UUID | None) -> UUID:
    """The account a request acts for: `accountId` when the caller may act for it."""
    if account_id is None:
        return caller.account_id
    if not await can_act_for(caller, account_id):
        raise AccountAccessDenied()
    return account_id


async def check_artist(account_id: UUID, artist_id: UUID) -> None:
    """`artist_id` is an artist that `account_id` manages or shares an organization with."""
    if await queries.account_kind(artist_id) != "artist":
        raise ArtistAccessDenied()
    if await queries.manages_artist(account_id, artist_id):
        return
    if (await queries.organizations_of(account_id)).isdisjoint(
        await queries.organizations_of(artist_id)
    ):
        raise ArtistAccessDenied()

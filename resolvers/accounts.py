"""Who the caller is."""

from __future__ import annotations

from db import queries
from resolvers.errors import Unauthenticated
from resolvers.models import Account, Caller
from resolvers.usecase import use_case


@use_case()
async def viewer(caller: Caller) -> Account:
    """The caller's own account: what a frontend shows as the signed-in user."""
    row = await queries.get_account(caller.account_id)
    if row is None:  # deleted since its credentials were checked (at most a second ago)
        raise Unauthenticated()
    return Account(id=row["id"], name=row["name"], kind=row["kind"])

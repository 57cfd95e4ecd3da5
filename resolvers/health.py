"""Is the service able to serve?"""

from __future__ import annotations

from db import queries
from resolvers.usecase import use_case


@use_case()
async def database_ready() -> None:
    """Raises ServiceUnavailable when the database does not answer."""
    await queries.ping()

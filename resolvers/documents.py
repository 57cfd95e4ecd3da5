"""Trusted documents: the frontends' operations, published once (`chats-api documents publish`), and
who may run anything else (`GRAPHQL_SAFELIST`).

Each process keeps every trusted document in memory, by id and by the SHA-256 of its body. It asks
the database every REFRESH_SECONDS how many there are (one count, whichever engine, behind PgBouncer
or not, with or without Redis) and reads them again when the number changed: a document published
while the service runs is known to every worker and replica within that time, and a request never
reads the database for a document. Documents are only ever added, so the count tells.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime
from enum import StrEnum

from db import queries
from db.errors import DatabaseError
from db.rows import DocumentRow as DocumentRow  # what a manifest's reader builds to publish
from resolvers.clock import now
from resolvers.models import Caller

logger = logging.getLogger("chats_api.documents")

REFRESH_SECONDS = 2.0
SHA256_PREFIX = "sha256:"


class Safelist(StrEnum):
    """What runs besides trusted documents."""

    off = "off"  # anything valid; trusted documents are only faster
    audit = "audit"  # anything, and each untrusted operation is logged once
    tokens = "tokens"  # access tokens run only trusted documents; API keys, anything
    all = "all"  # only trusted documents, for everyone


def may_run_untrusted(policy: Safelist, caller: Caller | None) -> bool:
    """Whether a caller (None: no valid credentials) may run a document that is not trusted."""
    if policy is Safelist.all:
        return False
    if policy is Safelist.tokens:
        # Only a signed-in user is held to the frontends' operations: a key (a script) runs
        # anything, and a caller with no valid credentials reads nothing but the schema (GraphiQL
        # asks for it before a key is entered).
        return caller is None or caller.key_id is not None
    return True


def sha256_of(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


class TrustedDocuments:
    """This process's copy of the trusted documents."""

    def __init__(self) -> None:
        self._by_id: dict[str, str] = {}
        self._by_hash: dict[str, str] = {}
        self._bodies: frozenset[str] = frozenset()
        self._count = -1
        self._failing = False

    def __len__(self) -> int:
        return len(self._by_id)

    def by_id(self, document_id: str) -> str | None:
        """A document by the id its manifest gave it, or by `sha256:HEX` of its body."""
        if document_id.startswith(SHA256_PREFIX):
            return self._by_hash.get(document_id.removeprefix(SHA256_PREFIX))
        return self._by_id.get(document_id)

    def by_hash(self, digest: str) -> str | None:
        return self._by_hash.get(digest)

    def trusts(self, body: str) -> bool:
        """Whether this text is a trusted document's (a lookup by the text: no hash to compute
        for the documents sent in full, most of which are not trusted)."""
        return body in self._bodies

    async def refresh(self) -> None:
        """Reads the documents again when their number changed."""
        count = await queries.count_documents()
        if count == self._count:
            return
        rows = await queries.list_documents()
        self._by_id = {row["id"]: row["body"] for row, _ in rows}
        self._by_hash = {row["sha256"]: row["body"] for row, _ in rows}
        self._bodies = frozenset(self._by_hash.values())
        self._count = len(rows)

    async def keep_fresh(self) -> None:
        """`refresh` every REFRESH_SECONDS, for as long as the process serves. A database away is
        logged when it goes and when it is back; the documents known meanwhile keep running."""
        while True:
            try:
                await self.refresh()
            except DatabaseError as exc:
                if not self._failing:
                    logger.warning("trusted documents not refreshed: %s", type(exc).__name__)
                self._failing = True
            else:
                if self._failing:
                    logger.warning("trusted documents refreshed again")
                self._failing = False
            await asyncio.sleep(REFRESH_SECONDS)


async def publish(documents: list[DocumentRow]) -> tuple[list[str], list[str], list[str]]:
    """Stores what is new of a manifest, whole or not at all: (new, known, stored with another
    body) ids; with any of the last, nothing is stored."""
    return await queries.publish_documents(documents, now())


async def published() -> list[tuple[DocumentRow, datetime]]:
    return await queries.list_documents()

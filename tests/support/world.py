"""Accounts and keys covering every access rule, and a real fault between two writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from resolvers import admin


@dataclass
class World:
    """Accounts covering every access rule.

    label (organization) has members alice, carol and the artist orgband.
    alice manages the artist band. bob and dave share nothing with anyone.
    stranger is an artist nobody manages.
    """

    alice: UUID
    bob: UUID
    carol: UUID
    dave: UUID
    label: UUID
    band: UUID
    orgband: UUID
    stranger: UUID
    keys: dict[str, str]


FAULTS = {
    "sqlite": (
        "CREATE TRIGGER chats_fail BEFORE INSERT ON chats"
        " BEGIN SELECT RAISE(ABORT, 'injected fault'); END;",
        "DROP TRIGGER chats_fail;",
    ),
    "postgres": (
        "CREATE FUNCTION chats_fail() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$;"
        " CREATE TRIGGER chats_fail BEFORE INSERT ON chats"
        " FOR EACH ROW EXECUTE FUNCTION chats_fail();",
        "DROP TRIGGER chats_fail ON chats; DROP FUNCTION chats_fail();",
    ),
}


async def build_world() -> World:
    """The accounts and keys, made through the resolvers on the engine in use."""
    ids = {
        "alice": await admin.create_account("Alice", "user"),
        "bob": await admin.create_account("Bob", "user"),
        "carol": await admin.create_account("Carol", "user"),
        "dave": await admin.create_account("Dave", "user"),
        "label": await admin.create_account("Label", "organization"),
        "band": await admin.create_account("Band", "artist"),
        "orgband": await admin.create_account("Org band", "artist"),
        "stranger": await admin.create_account("Stranger", "artist"),
    }
    for member in ("alice", "carol", "orgband"):
        await admin.add_member(str(ids["label"]), str(ids[member]))
    await admin.link_artist(str(ids["alice"]), str(ids["band"]))
    keys = {
        name: await admin.create_key(str(ids[name]), f"{name}'s key")
        for name in ("alice", "bob", "carol", "dave", "label")
    }
    keys["revoked"] = await admin.create_key(str(ids["alice"]), "revoked")
    await admin.revoke_key(keys["revoked"])
    keys["expired"] = await admin.create_key(
        str(ids["alice"]), "expired", expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    keys["future"] = await admin.create_key(
        str(ids["alice"]), "not yet expired", expires_at=datetime.now(UTC) + timedelta(days=1)
    )
    return World(**{name: value for name, value in ids.items()}, keys=keys)

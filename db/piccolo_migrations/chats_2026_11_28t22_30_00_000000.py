"""Indexes that Piccolo columns cannot declare: composite unique pairs and the listing order.

Raw SQL runs before any table creation in the same migration, hence a migration of its own.
The statements are plain SQL that SQLite and PostgreSQL both accept.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-28T22:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite unique and listing indexes"

STATEMENTS = (
    "CREATE UNIQUE INDEX memberships_organization_member"
    " ON memberships (organization_id, member_id)",
    "CREATE UNIQUE INDEX artist_links_account_artist ON artist_links (account_id, artist_id)",
    "CREATE INDEX chats_account_updated ON chats (account_id, updated_at DESC, id DESC)",
    "CREATE INDEX sessions_artist ON sessions (artist_id)",
)
ROLLBACK = (
    "DROP INDEX memberships_organization_member",
    "DROP INDEX artist_links_account_artist",
    "DROP INDEX chats_account_updated",
    "DROP INDEX sessions_artist",
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="chats", description=DESCRIPTION)

    async def run() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    async def run_backwards() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        for statement in ROLLBACK:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager

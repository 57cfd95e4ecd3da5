"""One account per identity: `(issuer, subject)` unique, as an index (a composite unique
constraint breaks `migrate` on SQLite). Raw SQL runs before the table creation of its own
migration, hence this migration after the one that creates `identities`."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T15:27:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "identities unique by issuer and subject"

STATEMENTS = ("CREATE UNIQUE INDEX identities_issuer_subject ON identities (issuer, subject)",)
ROLLBACK = ("DROP INDEX identities_issuer_subject",)


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

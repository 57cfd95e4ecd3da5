"""One block per identity: `(issuer, subject)` unique, as an index (as `identities`'), in a
migration after the one that creates the table (raw SQL runs before its own migration's tables)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-07T15:55:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "blocked_identities unique by issuer and subject"

STATEMENTS = (
    "CREATE UNIQUE INDEX blocked_identities_issuer_subject ON blocked_identities (issuer, subject)",
)
ROLLBACK = ("DROP INDEX blocked_identities_issuer_subject",)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="chats", description=DESCRIPTION)

    async def run(statements: tuple[str, ...]) -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        for statement in statements:
            await engine.run_ddl(statement)

    async def run_forwards() -> None:
        await run(STATEMENTS)

    async def run_backwards() -> None:
        await run(ROLLBACK)

    manager.add_raw(run_forwards)
    manager.add_raw_backwards(run_backwards)
    return manager

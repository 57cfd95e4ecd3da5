"""chat_events.trace: the W3C traceparent of the request that wrote the event, when traces are
exported (`db/tracing.py`), so that each delivery of it links to that request's span."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-07T21:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "chat_events.trace: the writing request's trace context"

FORWARDS = ("ALTER TABLE chat_events ADD COLUMN trace TEXT",)
ROLLBACK = ("ALTER TABLE chat_events DROP COLUMN trace",)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="chats", description=DESCRIPTION)

    async def run(statements: tuple[str, ...]) -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        for statement in statements:
            await engine.run_ddl(statement)

    async def run_forwards() -> None:
        await run(FORWARDS)

    async def run_backwards() -> None:
        await run(ROLLBACK)

    manager.add_raw(run_forwards)
    manager.add_raw_backwards(run_backwards)
    return manager

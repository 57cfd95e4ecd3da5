"""The accounts' chat events, the record `chatEvents` resumes from (`db/event_log.py`).

Raw SQL per engine: on PostgreSQL a row's `tx` is its writing transaction's id (`xid8`, as a
bigint), by which readers order the log without its writers taking a lock; on SQLite one writer
at a time makes `id` (never reused: AUTOINCREMENT) the order by itself."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-07T18:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "chat_events: the log of the accounts' chat events"

POSTGRES = (
    """CREATE TABLE chat_events (
    id BIGSERIAL PRIMARY KEY,
    tx BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    account_id UUID NOT NULL,
    chat_id UUID NOT NULL,
    type VARCHAR(10) NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
)""",
    "CREATE INDEX chat_events_position ON chat_events (tx, id)",
    "CREATE INDEX chat_events_account ON chat_events (account_id, tx, id)",
    # Pruned by age; rows arrive in time order, which a BRIN index keeps for next to nothing.
    "CREATE INDEX chat_events_created_at ON chat_events USING brin (created_at)",
)
SQLITE = (
    """CREATE TABLE chat_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tx INTEGER NOT NULL DEFAULT 0,
    account_id UUID NOT NULL,
    chat_id UUID NOT NULL,
    type VARCHAR(10) NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
)""",
    "CREATE INDEX chat_events_account ON chat_events (account_id, id)",
    "CREATE INDEX chat_events_created_at ON chat_events (created_at)",
)
ROLLBACK = ("DROP TABLE chat_events",)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="chats", description=DESCRIPTION)

    async def run(statements: tuple[str, ...]) -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        for statement in statements:
            await engine.run_ddl(statement)

    async def run_forwards() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        await run(POSTGRES if engine.engine_type == "postgres" else SQLITE)

    async def run_backwards() -> None:
        await run(ROLLBACK)

    manager.add_raw(run_forwards)
    manager.add_raw_backwards(run_backwards)
    return manager

"""The conversations' indexes, after the migration that creates their tables (raw SQL runs before
the table creation of its own migration). Both engines take partial indexes."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-07T12:41:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "conversations: order, one streaming reply per chat, chunk identity, read marks"

STATEMENTS = (
    "CREATE UNIQUE INDEX messages_chat_seq ON messages (chat_id, seq)",
    # At most one reply streams in a chat, whatever races the application's own check.
    "CREATE UNIQUE INDEX messages_streaming ON messages (chat_id) WHERE status = 'streaming'",
    # The reply timeout's sweep reads the streaming replies only.
    "CREATE INDEX messages_streaming_since ON messages (updated_at) WHERE status = 'streaming'",
    "CREATE UNIQUE INDEX chat_log_chat_seq ON chat_log (chat_id, seq)",
    "CREATE UNIQUE INDEX chat_log_chunk ON chat_log (message_id, chunk_index)",
    "CREATE UNIQUE INDEX chat_reads_chat_account ON chat_reads (chat_id, account_id)",
)
ROLLBACK = tuple(f"DROP INDEX {statement.split(' ON ')[0].split()[-1]}" for statement in STATEMENTS)


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

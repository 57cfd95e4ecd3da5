from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from starlette.applications import Starlette

from chats_api.app import create_app
from chats_api.settings import Settings
from resolvers import admin
from tests.clients import GraphQLApi, RestApi
from tests.databases import (
    REQUIRE_POSTGRES,
    Database,
    PgBouncer,
    create_postgres_database,
    drop_postgres_database,
    postgres_reachable,
    sqlite_copy,
    sqlite_template,
)

ENGINES = ["sqlite", "postgres", "pgbouncer"]
PROTOCOLS = ["rest", "graphql"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sqlite_template_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[Database]:
    reason = asyncio.run(postgres_reachable())
    if reason is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(reason)
    database = asyncio.run(create_postgres_database())
    try:
        yield database
    finally:
        asyncio.run(drop_postgres_database(database))


@pytest.fixture(scope="session")
def pgbouncer(postgres_database: Database) -> Iterator[PgBouncer]:
    if shutil.which("pgbouncer") is None and not Path("/usr/sbin/pgbouncer").exists():
        reason = "pgbouncer is not installed (Debian: apt-get install pgbouncer)"
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(reason)
    bouncer = PgBouncer(postgres_database.url)
    bouncer.start()
    try:
        yield bouncer
    finally:
        bouncer.stop()


@pytest.fixture(params=ENGINES)
def database(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template_path: Path
) -> Database:
    """The engine a test runs on. `pgbouncer` is PostgreSQL with the service behind PgBouncer in
    transaction pooling mode; the test's own checks still read the server directly."""
    if request.param == "sqlite":
        return sqlite_copy(sqlite_template_path, tmp_path)
    database: Database = request.getfixturevalue("postgres_database")
    asyncio.run(database.truncate())
    if request.param == "pgbouncer":
        bouncer: PgBouncer = request.getfixturevalue("pgbouncer")
        return Database("postgres", database.url, app_url=bouncer.url_for(database.url))
    return database


AppFactory = Callable[..., AbstractAsyncContextManager[Starlette]]


@pytest.fixture
def app_for(database: Database) -> AppFactory:
    """Builds the real app on the test's database, with its lifespan running."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[Starlette]:
        settings = Settings(
            **{
                "database_url": database.app_url,
                # Behind a transaction pooler, asyncpg may not keep named prepared statements.
                "db_statement_cache_size": 0 if database.app_url != database.url else 100,
                "rate_limit": "",
                "db_pool_min_size": 1,
                "db_pool_max_size": 4,
                **overrides,
            }
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            yield app

    return make


@pytest.fixture
async def app(app_for: AppFactory) -> AsyncIterator[Starlette]:
    async with app_for() as app:
        yield app


def http_client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as client:
        yield client


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_api(protocol: str, client: httpx.AsyncClient) -> RestApi | GraphQLApi:
    return RestApi(client) if protocol == "rest" else GraphQLApi(client)


@pytest.fixture
def api(protocol: str, client: httpx.AsyncClient) -> RestApi | GraphQLApi:
    return make_api(protocol, client)


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


@pytest.fixture
async def world(app: Starlette) -> World:
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


@pytest.fixture
async def chat_insert_fault(database: Database) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """A real fault between the two writes of a create: arm it, and every chat insert fails
    after the session insert ran. Disarmed after the test, whatever happened."""
    arm, disarm = FAULTS[database.engine]
    armed = False

    async def fault() -> None:
        nonlocal armed
        await database.execute(arm)
        armed = True

    yield fault
    if armed:
        await database.execute(disarm)

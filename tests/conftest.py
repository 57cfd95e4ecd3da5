from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from starlette.applications import Starlette

from chats_api.app import create_app
from chats_api.settings import Settings
from db.engine import use_engine
from tests.support.api import Api
from tests.support.apps import AppFactory, http_client, make_api
from tests.support.databases import (
    Database,
    PgBouncer,
    create_postgres_database,
    drop_postgres_database,
    postgres_reachable,
    sqlite_copy,
    sqlite_template,
    unavailable,
)
from tests.support.issuer import SigningKey, StandInIssuer, new_key
from tests.support.oidc import Provider
from tests.support.redis import TEST_REDIS_URL, RedisServer, flush, redis_unreachable
from tests.support.servers import serving
from tests.support.twins import Twins
from tests.support.world import FAULTS, World, build_world

SYSTEM = Path(__file__).parent / "system"
ENGINES = ["sqlite", "postgres", "pgbouncer"]
PROTOCOLS = ["rest", "graphql"]
# How live events travel: through the database (PostgreSQL's NOTIFY; on SQLite, the process),
# or through Redis (REDIS_URL set).
EVENT_TRANSPORTS = ["database", "redis"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first, so that a phase ends soon after its longest test rather than when
    a long test started last does (xdist hands tests out in this order, a few at a time): serial
    ones by `@pytest.mark.serial(seconds=N)`, N as measured; then the system tier, whose tests
    take seconds to a minute, before the contract and unit tiers, which take milliseconds.
    A test marked both `serial` and `alone` would run in two phases of the README's command."""
    both = [item.nodeid for item in items if _marked(item, "serial") and _marked(item, "alone")]
    if both:
        raise pytest.UsageError(f"marked both serial and alone: {', '.join(both)}")
    items.sort(key=lambda item: (-_serial_seconds(item), SYSTEM not in item.path.parents))


def _marked(item: pytest.Item, name: str) -> bool:
    return item.get_closest_marker(name) is not None


def _serial_seconds(item: pytest.Item) -> float:
    return max((m.kwargs.get("seconds", 0) for m in item.iter_markers("serial")), default=0)


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
        unavailable(reason)
    database = asyncio.run(create_postgres_database())
    try:
        yield database
    finally:
        asyncio.run(drop_postgres_database(database))


@pytest.fixture(scope="session")
def pgbouncer(postgres_database: Database) -> Iterator[PgBouncer]:
    if shutil.which("pgbouncer") is None and not Path("/usr/sbin/pgbouncer").exists():
        reason = "pgbouncer is not installed (Debian: apt-get install pgbouncer)"
        unavailable(reason)
    bouncer = PgBouncer(postgres_database.url)
    bouncer.start()
    try:
        yield bouncer
    finally:
        bouncer.stop()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The machine's Redis, on the tests' own database number, empty for the test."""
    reason = redis_unreachable()
    if reason is not None:
        unavailable(reason)
    flush()
    yield TEST_REDIS_URL
    flush()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, which it may stop and start again."""
    if shutil.which("redis-server") is None and not Path("/usr/bin/redis-server").exists():
        unavailable("redis-server is not installed (Debian: apt-get install redis-server)")
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=EVENT_TRANSPORTS)
def events_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment of a server whose events travel the transport of the test's parameter;
    Redis is the test's own, so that no other test's events share its channel."""
    if request.param == "database":
        return {}
    server: RedisServer = request.getfixturevalue("own_redis")
    return {"REDIS_URL": server.url}


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


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as client:
        yield client


@pytest.fixture(scope="session")
def signing_keys() -> list[SigningKey]:
    """RSA and EC keys, made once (an RSA key takes a while)."""
    return [new_key("rsa-1"), new_key("ec-1", "ES256"), new_key("rsa-2"), new_key("rsa-3")]


@pytest.fixture
def issuer(signing_keys: list[SigningKey]) -> Iterator[StandInIssuer]:
    """A stand-in OpenID Connect issuer publishing the first two keys."""
    stand_in = StandInIssuer(keys=signing_keys[:2])
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def provider() -> Iterator[Provider]:
    """The real OpenID Connect provider (oidc-provider from npm), in a process of its own."""
    idp = Provider()
    idp.start()
    yield idp
    idp.stop()


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def api(protocol: str, client: httpx.AsyncClient) -> Api:
    return make_api(protocol, client)


@pytest.fixture
async def world(app: Starlette) -> World:
    return await build_world()


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


@pytest.fixture
def two_servers(database: Database, events_env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """Two server processes on one database, events through the test's transport (on SQLite, one
    process is the whole deployment)."""
    with ExitStack() as stack:
        first = stack.enter_context(serving(database, env=events_env))
        second = (
            stack.enter_context(serving(database, env=events_env))
            if database.engine == "postgres"
            else first
        )
        yield first, second


@pytest.fixture
async def signed_in(
    protocol: str, app_for: AppFactory, issuer: StandInIssuer, request: pytest.FixtureRequest
) -> AsyncIterator[Api]:
    """The protocol's client on an app that accepts the stand-in issuer's tokens; a test's
    `settings` marker adds settings."""
    marker = request.node.get_closest_marker("settings")
    overrides: dict[str, Any] = marker.kwargs if marker else {}
    async with app_for(**issuer.settings(**overrides)) as app, http_client(app) as client:
        yield make_api(protocol, client)


@pytest.fixture
def twins(app_for: AppFactory) -> Iterator[Twins]:
    with start_blocking_portal() as portal, ExitStack() as stack:
        compiled = stack.enter_context(portal.wrap_async_context_manager(app_for()))
        standard = stack.enter_context(
            portal.wrap_async_context_manager(app_for(graphql_compiled=False))
        )
        clients = [
            stack.enter_context(portal.wrap_async_context_manager(http_client(app)))
            for app in (compiled, standard)
        ]

        async def world() -> World:
            use_engine(compiled.state.engine)
            return await build_world()

        plans = compiled.state.graphql.http.plans.plan
        yield Twins(portal, clients[0], clients[1], plans, portal.call(world))

"""The fault suite's service and its measures (`tests/system/test_faults.py`): a server of two
workers behind a TCP proxy, steady load, and what must hold after each fault: every answer within
its bound, 200s again soon, every acknowledged chat stored once, the pool whole."""

from __future__ import annotations

import asyncio
import json
import math
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.support.databases import Database
from tests.support.load import Load, create
from tests.support.proxy import TcpProxy
from tests.support.servers import provision, start_server
from tests.support.ws import GraphQLSocket, graphql_socket

QUERY_TIMEOUT = 2.0
BOUND = QUERY_TIMEOUT + 1.0  # the longest any answer may take
RECOVERY = 5.0  # 200s again this soon after a fault ends
GAP = 3.0  # healthy time between two faults
REQUEST_TIMEOUT = 10.0


@dataclass
class Service:
    base: str
    log: Path
    key: str
    # Another account's key: its subscription sees none of the load's chats, only the test's own.
    observer: str


@dataclass
class ProxiedService(Service):
    proxy: TcpProxy


async def proxied(database: Database) -> tuple[TcpProxy, dict[str, str]]:
    """A proxy of the test's in front of PostgreSQL, and the settings that reach it through it
    (the pool and LISTEN alike, within QUERY_TIMEOUT)."""
    parts = urlsplit(database.url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    url = database.url.replace(parts.netloc, f"postgres@127.0.0.1:{proxy.port}")
    env = {"DATABASE_URL": url, "EVENTS_DATABASE_URL": url, "DB_QUERY_TIMEOUT": str(QUERY_TIMEOUT)}
    return proxy, env


@asynccontextmanager
async def service_behind_proxy(database: Database, tmp_path: Path) -> AsyncIterator[ProxiedService]:
    """Two workers reaching PostgreSQL (the pool and LISTEN alike) through a proxy of the test's."""
    (_, key), (_, observer) = provision(database), provision(database)
    proxy, env = await proxied(database)
    log = tmp_path / "server.log"
    with log.open("w") as output:
        # In a thread: the proxy runs on this event loop, which must go on while the server starts.
        process, base = await asyncio.to_thread(
            start_server, database, "--workers", "2", env=env, output=output
        )
        try:
            await workers_started(log, 2)
            yield ProxiedService(base, log, key, observer, proxy)
            proxy.heal()
            proxy.delay = 0
            process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(process.wait, 20) in (0, -signal.SIGTERM)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            await proxy.stop()


async def workers_started(log: Path, workers: int) -> None:
    """Every worker has started, not only the first to answer: a worker still starting when the
    fault begins fails its start-up, and uvicorn then stops the whole server (a finding of its own,
    not the fault under test)."""
    deadline = time.monotonic() + 30
    while (await asyncio.to_thread(log.read_text)).count("Application startup complete") < workers:
        assert time.monotonic() < deadline, "the workers did not all start"
        await asyncio.sleep(0.05)


Fault = Callable[[], Awaitable[None]]
Windows = list[tuple[float, float]]  # (start, end) of each fault, time.monotonic()


async def under_load(service: Service, fault: Fault, repeats: int = 3) -> tuple[Load, Windows]:
    """`fault` (which returns once the fault is over) `repeats` times, under steady load, with a
    subscription open all along."""
    windows: Windows = []
    async with graphql_socket(service.base) as subscription:
        assert (await subscription.init({"x-api-key": service.observer}))[
            "type"
        ] == "connection_ack"
        await subscription.subscribe()
        async with Load(service.base, service.key) as load:
            await asyncio.sleep(1)
            for _ in range(repeats):
                started = time.monotonic()
                await fault()
                windows.append((started, time.monotonic()))
                await asyncio.sleep(GAP)
        await assert_subscriptions_whole(service, subscription)
    return load, windows


async def assert_subscriptions_whole(service: Service, subscription: GraphQLSocket) -> None:
    """The subscription open through the faults either still works or ended with
    SERVICE_UNAVAILABLE (never silently deaf), and a new one hears the next change."""
    async with httpx.AsyncClient(timeout=30) as client:
        created = await create(client, service.base, service.observer)
        assert created.status_code == 200
        message = await subscription.receive()
        if "errors" in message.get("payload", {}):
            [error] = message["payload"]["errors"]
            assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", message
        else:
            assert message["type"] == "next", message
            event = message["payload"]["data"]["chatEvents"]
            assert event["chat"]["id"] == created.json()["chat"]["id"]
        async with graphql_socket(service.base) as fresh:
            assert (await fresh.init({"x-api-key": service.observer}))["type"] == "connection_ack"
            await fresh.subscribe()
            await asyncio.sleep(0.5)
            again = await create(client, service.base, service.observer)
            assert (await fresh.next_event())["chat"]["id"] == again.json()["chat"]["id"]


async def assert_weathered(
    name: str, service: Service, database: Database, load: Load, windows: Windows
) -> None:
    assert len(load.answers) > 20 * len(windows)
    for answer in load.answers:
        assert answer.status in (200, 503), answer  # never a 500, never a dropped connection
        assert answer.seconds <= BOUND, answer
        if answer.status == 503:
            assert answer.retry_after == "5", answer
    recoveries = []
    for n, (_, ended) in enumerate(windows):
        following = windows[n + 1][0] if n + 1 < len(windows) else math.inf
        # Begun after this fault, answered before the next one began.
        after = [
            a for a in load.answers if a.started >= ended and a.started + a.seconds < following
        ]
        refused = [a for a in after if a.status != 200]
        recovered = max((a.started + a.seconds for a in refused), default=ended)
        recoveries.append(recovered - ended)
        assert recovered - ended <= RECOVERY, (n, recovered - ended)
        assert any(a.status == 200 and a.started >= recovered for a in after), n
    # Everything the service printed is one JSON line, uvicorn's and asyncpg's included.
    for line in service.log.read_text().splitlines():
        assert isinstance(json.loads(line), dict), line
    await database.assert_nothing_lost(load.acknowledged)
    await assert_retries_succeed(service, database, load)
    if database.engine == "postgres":
        await assert_pool_whole(service, database)
    refusals = sum(answer.status == 503 for answer in load.answers)
    print(
        f"\n{name}: {len(load.answers)} requests, {refusals} answered 503,"
        f" slowest {load.slowest:.2f} s, back after"
        f" {', '.join(f'{seconds:.2f}' for seconds in recoveries)} s"
    )


async def assert_retries_succeed(service: Service, database: Database, load: Load) -> None:
    """A client that retries a chatId refused with 503 gets that chat, created now or then."""
    refused = [answer.chat_id for answer in load.answers if answer.status == 503][:20]
    async with httpx.AsyncClient(timeout=30) as client:
        for chat_id in refused:
            response = await create(client, service.base, service.key, chat_id)
            assert response.status_code == 200, response.text
            assert response.json()["chat"]["id"] == chat_id
    for chat_id in refused:
        assert await database.chat(chat_id) is not None


async def assert_pool_whole(service: Service, database: Database) -> None:
    """Nothing left busy on the server once idle, and a burst as large as both workers' pools
    (DB_POOL_MAX_SIZE each) is served at once: no connection was kept by a fault."""
    await asyncio.sleep(0.5)
    busy_sql = (
        "SELECT pid, query_start, state, wait_event, query FROM pg_stat_activity"
        " WHERE datname = current_database() AND backend_type = 'client backend'"
        " AND pid <> pg_backend_pid() AND state <> 'idle'"
    )
    # The service's own periodic queries (trusted documents, the reply timeout's sweep) may be
    # caught in flight: a query is left busy when the same one (backend and start) still is a
    # moment later.
    before = {(row["pid"], row["query_start"]): row for row in await database.fetch(busy_sql)}
    await asyncio.sleep(1.5)
    after = await database.fetch(busy_sql)
    left = [row for row in after if (row["pid"], row["query_start"]) in before]
    # Named, not counted: a failure says which query was left busy.
    assert [{k: row[k] for k in ("state", "wait_event", "query")} for row in left] == []
    async with httpx.AsyncClient(timeout=30) as client:
        started = time.monotonic()
        burst = await asyncio.gather(
            *(create(client, service.base, service.key) for _ in range(20))
        )
    assert [response.status_code for response in burst] == [200] * 20
    assert time.monotonic() - started < QUERY_TIMEOUT


def outage_lines(service: Service) -> list[str]:
    """The outage's log lines, in order: `database unreachable` and `database back after`."""
    return [
        line
        for line in service.log.read_text().splitlines()
        if "database unreachable" in line or "database back after" in line
    ]

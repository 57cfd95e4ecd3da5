"""State lives on the application: apps in one process share no engine, event hub or deadline."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from chats_api.app import create_app
from chats_api.settings import Settings
from db import event_log, event_tail
from db.engine import use_engine
from resolvers import admin
from tests.support.api import RestApi
from tests.support.apps import http_client
from tests.support.databases import Database, sqlite_copy

pytestmark = pytest.mark.anyio


async def test_two_apps_in_one_process_share_no_state(
    tmp_path: Path, sqlite_template_path: Path, postgres_database: Database
) -> None:
    await postgres_database.truncate()
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    databases = [
        sqlite_copy(sqlite_template_path, tmp_path / "first"),
        sqlite_copy(sqlite_template_path, tmp_path / "second"),
        postgres_database,
    ]
    async with AsyncExitStack() as stack:
        apps, keys, accounts = [], [], []
        for database in databases:
            app = create_app(Settings(database_url=database.url, rate_limit=""))
            await stack.enter_async_context(app.router.lifespan_context(app))
            # Provision each database through its own app's engine.
            use_engine(app.state.engine)
            account = await admin.create_account("Ada", "user")
            keys.append(await admin.create_key(str(account), "key"))
            accounts.append(account)
            apps.append(app)
        engines = [app.state.engine for app in apps]
        assert len({id(engine) for engine in engines}) == 3
        assert len({id(engine.hub) for engine in engines}) == 3
        assert [engine.deadline for engine in engines] == [None, None, 3.0]

        # A follower of the first app hears the first app's chat; the second app's write wakes
        # its own hub only.
        use_engine(apps[0].state.engine)
        events = event_tail.follow(accounts[0], await event_log.since_now(accounts[0]))
        heard = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0)
        clients = [await stack.enter_async_context(http_client(app)) for app in apps]
        woken = [engine.hub.chat_events.count for engine in engines]
        second = await RestApi(clients[1]).create_chat({"topic": "second"}, key=keys[1])
        wakes = [engine.hub.chat_events.count - n for engine, n in zip(engines, woken, strict=True)]
        assert wakes[0] == wakes[2] == 0 < wakes[1]
        first = await RestApi(clients[0]).create_chat({"topic": "first"}, key=keys[0])
        assert (first.status, second.status) == (200, 200)
        event, _ = await asyncio.wait_for(heard, 5)
        assert event.chat.title == "first"
        await events.aclose()

        # Each request reached its own app's database, and a key is known only to its own.
        for database in databases:
            assert (await database.counts())["chats"] == (0 if database.engine == "postgres" else 1)
        refused = await RestApi(clients[2]).create_chat({}, key=keys[0])
        assert refused.error == (401, "Unauthorized")
        created = await RestApi(clients[2]).create_chat({}, key=keys[2])
        assert created.status == 200
        assert await postgres_database.counts() == {"sessions": 1, "chats": 1}

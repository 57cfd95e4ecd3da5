"""The real app in-process, as the contract tests drive it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
from starlette.applications import Starlette

from tests.support.api import Api, GraphQLApi, RestApi

# Builds the real app on the test's database, with its lifespan running, settings overridden.
AppFactory = Callable[..., AbstractAsyncContextManager[Starlette]]


def http_client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def make_api(protocol: str, client: httpx.AsyncClient) -> Api:
    return RestApi(client) if protocol == "rest" else GraphQLApi(client)

"""Trusted documents through the real app, on every engine: published with the command line, run by
`sha256Hash` and by `documentId`, and GRAPHQL_SAFELIST's policies with their exact answers.

The frontends' own client (Apollo, its manifest generator and persisted-query lists), the WebSocket
and replicas are in tests/system/test_trusted_documents.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import schema.execution.plans
from tests.support.api import priced
from tests.support.apps import AppFactory, http_client
from tests.support.databases import Database, run_cli
from tests.support.issuer import StandInIssuer
from tests.support.world import World, build_world

pytestmark = pytest.mark.anyio

ME = "query Me { viewer { account { id } } }"
CREATE = (
    "mutation CreateChat($input: CreateChatInput) {"
    " createChat(input: $input) { chat { id title } } }"
)
CHAT = "query Chat($id: UUID!) { chat(id: $id) { id title } }"
UNTRUSTED = 'mutation { createChat(input: {topic: "untrusted"}) { chat { id } } }'
NOT_IN_LIST = {
    "message": "PersistedQueryNotInList",
    "extensions": {"code": "PERSISTED_QUERY_NOT_IN_LIST"},
}
# As every request error answered with application/json: `data` is null (with the GraphQL-over-HTTP
# media type, absent).
REFUSED = {"data": None, "errors": [NOT_IN_LIST]}
NOT_FOUND = {
    "message": "PersistedQueryNotFound",
    "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def by_hash(body: str, **extra: Any) -> dict[str, Any]:
    return {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(body)}}, **extra}


def publish(database: Database, tmp_path: Path, documents: dict[str, str]) -> None:
    """The `{"ID": "BODY"}` form (Relay, GraphQL Code Generator), with the command line."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(documents))
    result = run_cli(["documents", "publish", str(manifest)], database.url)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def published(database: Database, tmp_path: Path) -> dict[str, str]:
    documents = {"me-1": ME, "create-1": CREATE, "chat-1": CHAT}
    publish(database, tmp_path, documents)
    return documents


@asynccontextmanager
async def serve(
    app_for: AppFactory, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, World]]:
    async with app_for(**settings) as app, http_client(app) as client:
        yield client, await build_world()


async def post(client: httpx.AsyncClient, key: str | None, body: dict[str, Any]) -> httpx.Response:
    headers = {"x-api-key": key} if key else {}
    return await client.post("/graphql", json=body, headers=headers)


async def refusals(client: httpx.AsyncClient) -> float:
    """This process's count of the `all` policy's refusals (the metric is process-wide)."""
    name = 'chats_api_graphql_safelist_refusals_total{policy="all"} '
    lines = (await client.get("/metrics")).text.splitlines()
    return sum(float(line.removeprefix(name)) for line in lines if line.startswith(name))


async def test_trusted_documents_run_by_hash_and_by_document_id(
    app_for: AppFactory, published: dict[str, str], database: Database
) -> None:
    async with serve(app_for) as (client, world):
        key = world.keys["alice"]
        me = priced({"data": {"viewer": {"account": {"id": str(world.alice)}}}}, 2)
        assert (await post(client, key, by_hash(ME))).json() == me
        assert (await post(client, key, {"documentId": "me-1"})).json() == me
        assert (await post(client, key, {"documentId": f"sha256:{sha256(ME)}"})).json() == me
        # A mutation by id writes, through the compiled path.
        variables = {"input": {"topic": "Trusted"}}
        made = await post(client, key, {"documentId": "create-1", "variables": variables})
        chat = made.json()["data"]["createChat"]["chat"]
        assert chat["title"] == "Trusted"
        # GET: queries by id; a mutation is 405, as for any GET mutation.
        read = await client.get(
            "/graphql",
            params={"documentId": "chat-1", "variables": json.dumps({"id": chat["id"]})},
            headers={"x-api-key": key},
        )
        assert read.json() == priced({"data": {"chat": chat}}, 1)
        refused = await client.get(
            "/graphql",
            params={"documentId": "create-1", "variables": json.dumps(variables)},
            headers={"x-api-key": key},
        )
        assert refused.status_code == 405
        assert refused.headers["allow"] == "POST"
        # Unknown ids: documentId is a 400; a hash answers as automatic persisted queries do.
        unknown = await post(client, key, {"documentId": "nope"})
        assert (unknown.status_code, unknown.json()["errors"]) == (400, [NOT_FOUND])
        unknown_hash = await post(client, key, by_hash("query Other { __typename }"))
        assert (unknown_hash.status_code, unknown_hash.json()["errors"]) == (200, [NOT_FOUND])
        both = await post(client, key, {"documentId": "me-1", "query": ME})
        assert both.status_code == 400
        assert both.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert (await database.counts())["chats"] == 1


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_trusted_document_is_parsed_and_planned_once(
    app_for: AppFactory,
    published: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[str] = []
    real_parse = schema.execution.plans.parse  # type: ignore[attr-defined]

    def counting(source: Any, **kwargs: Any) -> Any:
        parsed.append(str(source))
        return real_parse(source, **kwargs)

    monkeypatch.setattr(schema.execution.plans, "parse", counting)
    async with serve(app_for) as (client, world):
        for n in range(5):
            body = {"documentId": "create-1", "variables": {"input": {"topic": f"n{n}"}}}
            answer = await post(client, world.keys["alice"], body)
            assert answer.json()["data"]["createChat"]["chat"]["title"] == f"n{n}"
    assert parsed == [CREATE]


@pytest.mark.parametrize("policy", ["off", "audit"])
async def test_without_a_safelist_anything_valid_runs(
    app_for: AppFactory, published: dict[str, str], policy: str
) -> None:
    async with serve(app_for, graphql_safelist=policy) as (client, world):
        answer = await post(client, world.keys["alice"], {"query": UNTRUSTED})
        assert answer.json()["data"]["createChat"]["chat"]["id"]


async def test_safelist_all_runs_only_trusted_documents(
    app_for: AppFactory, published: dict[str, str], database: Database
) -> None:
    async with serve(app_for, graphql_safelist="all") as (client, world):
        key = world.keys["alice"]
        before = await refusals(client)
        refused = await post(client, key, {"query": UNTRUSTED})
        assert (refused.status_code, refused.json()) == (400, REFUSED)
        assert await refusals(client) == before + 1  # counted once, whichever path answered
        # Registering it as an automatic persisted query is refused too, and stores nothing.
        registering = await post(client, key, {"query": UNTRUSTED, **by_hash(UNTRUSTED)})
        assert (registering.status_code, registering.json()) == (400, REFUSED)
        later = await post(client, key, by_hash(UNTRUSTED))
        assert later.json()["errors"] == [NOT_FOUND]
        # With the GraphQL-over-HTTP media type: the same 400.
        strict = await client.post(
            "/graphql",
            json={"query": UNTRUSTED},
            headers={"x-api-key": key, "accept": "application/graphql-response+json"},
        )
        assert (strict.status_code, strict.json()) == (400, {"errors": [NOT_IN_LIST]})
        # A trusted document runs, by id or in full.
        assert (await post(client, key, {"query": ME})).json()["data"]["viewer"]
        assert (await post(client, key, {"documentId": "me-1"})).json()["data"]["viewer"]
        metrics = (await client.get("/metrics")).text
    assert (await database.counts())["chats"] == 0
    assert 'chats_api_graphql_safelist_refusals_total{policy="all"}' in metrics
    assert 'chats_api_graphql_documents_total{trusted="true"}' in metrics


async def test_safelist_tokens_holds_signed_in_users_to_trusted_documents(
    app_for: AppFactory, published: dict[str, str], issuer: StandInIssuer, database: Database
) -> None:
    async with serve(app_for, **issuer.settings(graphql_safelist="tokens")) as (client, world):
        token = {"authorization": f"Bearer {issuer.token('ada')}"}
        refused = await client.post("/graphql", json={"query": UNTRUSTED}, headers=token)
        assert (refused.status_code, refused.json()) == (400, REFUSED)
        # No credentials: the schema may be read (GraphiQL), nothing else, as without a safelist.
        typename = await client.post("/graphql", json={"query": "{ __typename }"})
        assert typename.json() == priced({"data": {"__typename": "Query"}}, 0)
        anonymous = await client.post("/graphql", json={"query": UNTRUSTED})
        assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await database.counts())["chats"] == 0
        body = {"documentId": "create-1", "variables": {"input": {"topic": "Signed in"}}}
        trusted = await client.post("/graphql", json=body, headers=token)
        assert trusted.json()["data"]["createChat"]["chat"]["title"] == "Signed in"
        # A script with an API key runs anything.
        scripted = await post(client, world.keys["alice"], {"query": UNTRUSTED})
        assert scripted.json()["data"]["createChat"]["chat"]["id"]
    assert (await database.counts())["chats"] == 2


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_audit_logs_each_untrusted_operation_once(
    app_for: AppFactory, published: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="chats_api.documents")
    other = "query Other { viewer { account { name } } }"
    async with serve(app_for, graphql_safelist="audit") as (client, world):
        for _ in range(3):
            for body in ({"query": ME}, {"query": other, "operationName": "Other"}):
                assert "errors" not in (await post(client, world.keys["alice"], body)).json()
    lines = [r for r in caplog.records if r.getMessage() == "untrusted operation"]
    assert [(r.operation_name, r.sha256) for r in lines] == [("Other", sha256(other))]  # type: ignore[attr-defined]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_audit_logs_an_operation_only_once_it_is_known_under_its_own_name(
    app_for: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A 60 KB operationName from a caller with no credentials named no operation of its
    document: nothing logged. A long name the document holds is logged cut to 100 characters."""
    caplog.set_level(logging.WARNING, logger="chats_api.documents")
    long_name = "Q" * 1000
    named = f"query {long_name} {{ __typename }}"
    async with serve(app_for, graphql_safelist="audit") as (client, _):
        for _ in range(3):
            body = {"query": "{ __typename }", "operationName": "x" * 60_000}
            refused = (await post(client, None, body)).json()
            assert refused["errors"][0]["message"].startswith("Unknown operation named")
        assert (await post(client, None, {"query": named})).json() == priced(
            {"data": {"__typename": "Query"}}, 0
        )
    lines = [r for r in caplog.records if r.getMessage() == "untrusted operation"]
    assert [(r.operation_name, r.sha256) for r in lines] == [(long_name[:100], sha256(named))]  # type: ignore[attr-defined]
    assert max(len(r.getMessage()) + len(str(r.__dict__)) for r in caplog.records) < 2000


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
async def test_a_document_published_while_serving_runs_within_5_seconds(
    app_for: AppFactory, database: Database, tmp_path: Path
) -> None:
    publish(database, tmp_path, {"me-1": ME})
    async with serve(app_for, graphql_safelist="all") as (client, world):
        key = world.keys["alice"]
        assert (await post(client, key, {"documentId": "chat-1"})).status_code == 400
        await asyncio.to_thread(publish, database, tmp_path, {"chat-1": CHAT})
        published_at = time.monotonic()
        variables = {"id": "00000000-0000-7000-8000-000000000000"}
        while (
            await post(client, key, {"documentId": "chat-1", "variables": variables})
        ).status_code != 200:
            assert time.monotonic() - published_at < 5
            await asyncio.sleep(0.1)


async def test_a_trusted_document_is_not_bounded_in_fields(
    app_for: AppFactory, database: Database, tmp_path: Path
) -> None:
    """The bound on fields guards validation against documents nobody reviewed; a trusted one was
    validated when it was published, and runs by id, by hash or sent in full."""
    big = "query Big {" + " viewer { account { id } }" * 60 + " }"  # 180 fields
    publish(database, tmp_path, {"big-1": big})
    async with serve(app_for) as (client, world):
        key = world.keys["alice"]
        # Each selection priced where it is written: 60 times two objects.
        answer = priced({"data": {"viewer": {"account": {"id": str(world.alice)}}}}, 120)
        for body in ({"documentId": "big-1"}, by_hash(big), {"query": big}):
            assert (await post(client, key, body)).json() == answer
        untrusted = big.replace("query Big", "query Other")
        refused = (await post(client, key, {"query": untrusted})).json()
        assert refused == {
            "data": None,
            "errors": [
                {
                    "message": "Document selects more than 150 fields.",
                    "extensions": {"code": "BAD_USER_INPUT"},
                }
            ],
        }

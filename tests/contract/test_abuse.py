"""Bounds that protect the service from expensive or oversized requests."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query
from strawberry.schema.schema import validate_document as strawberry_validate

from resolvers.persisted import MAX_DOCUMENT_BYTES
from schema.endpoint import SUBSCRIPTIONS_OVER_WEBSOCKET
from schema.gate import TOO_MANY_FIELDS
from tests.support.api import priced
from tests.support.apps import AppFactory, http_client
from tests.support.databases import Database, lingering_sqlite_threads
from tests.support.world import World, build_world

pytestmark = pytest.mark.anyio


async def graphql(client: httpx.AsyncClient, query: str, key: str | None = None) -> httpx.Response:
    headers = {"x-api-key": key} if key else {}
    return await client.post("/graphql", json={"query": query}, headers=headers)


def rejected(response: httpx.Response, fragment: str) -> None:
    assert response.status_code == 200
    body = response.json()
    assert body.get("data") is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert fragment in body["errors"][0]["message"]


async def test_too_many_aliases(
    client: httpx.AsyncClient, database: Database, world: World
) -> None:
    aliases = " ".join(f"a{n}: createChat {{ chat {{ id }} }}" for n in range(16))
    rejected(await graphql(client, f"mutation {{ {aliases} }}", world.keys["alice"]), "aliases")
    assert await database.counts() == {"sessions": 0, "chats": 0}


async def test_aliases_are_counted_through_fragments(client: httpx.AsyncClient) -> None:
    fragment = "fragment F on Query { " + " ".join(f"f{n}: __typename" for n in range(8)) + " }"
    query = "{ ...F a: chats { ...G } } " + fragment + " fragment G on ChatRoomConnection {"
    query += " " + " ".join(f"g{n}: edges {{ cursor }}" for n in range(8)) + " }"
    rejected(await graphql(client, query), "aliases")


async def test_fifteen_aliases_are_fine(client: httpx.AsyncClient) -> None:
    aliases = " ".join(f"a{n}: __typename" for n in range(15))
    response = await graphql(client, f"{{ {aliases} }}")
    assert response.json()["data"] == {f"a{n}": "Query" for n in range(15)}


async def test_too_many_tokens(client: httpx.AsyncClient, world: World) -> None:
    """The budget of a caller with a valid key (a caller nobody knows has a smaller one)."""
    query = "{ " + "__typename " * 2100 + "}"
    rejected(await graphql(client, query, world.keys["alice"]), "more than 2000 tokens")


async def test_batched_operations_are_refused(
    client: httpx.AsyncClient, database: Database, world: World
) -> None:
    mutation = {"query": "mutation { createChat { chat { id } } }"}
    response = await client.post(
        "/graphql", json=[mutation, mutation], headers={"x-api-key": world.keys["alice"]}
    )
    assert response.status_code == 400
    assert await database.counts() == {"sessions": 0, "chats": 0}


@pytest.mark.parametrize(
    "declared", [pytest.param(True, id="content-length"), pytest.param(False, id="streamed")]
)
async def test_graphql_document_size(client: httpx.AsyncClient, declared: bool) -> None:
    body = b'{"query": "{ __typename }", "padding": "' + b"x" * (64 * 1024) + b'"}'

    async def streamed() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    response = await client.post(
        "/graphql",
        content=body if declared else streamed(),
        headers={"content-type": "application/json", "origin": "https://app.example"},
    )
    assert response.status_code == 413
    assert response.headers["access-control-allow-origin"] == "*"  # readable by the browser
    assert response.json() == {
        "errors": [{"message": "Request body too large", "extensions": {"code": "BAD_USER_INPUT"}}]
    }


async def test_caches_are_bounded() -> None:
    from strawberry.extensions.parser_cache import _get_parse_cache

    from schema.extensions import CACHE_SIZE, VALIDATION_CACHE

    parse_cache: Any = _get_parse_cache(CACHE_SIZE)
    assert parse_cache.cache_info().maxsize == CACHE_SIZE == 256
    assert VALIDATION_CACHE.maxsize == CACHE_SIZE


@pytest.mark.parametrize("path", ["/api/chats", "/graphql"])
async def test_runaway_requests_are_stopped(
    app_for: AppFactory, database: Database, world: World, path: str
) -> None:
    # A deadline no database round trip can meet stands in for runaway work.
    others = threading.enumerate()  # the world's app, and its open connection
    async with app_for(request_timeout=0.0005) as app, http_client(app) as client:
        body = {"query": "mutation { createChat { chat { id } } }"} if path == "/graphql" else {}
        response = await client.post(
            path,
            json=body,
            headers={"x-api-key": world.keys["alice"], "origin": "https://app.example"},
        )
    # On SQLite a cancelled statement finishes in aiosqlite's thread; shutdown waited for it.
    assert lingering_sqlite_threads(besides=others) == []
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    # A browser can read the refusal, and its Retry-After; the request id is on it too.
    assert response.headers["access-control-allow-origin"] == "*"
    assert "retry-after" in response.headers["access-control-expose-headers"]
    assert response.headers["x-request-id"]
    if path == "/graphql":
        assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    else:
        assert response.json() == {"status": "error", "message": "Service temporarily unavailable"}


async def _persisted(
    client: httpx.AsyncClient, query: str | None, digest: str, key: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    if query is not None:
        body["query"] = query
    headers = {"x-api-key": key} if key else {}
    response = await client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200
    return dict(response.json())


NOT_FOUND = [
    {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
]


@pytest.mark.parametrize(
    ("query", "key"),
    [
        pytest.param("x" * 60_000, None, id="not-graphql-no-key"),
        pytest.param("x" * 60_000, "alice", id="not-graphql-with-key"),
        pytest.param("{ nope }", "alice", id="invalid-with-key"),
        pytest.param("{ chats { edges { cursor } } }", None, id="valid-no-key"),
        pytest.param("{ __typename }", None, id="needs-no-caller-no-key"),
        pytest.param("{ __typename }", "revoked", id="needs-no-caller-revoked-key"),
    ],
)
async def test_persisted_queries_store_only_what_an_identified_caller_ran(
    client: httpx.AsyncClient, world: World, query: str, key: str | None
) -> None:
    """Anyone could otherwise fill the store with anything, under any hash."""
    digest = hashlib.sha256(query.encode()).hexdigest()
    await _persisted(client, query, digest, world.keys[key] if key else None)
    assert (await _persisted(client, None, digest, world.keys["alice"]))["errors"] == NOT_FOUND


async def test_persisted_queries_store_what_an_identified_caller_ran(
    client: httpx.AsyncClient, world: World
) -> None:
    query = "{ __typename }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    assert (await _persisted(client, None, digest))["errors"] == NOT_FOUND
    assert (await _persisted(client, query, digest, world.keys["alice"]))["data"] == {
        "__typename": "Query"
    }
    assert (await _persisted(client, None, digest))["data"] == {"__typename": "Query"}


async def test_persisted_queries_store_documents_of_a_few_kib_only(
    client: httpx.AsyncClient, world: World
) -> None:
    """A 60 KB document (a comment counts) from a caller with a key runs, and is not stored: the
    store holds at most MAX_DOCUMENT_BYTES a document. Within it, stored."""
    key = world.keys["alice"]
    for padding, stored in ((MAX_DOCUMENT_BYTES - 40, True), (60_000, False)):
        query = f"# {'x' * padding}\n{{ __typename }}"
        digest = hashlib.sha256(query.encode()).hexdigest()
        assert (await _persisted(client, query, digest, key))["data"] == {"__typename": "Query"}
        again = await _persisted(client, None, digest, key)
        assert again == (
            priced({"data": {"__typename": "Query"}}, 0)
            if stored
            else {"data": None, "errors": NOT_FOUND}
        ), padding


async def test_persisted_query_registrations_are_bounded_per_caller(app_for: AppFactory) -> None:
    """APQ_REGISTRATIONS=3/hour: a caller's fourth new document runs and is not stored; another
    caller still registers its own."""
    async with app_for(apq_registrations="3/hour") as app, http_client(app) as client:
        world = await build_world()
        for n, (who, stored) in enumerate(
            [("alice", True)] * 3 + [("alice", False), ("bob", True)]
        ):
            query = f"query Q{n} {{ __typename }}"
            digest = hashlib.sha256(query.encode()).hexdigest()
            ran = await _persisted(client, query, digest, world.keys[who])
            assert ran == priced({"data": {"__typename": "Query"}}, 0)
            again = await _persisted(client, None, digest, world.keys[who])
            assert (again.get("data") is not None) is stored, (n, who, again)


def _aliased(count: int) -> str:
    fields = " ".join(
        f'c{n}: createChat(input: {{topic: "burst"}}) {{ chat {{ id }} }}' for n in range(count)
    )
    return f"mutation {{ {fields} }}"


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "standard"])
async def test_the_rate_limit_counts_each_root_mutation_field(
    app_for: AppFactory, database: Database, compiled: bool
) -> None:
    """One POST of fifteen aliased createChat fields spends fifteen units: with fewer left, it
    is refused whole, before any runs."""
    async with (
        app_for(rate_limit="5/minute", graphql_compiled=compiled) as app,
        http_client(app) as client,
    ):
        world = await build_world()
        key = world.keys["alice"]
        burst = (await graphql(client, _aliased(15), key)).json()
        assert burst["data"] == {f"c{n}": None for n in range(15)}
        assert {e["extensions"]["code"] for e in burst["errors"]} == {"TOO_MANY_REQUESTS"}
        assert await database.counts() == {"sessions": 0, "chats": 0}
        # Three fit in the budget of five, twice over for the same document (the second time as
        # a compiled plan, where plans are on); then two are left, and three are refused whole.
        first = (await graphql(client, _aliased(3), key)).json()
        assert "errors" not in first
        second = await graphql(client, _aliased(3), key)
        assert second.headers["retry-after"]
        assert {e["extensions"]["code"] for e in second.json()["errors"]} == {"TOO_MANY_REQUESTS"}
        assert await database.counts() == {"sessions": 3, "chats": 3}
        # A query still spends one unit per request.
        assert (await graphql(client, "{ chats { edges { cursor } } }", key)).json()["data"]


def _heavy(fields: int) -> str:
    """The review's document: one field repeated, and a comment of its own so no cache helps."""
    return f"# {uuid.uuid4()}\n{{ chats {{ edges {{ node {{ {' id' * fields} }} }} }} }}"


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "standard"])
async def test_a_caller_nobody_knows_gets_a_small_token_budget(
    app_for: AppFactory, compiled: bool
) -> None:
    async with app_for(graphql_compiled=compiled) as app, http_client(app) as client:
        world = await build_world()
        for key in (None, "chats_not-a-key"):
            refused = await graphql(client, _heavy(400), key)
            rejected(refused, "Document contains more than 300 tokens")
        # With a valid key a document of that size is parsed, and its fields counted.
        answered = (await graphql(client, _heavy(147), world.keys["alice"])).json()
        assert answered.get("data") == {"chats": {"edges": []}}, answered
        # GraphiQL loads the schema before its user has typed a key.
        introspection = get_introspection_query(
            descriptions=True,
            specified_by_url=True,
            directive_is_repeatable=True,
            schema_description=True,
            input_value_deprecation=True,
        )
        schema = (await graphql(client, introspection)).json()
        assert schema["data"]["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "standard"])
async def test_a_document_is_bounded_in_fields_before_it_is_validated(
    app_for: AppFactory, compiled: bool, database: Database
) -> None:
    """Validation grows with the square of a document's fields: a caller with a valid key may
    send 2,000 tokens, but not more than MAX_FIELDS (150) fields and fragment spreads, refused
    before validation (the review's 855 fields took 0.77 s); nothing runs."""
    three = " viewer { account { id } }"
    async with app_for(graphql_compiled=compiled) as app, http_client(app) as client:
        world = await build_world()
        key = world.keys["alice"]
        before = await database.counts()
        for document in (
            "{" + three * 285 + "}",
            _heavy(148),  # 151 fields
            "{" + " ...F" * 60 + "} fragment F on Query {" + three * 31 + "}",  # 60 + 93
            "mutation {" + " createChat(input: {}) { chat { id } }" * 51 + "}",  # 153
        ):
            rejected(await graphql(client, f"# {uuid.uuid4()}\n{document}", key), TOO_MANY_FIELDS)
        assert await database.counts() == before
        within = "{ ...F ...F ...F } fragment F on Query {" + three * 49 + "}"  # 3 + 147
        answered = (await graphql(client, within, key)).json()
        # 147 fields, each `viewer { account { id } }`: two objects a time.
        assert answered == priced({"data": {"viewer": {"account": {"id": str(world.alice)}}}}, 294)


async def test_a_document_a_key_holder_sent_is_still_over_a_strangers_budget(
    app_for: AppFactory,
) -> None:
    """Parsed documents are cached by text and token budget: one parsed for a key holder is not
    handed to a caller nobody knows, who still gets the small budget. On the standard path only:
    a document that has a compiled plan is run for anyone, by design (`GraphQLEndpoint._plan`)."""
    async with app_for(graphql_compiled=False) as app, http_client(app) as client:
        world = await build_world()
        fields = " id @include(if: true)" * 40  # 320 tokens, 43 fields
        heavy = f"{{ chats {{ edges {{ node {{ {fields} }} }} }} }}"
        answered = (await graphql(client, heavy, world.keys["alice"])).json()
        assert answered.get("data") == {"chats": {"edges": []}}, answered
        rejected(await graphql(client, heavy), "Document contains more than 300 tokens")


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("{ chats { edges { cursor } } }", id="compiles"),
        pytest.param("{ nope }", id="invalid"),
        pytest.param("{ __schema { queryType { name } } }", id="does-not-compile"),
    ],
)
async def test_a_new_document_is_validated_once(
    client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    """Once, whichever path sees it first: a compiled plan's admission or Strawberry's."""
    calls = []
    validate = strawberry_validate

    def counting(*args: Any) -> Any:
        calls.append(args)
        return validate(*args)

    # Wherever a path may call it from (the compiler imported it once too).
    monkeypatch.setattr("schema.extensions.validate_document", counting)
    monkeypatch.setattr("schema.execution.plans.validate_document", counting, raising=False)
    fresh = f"# {uuid.uuid4()}\n{query}"
    for _ in range(3):
        assert (await graphql(client, fresh, world.keys["alice"])).status_code == 200
    assert len(calls) == 1


@pytest.mark.parametrize("keyed", [True, False], ids=["key", "no-key"])
async def test_a_subscription_over_plain_http_is_a_request_error(
    client: httpx.AsyncClient,
    database: Database,
    world: World,
    caplog: pytest.LogCaptureFixture,
    keyed: bool,
) -> None:
    """Subscriptions are served over the WebSocket and streaming HTTP; sent as a plain HTTP query
    (no `Accept` of a stream), one used to run as a query and answer INTERNAL_SERVER_ERROR with a
    traceback, for callers with no credentials too. Now a 400 request error naming the
    transports, and nothing logged above INFO."""
    headers = {"x-api-key": world.keys["alice"]} if keyed else {}
    query = "subscription { chatEvents { type chat { id } } }"
    before = await database.counts()
    error = {
        "message": SUBSCRIPTIONS_OVER_WEBSOCKET,
        "extensions": {"code": "BAD_USER_INPUT"},
    }
    for response in (
        await client.post("/graphql", json={"query": query}, headers=headers),
        await client.get("/graphql", params={"query": query}, headers=headers),
    ):
        expected = priced({"data": None, "errors": [error]}, 2)
        assert (response.status_code, response.json()) == (400, expected)
    spec = await client.post(
        "/graphql",
        json={"query": query},
        headers={**headers, "accept": "application/graphql-response+json"},
    )
    assert (spec.status_code, spec.json()) == (400, priced({"errors": [error]}, 2))
    assert await database.counts() == before
    assert [r for r in caplog.records if r.levelno > logging.INFO] == []

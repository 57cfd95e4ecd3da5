"""What a document costs, by the cost directives the schema publishes (schema.pricing): the same
on both executors, told in every answer, refused over COST_LIMIT before anything runs, and the
REST routes' fixed costs equal to their GraphQL twins'."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from rest.auth import COSTS
from rest.openapi import DOCUMENT
from schema.gate import pricing_of
from schema.schema import SDL_PATH
from tests.support.api import priced
from tests.support.apps import AppFactory, http_client
from tests.support.databases import Database
from tests.support.twins import Twins
from tests.support.world import World, build_world

pytestmark = pytest.mark.anyio

CHAT_ID = "00000000-0000-7000-8000-000000000000"
# (document, variables, estimated cost): an object 1, a scalar 0, a mutation's root field 10,
# a connection's edges as many as its slicing argument asks for (else its default page).
DOCUMENTS = [
    ("{ viewer { account { id name kind } } }", None, 2),
    ("{ chats { edges { node { id } } pageInfo { hasNextPage } eventCursor } }", None, 42),
    ("query P($n: Int) { chats(first: $n) { edges { node { id } } } }", {"n": 5}, 11),
    ("query P($n: Int = 7) { chats(first: $n) { edges { node { id } } } }", {}, 15),
    ("query P($n: Int) { chats(first: $n) { edges { node { id } } } }", {"n": None}, 41),
    (
        "{ chats(first: 100) { edges { node { messages(last: 30) { edges { node { id } } } } } } }",
        None,
        1 + 100 * (1 + 1 + 1 + 30 * 2),
    ),
    (f'{{ chat(id: "{CHAT_ID}") {{ messages {{ edges {{ cursor }} }} }} }}', None, 1 + 1 + 50),
    (
        "fragment F on ChatRoom { title } "
        "{ chats(first: 2) { edges { node { ...F ... on ChatRoom { id } } } } }",
        None,
        1 + 2 * 2,
    ),
    ('mutation { createChat(input: {topic: "a"}) { chat { id } } }', None, 11),
    (
        'mutation { a: createChat { chat { id } } b: deleteChat(input: {chatId: "'
        + CHAT_ID
        + '"}) { chatId } }',
        None,
        21,
    ),
    ("{ __schema { types { name fields { name } } } __typename }", None, 0),
]


@pytest.mark.parametrize(("document", "variables", "cost"), DOCUMENTS)
def test_documents_cost_what_the_directives_say(
    twins: Twins, document: str, variables: dict[str, Any] | None, cost: int
) -> None:
    body: dict[str, Any] = {"query": document}
    if variables is not None:
        body["variables"] = variables
    for _ in range(2):  # the first sight of a document, then its plan
        answer = twins.same(body, compiled=twins.plans(document, None) is not None)
        assert answer["extensions"] == {"cost": {"estimated": cost, "limit": 10_000}}


def test_the_published_sdl_prices_as_the_service_does() -> None:
    """A router given schema/schema.graphql computes the same: the service prices from it."""
    pricing = pricing_of(SDL_PATH.read_text())
    for document, variables, cost in DOCUMENTS:
        price = pricing.of(document, None, 2000)
        assert price is not None, document
        assert price.estimate(variables) == cost, document


async def test_over_the_limit_nothing_runs(app_for: AppFactory, database: Database) -> None:
    """COST_LIMIT=20: two creates (22) are refused whole, as a request error, with their price;
    one (11) runs. The refusal spends nothing and writes nothing."""
    two = "mutation { a: createChat { chat { id } } b: createChat { chat { id } } }"
    async with app_for(cost_limit=20) as app, http_client(app) as client:
        world = await build_world()
        key = {"x-api-key": world.keys["alice"]}
        before = await database.counts()
        refused = await client.post("/graphql", json={"query": two}, headers=key)
        spec = await client.post(
            "/graphql",
            json={"query": two},
            headers={**key, "accept": "application/graphql-response+json"},
        )
        assert await database.counts() == before
        error = {
            "message": "Operation cost 22 exceeds the limit of 20.",
            "extensions": {"code": "COST_LIMIT_EXCEEDED"},
        }
        assert (refused.status_code, refused.json()) == (
            200,
            priced({"data": None, "errors": [error]}, 22, 20),
        )
        assert (spec.status_code, spec.json()) == (400, priced({"errors": [error]}, 22, 20))
        assert refused.headers["x-cost"] == spec.headers["x-cost"] == "22"
        one = await client.post(
            "/graphql", json={"query": "mutation { createChat { chat { id } } }"}, headers=key
        )
        assert one.json()["extensions"] == {"cost": {"estimated": 11, "limit": 20}}
        assert (await database.counts())["chats"] == before["chats"] + 1


async def test_a_stream_over_the_limit_is_refused_before_it_opens(app_for: AppFactory) -> None:
    dear = "subscription { chatEvents { chat { messages { edges { node { id } } } } } }"
    async with app_for(cost_limit=20) as app, http_client(app) as client:
        world = await build_world()
        refused = await client.post(
            "/graphql",
            json={"query": dear},
            headers={"x-api-key": world.keys["alice"], "accept": "text/event-stream"},
        )
    assert refused.headers["x-cost"] == str(1 + 1 + 1 + 50 * 2)
    assert refused.json()["errors"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED"


async def test_measure_mode_prices_and_runs(app_for: AppFactory, database: Database) -> None:
    two = "mutation { a: createChat { chat { id } } b: createChat { chat { id } } }"
    async with app_for(cost_limit=20, cost_mode="measure") as app, http_client(app) as client:
        world = await build_world()
        ran = await client.post("/graphql", json={"query": two}, headers=auth(world))
    assert ran.json()["extensions"] == {"cost": {"estimated": 22, "limit": 20}}
    assert (await database.counts())["chats"] == 2


def auth(world: World) -> dict[str, str]:
    return {"x-api-key": world.keys["alice"]}


# Each REST route's GraphQL twin, at the route's default page size.
TWINS = {
    ("POST", "/api/chats"): "mutation { createChat { chat { id title } } }",
    ("PATCH", "/api/chats"): (
        'mutation { updateChat(input: {chatId: "x", topic: "t"}) { chat { id } } }'
    ),
    ("DELETE", "/api/chats"): 'mutation { deleteChat(input: {chatId: "x"}) { chatId } }',
    ("GET", "/api/chats"): "{ chats { edges { node { id title } } } }",
    ("GET", "/api/chats/{chatId}/messages"): (
        '{ chat(id: "x") { messages { edges { node { id parts } } } } }'
    ),
    ("POST", "/api/chats/{chatId}/messages"): (
        'mutation { sendMessage(input: {chatId: "x", parts: []}) { message { id } } }'
    ),
    ("DELETE", "/api/chats/{chatId}/messages"): (
        'mutation { deleteMessages(input: {chatId: "x", fromMessageId: "y"}) { messageIds } }'
    ),
    ("POST", "/api/chats/{chatId}/replies"): (
        'mutation { startReply(input: {chatId: "x"}) { message { id } } }'
    ),
    ("POST", "/api/chats/{chatId}/replies/{messageId}/chunks"): (
        'mutation { appendReply(input: {messageId: "x", index: 0, parts: []}) { message { id } } }'
    ),
    ("POST", "/api/chats/{chatId}/replies/{messageId}/finish"): (
        'mutation { finishReply(input: {messageId: "x"}) { message { id } } }'
    ),
    ("POST", "/api/chats/{chatId}/stop"): (
        'mutation { stopReply(input: {chatId: "x"}) { message { id } } }'
    ),
    ("POST", "/api/chats/{chatId}/read"): (
        'mutation { markChatRead(input: {chatId: "x"}) { chat { id } } }'
    ),
    ("GET", "/api/chats/{chatId}/stream"): (
        'subscription { chatMessages(chatId: "x") { cursor message { id } chunk { index } } }'
    ),
    ("GET", "/api/accounts/me"): "{ viewer { account { id } } }",
}


def test_rest_routes_cost_what_their_graphql_twins_cost() -> None:
    pricing = pricing_of(SDL_PATH.read_text())
    assert set(TWINS) == set(COSTS)
    for route, document in TWINS.items():
        price = pricing.of(document, None, 2000)
        assert price is not None, route
        assert price.estimate(None) == COSTS[route], route
    stated = {
        (method.upper(), path): operation.get("x-cost")
        for path, operations in DOCUMENT["paths"].items()
        for method, operation in operations.items()
        if "security" not in operation  # the health checks and documents are open and free
    }
    assert stated == COSTS


async def test_rest_answers_say_their_cost(client: httpx.AsyncClient, world: World) -> None:
    made = await client.post("/api/chats", json={}, headers=auth(world))
    listed = await client.get("/api/chats", headers=auth(world))
    refused = await client.post("/api/chats", json={})
    assert (made.headers["x-cost"], listed.headers["x-cost"]) == ("11", "41")
    assert "x-cost" not in refused.headers  # not authenticated: nothing was spent

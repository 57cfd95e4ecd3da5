"""What only the GraphQL edge does: queries, the committed SDL, GraphiQL, document errors."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import pytest

from schema.schema import SDL_PATH, sdl
from tests.support.api import CHAT_FIELDS, GraphQLApi, RestApi, outcome_of, priced
from tests.support.databases import Database
from tests.support.world import World

pytestmark = pytest.mark.anyio

CHAT = f"query Chat($id: UUID!) {{ chat(id: $id) {{ {CHAT_FIELDS} createdAt }} }}"
CHATS = f"""
query Chats($first: Int, $after: String, $accountId: UUID) {{
  chats(first: $first, after: $after, accountId: $accountId) {{
    edges {{ cursor node {{ {CHAT_FIELDS} }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}"""


@pytest.fixture
def graphql(client: httpx.AsyncClient) -> GraphQLApi:
    return GraphQLApi(client)


async def run(
    graphql: GraphQLApi, query: str, variables: dict[str, Any] | None, key: str | None
) -> dict[str, Any]:
    response = await graphql.execute(query, variables, {"x-api-key": key} if key else {})
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_committed_schema_matches_the_code() -> None:
    assert SDL_PATH.read_text() == sdl(), "run: python -m schema.export"


def test_schema_has_the_contracts_shape() -> None:
    text = sdl()
    for line in [
        # Mutation root fields are nullable: a failed one does not hide the others' data.
        # Priced as the routers price a mutation (schema.directives).
        "createChat(input: CreateChatInput): CreateChatPayload @cost(weight: 10)\n",
        "chat(id: UUID!): ChatRoom",
        "chats(first: Int = 20, after: String, accountId: UUID, artistId: UUID):"
        " ChatRoomConnection!"
        ' @listSize(assumedSize: 20, slicingArguments: ["first"], sizedFields: ["edges"],'
        " requireOneSlicingArgument: false)",
        "updateChat(input: UpdateChatInput!): UpdateChatPayload @cost(weight: 10)\n",
        "deleteChat(input: DeleteChatInput!): DeleteChatPayload @cost(weight: 10)\n",
        "chatEvents(accountId: UUID, after: String = null): ChatEvent!",
        "enum ChatEventType {\n  CREATED\n  UPDATED\n  DELETED\n}",
    ]:
        assert line in text


async def test_chat_query(graphql: GraphQLApi, world: World) -> None:
    created = await graphql.create_chat({"topic": "Mine"}, key=world.keys["alice"])
    assert created.chat is not None
    body = await run(graphql, CHAT, {"id": created.chat["id"]}, world.keys["alice"])
    chat = body["data"]["chat"]
    assert chat.pop("createdAt") == created.chat["updatedAt"]
    assert chat == created.chat


@pytest.mark.parametrize(
    ("key", "visible"),
    [
        pytest.param("label", True, id="organization-sees-members-chat"),
        pytest.param("carol", True, id="fellow-member-sees-it"),
        pytest.param("bob", False, id="outsider-gets-null"),
    ],
)
async def test_chat_visibility(graphql: GraphQLApi, world: World, key: str, visible: bool) -> None:
    created = await graphql.create_chat({}, key=world.keys["alice"])
    assert created.chat is not None
    body = await run(graphql, CHAT, {"id": created.chat["id"]}, world.keys[key])
    assert "errors" not in body
    assert (body["data"]["chat"] is not None) is visible


async def test_unknown_chat_is_null(graphql: GraphQLApi, world: World) -> None:
    body = await run(graphql, CHAT, {"id": str(uuid.uuid4())}, world.keys["alice"])
    assert body == priced({"data": {"chat": None}}, 1)


@pytest.mark.parametrize(
    "value",
    [pytest.param("nope", id="word"), pytest.param(7, id="number"), pytest.param("", id="empty")],
)
async def test_malformed_uuid_variable_is_bad_user_input(
    graphql: GraphQLApi, world: World, value: Any
) -> None:
    body = await run(graphql, CHAT, {"id": value}, world.keys["alice"])
    assert body["data"] == {"chat": None}
    [error] = body["errors"]
    assert error["message"] == "id must be a valid UUID"
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        pytest.param("{ chat(id:", None, id="syntax-error"),
        pytest.param("{ nope }", None, id="unknown-field"),
        pytest.param(CHAT, {}, id="missing-required-variable"),
        pytest.param(CHAT, {"id": None}, id="null-for-non-null"),
        pytest.param(
            "mutation { createChat(input: {colour: 1}) { chat { id } } }",
            None,
            id="unknown-input-field",
        ),
    ],
)
async def test_document_errors_are_bad_user_input(
    graphql: GraphQLApi, database: Database, world: World, document: str, variables: Any
) -> None:
    body = await run(graphql, document, variables, world.keys["alice"])
    assert body.get("data") is None
    assert body["errors"]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}
    assert await database.counts() == {"sessions": 0, "chats": 0}


async def test_chat_query_needs_a_key(graphql: GraphQLApi, world: World) -> None:
    body = await run(graphql, CHAT, {"id": str(uuid.uuid4())}, None)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_one_authentication_per_request(
    graphql: GraphQLApi, database: Database, world: World
) -> None:
    """Several fields in one document share the caller (and spend one rate-limit unit)."""
    document = "mutation { a: createChat { chat { id } } b: createChat { chat { id } } }"
    body = await run(graphql, document, None, world.keys["alice"])
    assert "errors" not in body
    assert body["data"]["a"]["chat"]["id"] != body["data"]["b"]["chat"]["id"]
    assert await database.counts() == {"sessions": 2, "chats": 2}


async def create_many(graphql: GraphQLApi, key: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        outcome = await graphql.create_chat({"topic": f"chat {n}"}, key=key)
        assert outcome.chat is not None
        ids.append(outcome.chat["id"])
    return ids


async def test_chats_pages_newest_first(graphql: GraphQLApi, world: World) -> None:
    ids = await create_many(graphql, world.keys["alice"], 5)
    await create_many(graphql, world.keys["bob"], 2)  # not alice's: never listed
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = await run(graphql, CHATS, {"first": 2, "after": after}, world.keys["alice"])
        connection = body["data"]["chats"]
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        pages += 1
        info = connection["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
        assert after == connection["edges"][-1]["cursor"]
    assert pages == 3
    assert seen == list(reversed(ids))


async def test_chats_pagination_is_stable_while_chats_are_added(
    graphql: GraphQLApi, world: World
) -> None:
    ids = await create_many(graphql, world.keys["alice"], 4)
    first = await run(graphql, CHATS, {"first": 2}, world.keys["alice"])
    await create_many(graphql, world.keys["alice"], 3)  # newer: they land before the cursor
    after = first["data"]["chats"]["pageInfo"]["endCursor"]
    second = await run(graphql, CHATS, {"first": 10, "after": after}, world.keys["alice"])
    page_one = [e["node"]["id"] for e in first["data"]["chats"]["edges"]]
    page_two = [e["node"]["id"] for e in second["data"]["chats"]["edges"]]
    assert page_one + page_two == list(reversed(ids))


async def test_chats_of_another_account(graphql: GraphQLApi, world: World) -> None:
    await create_many(graphql, world.keys["carol"], 2)
    body = await run(graphql, CHATS, {"accountId": str(world.carol)}, world.keys["label"])
    assert len(body["data"]["chats"]["edges"]) == 2
    denied = await run(graphql, CHATS, {"accountId": str(world.carol)}, world.keys["bob"])
    assert denied["data"] is None
    [error] = denied["errors"]
    assert error["message"] == "Access denied to specified accountId"
    assert error["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        pytest.param({"first": 0}, "first must be an integer between 1 and 100", id="first-zero"),
        pytest.param({"first": 101}, "first must be an integer between 1 and 100", id="first-101"),
        pytest.param({"after": "garbage!"}, "cursor is not valid", id="bad-cursor"),
        pytest.param({"accountId": "x"}, "accountId must be a valid UUID", id="bad-account-id"),
    ],
)
async def test_chats_bad_arguments(
    graphql: GraphQLApi, world: World, variables: dict[str, Any], message: str
) -> None:
    body = await run(graphql, CHATS, variables, world.keys["alice"])
    [error] = body["errors"]
    assert (error["message"], error["extensions"]["code"]) == (message, "BAD_USER_INPUT")


async def test_empty_list(graphql: GraphQLApi, world: World) -> None:
    body = await run(graphql, CHATS, None, world.keys["dave"])
    assert body["data"]["chats"] == {
        "edges": [],
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
    }


async def test_graphiql_page_and_its_assets_come_from_the_service(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("default-src 'self';")
    assert "script-src" not in response.headers["content-security-policy"]  # 'self' only
    page = response.text
    # Nothing inline for the CSP to block.
    assert "<script>" not in page
    assert "<style>" not in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(assets) == 9
    types = {".js": "javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for asset in assets:
        assert asset.startswith("/graphiql/"), asset  # never another origin
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert types[asset[asset.rindex(".") :]] in served.headers["content-type"], asset


async def test_graphiql_licenses_ship_with_its_assets(client: httpx.AsyncClient) -> None:
    versions = await client.get("/graphiql/vendor/licenses/VERSIONS")
    assert versions.status_code == 200
    for package in ("react", "react-dom", "graphiql", "@graphiql/plugin-explorer"):
        assert f"{package}@" in versions.text
        license_file = package.replace("/", "-")
        assert (await client.get(f"/graphiql/vendor/licenses/{license_file}.LICENSE")).text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            {"query": "query A { __typename } query B { __typename }"},
            "Must provide operation name if query contains multiple operations.",
            id="several-operations-no-name",
        ),
        pytest.param(
            {"query": "query A { __typename }", "operationName": "Three"},
            'Unknown operation named "Three".',
            id="unknown-operation-name",
        ),
    ],
)
@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_request_errors_are_json_with_a_code(
    client: httpx.AsyncClient, body: dict[str, Any], message: str, accept: str
) -> None:
    response = await client.post("/graphql", json=body, headers={"accept": accept})
    # Apollo needs 200 with application/json; the newer media type says 400 for request errors.
    assert response.status_code == (200 if accept == "application/json" else 400)
    assert response.headers["content-type"].startswith(accept)
    errors = response.json()["errors"]
    assert [(e["message"], e["extensions"]["code"]) for e in errors] == [
        (message, "BAD_USER_INPUT")
    ]
    assert response.json().get("data") is None


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"qeury": "{ __typename }"}, id="no-query"),
        pytest.param({"query": "{ __typename }", "operationName": 5}, id="operation-name-a-number"),
    ],
)
async def test_a_malformed_request_is_400_json(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/graphql", json=body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_named_operation_of_several_runs(client: httpx.AsyncClient) -> None:
    body = {"query": "query A { a: __typename } query B { b: __typename }", "operationName": "B"}
    response = await client.post("/graphql", json=body)
    assert response.json() == priced({"data": {"b": "Query"}}, 0)


async def test_a_mutation_over_get_is_405(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(
        "/graphql",
        params={"query": 'mutation { createChat(input: {topic: "x"}) { chat { id } } }'},
        headers={"x-api-key": world.keys["alice"]},
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_failed_mutation_leaves_the_committed_ones_visible(
    graphql: GraphQLApi, database: Database, world: World
) -> None:
    document = f"""mutation {{
      first: createChat(input: {{topic: "kept"}}) {{ chat {{ id title }} }}
      second: createChat(input: {{accountId: "{world.bob}"}}) {{ chat {{ id }} }}
    }}"""
    body = await run(graphql, document, None, world.keys["alice"])
    assert body["data"]["first"]["chat"]["title"] == "kept"
    assert body["data"]["second"] is None
    [error] = body["errors"]
    assert error["path"] == ["second"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    stored = await database.chat(body["data"]["first"]["chat"]["id"])
    assert stored is not None
    assert await database.counts() == {"sessions": 1, "chats": 1}


async def test_introspection_without_a_key(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ __schema { mutationType { name } } }"}
    )
    # Introspection costs nothing (the playground loads its schema whatever the limit).
    expected = priced({"data": {"__schema": {"mutationType": {"name": "Mutation"}}}}, 0)
    assert response.json() == expected


async def test_query_over_get(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(
        "/graphql",
        params={"query": "{ chats { edges { cursor } } }"},
        headers={"x-api-key": world.keys["alice"]},
    )
    assert response.json() == priced({"data": {"chats": {"edges": []}}}, 21)  # 1 + 20 edges


async def test_no_redirect_on_graphql_path(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 200
    assert response.json() == priced({"data": {"__typename": "Query"}}, 0)


async def test_rest_and_graphql_answer_the_same_chat(
    client: httpx.AsyncClient, world: World
) -> None:
    chat_id = str(uuid.uuid4())
    payload = {"chatId": chat_id, "topic": "both", "artistId": str(world.band)}
    rest, graphql = await asyncio.gather(
        RestApi(client).create_chat(payload, key=world.keys["alice"]),
        GraphQLApi(client).create_chat(payload, key=world.keys["alice"]),
    )
    assert rest.status == graphql.status == 200
    assert rest.chat == graphql.chat


async def test_graphql_error_outcome_helper_rejects_non_200() -> None:
    """Guard for the helper itself: a GraphQL error at HTTP 4xx would break Apollo clients."""
    response = httpx.Response(400, json={"errors": [{"message": "x"}]})
    with pytest.raises(AssertionError):
        outcome_of(response, "createChat")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"query": "{ __typename }", "operationName": "\\ud800"}', id="name"),
        pytest.param(b'{"query": "query \\udfff { __typename }"}', id="document"),
        pytest.param(
            b'{"query": "mutation($t: String) { createChat(input: {topic: $t}) { chat { id } } }",'
            b' "variables": {"t": "lone \\ud800"}}',
            id="variable",
        ),
        pytest.param(
            b'{"query": "{ __typename } # \\ud800", "extensions": {"persistedQuery":'
            b' {"version": 1, "sha256Hash": "00"}}}',
            id="persisted-query",
        ),
    ],
)
async def test_lone_surrogates_are_refused_where_json_is_read(
    client: httpx.AsyncClient, database: Database, world: World, body: bytes
) -> None:
    """Grammatical JSON, but no text: a 400 at the reader, never a 500 further on."""
    response = await client.post(
        "/graphql",
        content=body,
        headers={"content-type": "application/json", "x-api-key": world.keys["alice"]},
    )
    assert response.status_code == 400
    assert await database.counts() == {"sessions": 0, "chats": 0}

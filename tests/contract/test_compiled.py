"""Compiled GraphQL execution answers exactly as Strawberry's standard execution does.

Two apps on the same database, one compiling the documents it sees (the default) and one with
`graphql_compiled=False`, get the same requests; their answers must be identical: status, media
type, Retry-After, and the body (data, and errors with message, locations, path and extensions).
The corpus is the hand-written cases below plus documents hypothesis generates from the schema.

Both apps write to one database, so the second sees what the first did. The cases allow for it:
creates either name their chat (a retry answers the same chat) or make new ones, whose ids and
times `normalise` replaces by their order of appearance; a delete goes to a twin chat in each.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal

from db.engine import use_engine
from schema.extensions import MAX_ALIASES
from tests.support.apps import AppFactory, http_client
from tests.support.twins import GRAPHQL_RESPONSE, JSON, Twins, normalise
from tests.support.world import build_world

pytestmark = pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)

CHAT = "chat { id title accountId sessionId artistId createdAt updatedAt __typename }"


def test_every_field_of_a_created_chat(twins: Twins) -> None:
    for accept in (JSON, GRAPHQL_RESPONSE):
        body = twins.same(
            {"query": f"mutation {{ createChat {{ {CHAT} }} }}"}, compiled=True, accept=accept
        )
        assert body["data"]["createChat"]["chat"]["title"] == "New chat"


def test_aliases_fragments_and_typename(twins: Twins) -> None:
    chat_id = str(uuid.uuid4())
    query = """
        mutation Make($topic: String, $id: UUID) {
          __typename
          first: createChat(input: {topic: $topic, chatId: $id}) { ...Chat }
          again: createChat(input: {topic: $topic, chatId: $id}) {
            chat { ... on ChatRoom { name: title } id }
            ... { chat { t: title } }
          }
        }
        fragment Chat on CreateChatPayload { __typename chat { id title kind: __typename } }
    """
    body = twins.same(
        {"query": query, "variables": {"topic": "  Demo  ", "id": chat_id}}, compiled=True
    )
    assert body["data"]["again"]["chat"]["name"] == "Demo"


@pytest.mark.parametrize(
    "variables", [{"skip": True}, {"skip": False}, {"skip": False, "include": False}, {}]
)
def test_skip_and_include(twins: Twins, variables: dict[str, bool]) -> None:
    query = """
        mutation ($skip: Boolean = false, $include: Boolean = true) {
          createChat {
            chat {
              id @skip(if: $skip)
              title @include(if: $include)
              accountId @skip(if: true)
              ... @include(if: $include) { sessionId }
              ...More @skip(if: $skip)
            }
          }
        }
        fragment More on ChatRoom { artistId @include(if: false) createdAt }
    """
    twins.same({"query": query, "variables": variables}, compiled=True)


def test_errors_keep_their_message_locations_path_and_code(twins: Twins) -> None:
    world = twins.world
    query = f"""
        mutation {{
          ok: createChat(input: {{topic: "fine"}}) {{ chat {{ title }} }}
          forbidden: createChat(input: {{accountId: "{world.bob}"}}) {{ chat {{ id }} }}
          badId: createChat(input: {{chatId: "nope"}}) {{ chat {{ id }} }}
          long: createChat(input: {{topic: "{"x" * 101}"}}) {{ chat {{ id }} }}
          artist: createChat(input: {{artistId: "{world.stranger}"}}) {{ chat {{ id }} }}
          after: createChat {{ chat {{ title }} }}
        }}
    """
    body = twins.same({"query": query}, compiled=True)
    assert [e["path"] for e in body["errors"]] == [["forbidden"], ["badId"], ["long"], ["artist"]]
    unauthenticated = twins.same({"query": query}, compiled=True, key=None)
    assert unauthenticated["data"] == {name: None for name in body["data"]}


def test_mutations_run_one_after_another(twins: Twins) -> None:
    bodies = []
    for chat_id in (uuid.uuid4(), uuid.uuid4()):  # one chat for each app
        bodies.append(
            {
                "query": """
                    mutation ($id: UUID!) {
                      a: createChat(input: {chatId: $id, topic: "one"}) { chat { id title } }
                      b: createChat(input: {chatId: $id, topic: "two"}) { chat { id } }
                      c: createChat(input: {chatId: $id, topic: "one"}) { chat { title } }
                      d: updateChat(input: {chatId: $id, topic: "three"}) { chat { title } }
                      e: createChat(input: {chatId: $id, topic: "one"}) { chat { title } }
                    }
                """,
                "variables": {"id": str(chat_id)},
            }
        )
    body = twins.same(bodies[0], compiled=True, bodies=tuple(bodies))
    assert body["data"]["d"] == {"chat": {"title": "three"}}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["CONFLICT", "CONFLICT"]


def test_null_propagates_to_the_nearest_nullable_field(twins: Twins) -> None:
    # `chats` is non-null: its error nulls the whole data.
    query = "query { __typename chats(first: 1000) { edges { node { id } } } }"
    body = twins.same({"query": query}, compiled=True)
    assert body["data"] is None
    twins.same({"query": '{ chat(id: "nope") { id } }'}, compiled=True)
    twins.same({"query": f'{{ chat(id: "{uuid.uuid4()}") {{ id }} }}'}, compiled=True)


def test_lists_and_the_connection(twins: Twins) -> None:
    for topic in ("a", "b", "c"):
        twins.answers(
            {"query": f'mutation {{ createChat(input: {{topic: "{topic}"}}) {{ __typename }} }}'}
        )
    query = """
        query Page($first: Int, $after: String) {
          chats(first: $first, after: $after) {
            edges { cursor node { title ...on ChatRoom { id } } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
          }
        }
    """
    first = twins.same({"query": query, "variables": {"first": 2}}, compiled=True)
    after = first["data"]["chats"]["pageInfo"]["endCursor"]
    twins.same({"query": query, "variables": {"first": 2, "after": after}}, compiled=True)
    twins.same({"query": query, "variables": {"after": "not a cursor"}}, compiled=True)
    twins.same({"query": query, "variables": {"first": 0}}, compiled=True)


def test_variables_with_defaults_and_invalid_variables(twins: Twins) -> None:
    query = """
        mutation ($input: CreateChatInput = {topic: "default"}) {
          createChat(input: $input) { chat { title } }
        }
    """
    assert twins.same({"query": query}, compiled=True)["data"]["createChat"]["chat"] == {
        "title": "default"
    }
    twins.same({"query": query, "variables": {"input": {"topic": "given"}}}, compiled=True)
    twins.same({"query": query, "variables": {"input": None}}, compiled=True)
    for invalid in ({"input": {"topic": 5}}, {"input": {"nope": 1}}, {"input": "x"}):
        body = twins.same({"query": query, "variables": invalid}, compiled=True)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "data" not in body or body["data"] is None
    required = (
        'mutation ($id: UUID!) { updateChat(input: {chatId: $id, topic: "x"}) { __typename } }'
    )
    twins.same({"query": required, "variables": {}}, compiled=True)
    twins.same({"query": required, "variables": {"id": None}}, compiled=True)


def test_update_and_delete(twins: Twins) -> None:
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    for chat_id in ids:
        twins.answers(
            {"query": f'mutation {{ createChat(input: {{chatId: "{chat_id}"}}) {{ __typename }} }}'}
        )
    rename = (
        "mutation ($id: UUID!) {"
        ' updateChat(input: {chatId: $id, topic: " New "}) { chat { title } } }'
    )
    twins.same({"query": rename, "variables": {"id": ids[0]}}, compiled=True)
    delete = "mutation ($id: UUID!) { deleteChat(input: {chatId: $id}) { chatId } }"
    bodies = tuple({"query": delete, "variables": {"id": chat_id}} for chat_id in ids)
    twins.same(bodies[0], compiled=True, bodies=bodies)
    twins.same(bodies[0], compiled=True, bodies=bodies)  # deleted already: NOT_FOUND in both
    twins.same(bodies[0], compiled=True, bodies=bodies, key="bob")


def test_operation_names(twins: Twins) -> None:
    document = "query A { __typename } mutation B { createChat { chat { title } } }"
    twins.same({"query": document, "operationName": "B"}, compiled=True)
    twins.same({"query": document, "operationName": "A"}, compiled=True)
    twins.same({"query": document, "operationName": "C"}, compiled=False)
    twins.same({"query": document}, compiled=False)


def test_what_is_not_compiled_still_answers_the_same(twins: Twins) -> None:
    cases = [
        "{ __schema { queryType { name } } }",
        f'{{ a: chat(id: "{uuid.uuid4()}") {{ id }} b: chats {{ pageInfo {{ hasNextPage }} }} }}',
        "mutation { createChat { chat { nope } } }",
        "mutation { createChat { chat { id }",
        "mutation { " + " ".join(f"a{n}: __typename" for n in range(MAX_ALIASES + 1)) + " }",
        "mutation { createChat { chat { id } } } subscription { chatEvents { type } }",
    ]
    for query in cases:
        twins.same({"query": query}, compiled=False)
        twins.same({"query": query}, compiled=False, accept=GRAPHQL_RESPONSE)


def test_persisted_queries_by_hash(twins: Twins) -> None:
    query = 'mutation { createChat(input: {topic: "persisted"}) { chat { title } } }'
    digest = hashlib.sha256(query.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    assert twins.same({"extensions": extensions}, compiled=False)["errors"][0]["message"] == (
        "PersistedQueryNotFound"
    )
    twins.same({"query": query, "extensions": extensions}, compiled=True)
    for _ in range(2):
        body = twins.same({"extensions": extensions}, compiled=True)
        assert body["data"]["createChat"]["chat"]["title"] == "persisted"


def test_rate_limited(app_for: AppFactory) -> None:
    """TOO_MANY_REQUESTS, its retryAfter and the Retry-After header, from both paths."""
    query = "mutation { createChat { chat { title } } }"
    with start_blocking_portal() as portal:
        with (
            portal.wrap_async_context_manager(app_for(rate_limit="1/minute")) as compiled,
            portal.wrap_async_context_manager(
                app_for(rate_limit="1/minute", graphql_compiled=False)
            ) as standard,
        ):

            async def run() -> list[Any]:
                use_engine(compiled.state.engine)
                world = await build_world()
                answers = []
                for app in (compiled, standard):
                    async with http_client(app) as client:
                        for _ in range(2):
                            response = await client.post(
                                "/graphql",
                                json={"query": query},
                                headers={"x-api-key": world.keys["alice"]},
                            )
                        answers.append(
                            (response.headers.get("retry-after"), normalise(response.json(), {}))
                        )
                return answers

            fast, standard_answer = portal.call(run)
    # The two apps' windows began moments apart: their seconds left may straddle a second.
    seconds = [int(answer[0]) for answer in (fast, standard_answer)]
    assert abs(seconds[0] - seconds[1]) <= 1
    for answer, left in ((fast, seconds[0]), (standard_answer, seconds[1])):
        [error] = answer[1]["errors"]
        assert error["extensions"]["retryAfter"] == left
        error["extensions"]["retryAfter"] = "seconds"
    assert fast[1] == standard_answer[1]
    assert fast[1]["errors"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"

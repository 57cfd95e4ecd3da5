"""Compiled execution against Strawberry's on documents hypothesis generates from the schema, and
what the two executors share: the resolvers' context, the access line and the metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema
from prometheus_client import REGISTRY

from schema.context import Context
from schema.execution.plan import Plan
from schema.schema import build_schema
from tests.support.twins import Twins
from tests.support.world import World

pytestmark = pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)


# Generated documents ---------------------------------------------------------------------------

# 100 documents: the sample is fixed (derandomized), and a schema's new field moves it; with 60,
# the fields that came with resumable chat events left 11 compiled of the sample, 26 of 100.
GENERATED = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same documents every run: a failure in CI replays locally
)


def _uuid_values(world: World) -> st.SearchStrategy[graphql.ValueNode]:
    known = [str(getattr(world, name)) for name in ("alice", "bob", "label", "band", "stranger")]
    values = st.one_of(
        st.sampled_from(known), st.uuids().map(str), st.sampled_from(["nope", "", "1234"])
    )
    return values.map(lambda value: graphql.StringValueNode(value=value))


def _generated(twins: Twins, mode: Mode) -> Callable[[], int]:
    documents = from_schema(
        build_schema()._schema,
        fields=["chat", "chats", "createChat", "updateChat", "deleteChat"],
        custom_scalars={"UUID": _uuid_values(twins.world)},
        mode=mode,
    )

    compiled = 0

    @GENERATED
    @given(query=documents)
    def check(query: str) -> None:
        nonlocal compiled
        fast, standard = twins.answers({"query": query})
        assert fast == standard, query
        compiled += isinstance(twins.plans(query, None), Plan)

    def run() -> int:
        check()
        return compiled

    return run


def test_generated_documents(twins: Twins) -> None:
    # Many generated documents are compiled: not a query of two root fields, nor one selecting a
    # chat's messages, isStreaming or hasUnread (fields with resolvers, Strawberry's to run).
    assert _generated(twins, Mode.POSITIVE)() > 20


def test_generated_invalid_documents(twins: Twins) -> None:
    assert _generated(twins, Mode.NEGATIVE)() == 0  # each has one violation: never compiled


# One pipeline, two executors ----------------------------------------------------------------


def test_both_executors_give_resolvers_the_same_context(
    twins: Twins, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resolver that sets a response header works whichever executor runs it."""
    seen: list[tuple[str, ...]] = []
    authenticate = Context.caller

    async def caller(self: Context) -> Any:
        assert self.headers is not None
        seen.append((type(self).__name__, *sorted(vars(self)), type(self.headers).__name__))
        self.headers["x-seen-by"] = "resolver"
        return await authenticate(self)

    monkeypatch.setattr(Context, "caller", caller)
    query = "mutation { createChat { chat { title } } }"

    async def both() -> list[tuple[int, str | None]]:
        answers = []
        for client in (twins.compiled, twins.standard):
            response = await client.post(
                "/graphql", json={"query": query}, headers={"x-api-key": twins.world.keys["alice"]}
            )
            answers.append((response.status_code, response.headers.get("x-seen-by")))
        return answers

    assert twins.portal.call(both) == [(200, "resolver"), (200, "resolver")]
    assert isinstance(twins.plans(query, None), Plan)  # the first answer was the plan's
    assert len(seen) == 2
    assert seen[0] == seen[1]


def test_the_access_line_and_the_metrics_name_the_executor(
    twins: Twins, caplog: pytest.LogCaptureFixture
) -> None:
    def executions(executor: str) -> float:
        value = REGISTRY.get_sample_value(
            "chats_api_graphql_executions_total", {"executor": executor}
        )
        return value or 0.0

    before = {name: executions(name) for name in ("compiled", "strawberry")}
    caplog.set_level(logging.INFO, logger="chats_api.access")
    twins.same({"query": "{ viewer { account { name } } }"}, compiled=True)
    twins.same({"query": "{ __schema { queryType { name } } }"}, compiled=False)
    lines = [r for r in caplog.records if r.name == "chats_api.access"]
    assert [getattr(r, "executor", None) for r in lines] == [
        "compiled",  # the compiled app, then the one that never compiles
        "strawberry",
        "strawberry",  # introspection is not compiled
        "strawberry",
    ]
    assert executions("compiled") - before["compiled"] == 1
    assert executions("strawberry") - before["strawberry"] == 3

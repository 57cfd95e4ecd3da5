"""Traces as an operator sees them: the service, configured by the standard OTEL_* variables
alone, exports over OTLP to a receiver (tests/support/otlp.py), and each request arrives as one
trace under the client's `traceparent`: its SERVER span named by the conventions, its database,
Redis and issuer calls as children, no span per resolver; a subscription's delivered event
linked to the span of the request that wrote it, over the WebSocket and Server-Sent Events."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import Database
from tests.support.issuer import AUDIENCE, StandInIssuer
from tests.support.otlp import Receiver, Span, otlp_receiver
from tests.support.redis import RedisServer
from tests.support.servers import provision, serving
from tests.support.streams import subscription

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

DB_SYSTEMS = {"postgres": "postgresql", "sqlite": "sqlite"}


class Parent:
    """A client's span: the W3C traceparent it sends."""

    def __init__(self) -> None:
        self.trace_id, self.span_id = secrets.token_hex(16), secrets.token_hex(8)
        self.header = f"00-{self.trace_id}-{self.span_id}-01"


def env_of(receiver: Receiver, **more: str) -> dict[str, str]:
    # The SDK's own variables: where to send, and a short batch delay for the test's patience.
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        **more,
    }


def server_span(spans: list[Span], parent: Parent) -> Span:
    [span] = [s for s in spans if s.kind == "server" and s.parent_id == parent.span_id]
    assert span.trace_id == parent.trace_id
    return span


def children(spans: list[Span], of: Span) -> list[Span]:
    return [s for s in spans if s.parent_id == of.span_id and s.trace_id == of.trace_id]


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_each_request_is_one_trace_under_the_clients_parent(
    database: Database, own_redis: RedisServer, issuer: StandInIssuer, tmp_path: Path
) -> None:
    _, key = provision(database)
    rest, graphql, failed, signed_in = Parent(), Parent(), Parent(), Parent()
    with otlp_receiver() as receiver, (tmp_path / "server.log").open("w+") as log:
        env = env_of(
            receiver,
            REDIS_URL=own_redis.url,
            RATE_LIMIT="100/second",
            OIDC_ISSUER=issuer.url,
            OIDC_AUDIENCE=AUDIENCE,
        )
        with serving(database, env=env, output=log) as base:
            await send_each(base, key, issuer, rest, graphql, failed, signed_in)
            parents = {p.span_id for p in (rest, graphql, failed, signed_in)}
            spans = receiver.wait_for(
                lambda spans: parents <= {s.parent_id for s in spans if s.kind == "server"}
            )
        log.seek(0)
        lines = [json.loads(line) for line in log if '"message":"request"' in line]

    created = server_span(spans, rest)
    assert created.name == "POST /api/chats"
    assert created.attributes["http.route"] == "/api/chats"
    assert created.attributes["http.response.status_code"] == 200
    assert created.service == "chats-api"
    below = children(spans, created)
    assert {s.attributes.get("db.system.name") for s in below} >= {"postgresql", "redis"}
    assert all(s.kind == "client" for s in below)
    # Statements without their values: the key's hash is in no span.
    texts = " ".join(str(s.attributes) for s in spans)
    assert hashlib.sha256(key.encode()).hexdigest() not in texts

    query = server_span(spans, graphql)
    assert query.name == "query"
    assert query.attributes["graphql.operation.name"] == "Chats"
    assert query.attributes["graphql.operation.type"] == "query"
    assert "graphql.document" not in query.attributes  # only when OTEL_GRAPHQL_DOCUMENT asks
    assert not query.error
    # No span per resolver: the operation's children are its calls out of the process.
    assert {s.kind for s in children(spans, query)} == {"client"}
    assert any(s.attributes.get("db.system.name") == "postgresql" for s in children(spans, query))

    assert server_span(spans, failed).error  # a GraphQL error marks the request's span

    fetched = [s for s in children(spans, server_span(spans, signed_in)) if s.name == "GET"]
    assert f"{issuer.url}/jwks" in [s.attributes["url.full"] for s in fetched]

    assert {line.get("trace_id") for line in lines} >= {rest.trace_id, graphql.trace_id}
    # Only requests begin traces: the event log's reader, polling every second, begins none.
    assert {s.kind for s in spans if not s.parent_id} == {"server"}


async def send_each(
    base: str,
    key: str,
    issuer: StandInIssuer,
    rest: Parent,
    graphql: Parent,
    failed: Parent,
    signed_in: Parent,
) -> None:
    """A REST create, a named GraphQL query, a query with an error and a signed-in user's query,
    each from its own client span."""
    keyed = {"x-api-key": key}
    async with httpx.AsyncClient(base_url=base) as client:
        made = await client.post(
            "/api/chats", json={}, headers={**keyed, "traceparent": rest.header}
        )
        listed = await client.post(
            "/graphql",
            json={"query": "query Chats { chats { edges { node { id } } } }"},
            headers={**keyed, "traceparent": graphql.header},
        )
        refused = await client.post(
            "/graphql",
            json={"query": 'query One { chat(id: "nope") { id } }'},
            headers={**keyed, "traceparent": failed.header},
        )
        token = f"Bearer {issuer.token('ada')}"
        viewer = await client.post(
            "/graphql",
            json={"query": "{ viewer { account { id } } }"},
            headers={"authorization": token, "traceparent": signed_in.header},
        )
    assert [r.status_code for r in (made, listed, refused, viewer)] == [200] * 4


@pytest.mark.parametrize(
    ("database", "transport", "settings"),
    [
        ("postgres", "websocket", {}),
        # Strawberry's executor on SQLite: the other half of each pair.
        ("sqlite", "sse", {"GRAPHQL_COMPILED": "0"}),
    ],
    indirect=["database"],
)
async def test_a_delivered_event_links_to_the_request_that_wrote_it(
    database: Database, transport: str, settings: dict[str, str]
) -> None:
    _, key = provision(database)
    watcher, writer = Parent(), Parent()
    create = 'mutation Create { createChat(input: {topic: "Linked"}) { chat { id } } }'
    with otlp_receiver() as receiver:
        with serving(database, env=env_of(receiver, **settings)) as base:
            headers = {"x-api-key": key, "traceparent": watcher.header}
            async with subscription(transport, base, headers) as events:
                await asyncio.sleep(0.3)  # subscribed before the write
                async with httpx.AsyncClient(base_url=base) as client:
                    written = await client.post(
                        "/graphql",
                        json={"query": create},
                        headers={"x-api-key": key, "traceparent": writer.header},
                    )
                _, payload = await anext(events)
            assert payload["data"]["chatEvents"]["chat"]["title"] == "Linked"
            assert "errors" not in written.json()
            spans = receiver.wait_for(lambda spans: _delivered(spans) is not None, seconds=15)
            watching = receiver.wait_for(
                lambda spans: any(s.parent_id == watcher.span_id for s in spans), seconds=15
            )

    write = server_span(spans, writer)
    assert (write.name, write.attributes["graphql.operation.name"]) == ("mutation", "Create")
    system = DB_SYSTEMS[database.engine]
    assert system in {s.attributes.get("db.system.name") for s in children(spans, write)}
    subscribed = server_span(watching, watcher)
    assert subscribed.name == "subscription"
    delivered = _delivered(watching)
    assert delivered is not None
    assert delivered.parent_id == subscribed.span_id
    assert delivered.links == ((write.trace_id, write.span_id),)


def _delivered(spans: list[Span]) -> Span | None:
    return next((s for s in spans if s.name == "deliver chatEvents"), None)


HOSTILE_PARENTS = [
    "garbage",
    "00-" + "0" * 32 + "-" + "0" * 16 + "-01",  # the all-zero ids the spec calls invalid
    "ff-" + "a" * 32 + "-" + "b" * 16 + "-01",  # version ff, forbidden
    "00-" + "a" * 32 + "-" + "b" * 16 + "-01-" + "x" * 4000,  # a long tail
]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_hostile_traceparent_starts_a_trace_of_its_own(database: Database) -> None:
    """A traceparent the W3C format refuses is ignored: the request is answered as any other and
    its span begins a new trace, over HTTP and in a WebSocket's connection_init alike."""
    _, key = provision(database)
    with otlp_receiver() as receiver, serving(database, env=env_of(receiver)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            for parent in HOSTILE_PARENTS:
                answer = await client.post(
                    "/graphql",
                    json={"query": "query Hostile { viewer { account { id } } }"},
                    headers={"x-api-key": key, "traceparent": parent},
                )
                assert answer.status_code == 200, parent
                assert "errors" not in answer.json()
        # Not a string in connection_init: the socket is acknowledged and serves as any other.
        socket_init: dict[str, Any] = {"x-api-key": key, "traceparent": {"not": "a string"}}
        async with subscription("websocket", base, socket_init) as events:
            await socket_create(base, key)
            _, payload = await anext(events)
            assert payload["data"]["chatEvents"]["chat"]["title"] == "Hostile"
        spans = receiver.wait_for(lambda spans: len(hostile_of(spans)) == len(HOSTILE_PARENTS))
    hostile = hostile_of(spans)
    assert [s.parent_id for s in hostile] == [""] * len(HOSTILE_PARENTS)
    assert len({s.trace_id for s in hostile}) == len(HOSTILE_PARENTS)


def hostile_of(spans: list[Span]) -> list[Span]:
    return [s for s in spans if s.attributes.get("graphql.operation.name") == "Hostile"]


async def socket_create(base: str, key: str) -> None:
    await asyncio.sleep(0.3)  # subscribed before the write
    async with httpx.AsyncClient(base_url=base) as client:
        made = await client.post(
            "/api/chats", json={"topic": "Hostile"}, headers={"x-api-key": key}
        )
    assert made.status_code == 200

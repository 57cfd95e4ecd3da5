"""Real JavaScript clients against a running server: Apollo Client 4 as the frontends use it
(HttpLink, and GraphQLWsLink over graphql-ws for subscriptions), graphql-ws's own client, and the
graphql-http package's GraphQL-over-HTTP audit. Node packages come from tests/js's lock file
(`npm ci --prefix tests/js`, which .ci/run does)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.databases import REPO, Database, unavailable
from tests.support.servers import provision, serving

pytestmark = pytest.mark.slow
JS = Path(__file__).parent.parent / "js"


@pytest.fixture(scope="module")
def node() -> str:
    executable = shutil.which("node")
    if executable is None or not (JS / "node_modules" / "@apollo" / "client").exists():
        reason = "Node.js and `npm ci --prefix tests/js` are needed"
        unavailable(reason)
    return executable


def run_node(node: str, script: str, *args: str) -> object:
    result = subprocess.run(
        [node, script, *args], cwd=JS, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
def test_apollo_client(node: str, database: Database) -> None:
    account, key = provision(database)
    with serving(database) as base:
        seen = run_node(node, "apollo.mjs", f"{base}/graphql", key)
    assert isinstance(seen, dict)
    # createChat twice with the same chatId: one ChatRoom in Apollo's normalized cache.
    assert seen["sameChat"] is True
    assert len(seen["chatRoomsInCache"]) == 1
    assert seen["readBack"]["title"] == "Apollo"
    assert seen["readBack"]["accountId"] == account
    # fetchMore through `chats`, two at a time, merged by relayStylePagination.
    assert seen["pages"] == 3
    assert seen["pagedTitles"] == ["page 3", "page 2", "page 1", "page 0", "Apollo"]
    # Errors reach Apollo as GraphQL errors (HTTP 200), with the code in extensions.
    assert seen["errorIsGraphQL"] is True
    assert seen["errorCode"] == "FORBIDDEN"
    assert seen["errorMessage"] == "Access denied to specified accountId"
    # Automatic persisted queries: hash only, PersistedQueryNotFound, the document once, then
    # hash only again.
    assert seen["persistedRequests"] == ["hash", "query+hash", "hash"]


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
def test_apollo_conversation(node: str, database: Database, events_env: dict[str, str]) -> None:
    """A chat screen with Apollo Client 4: messages paged both ways and merged in the cache by
    cursor, then the reply followed with GraphQLWsLink, the socket cut three times mid-reply and
    the subscription resumed with `after`."""
    _, key = provision(database)
    with serving(database, env=events_env) as base:
        seen = run_node(node, "conversation.mjs", base, key)
    assert isinstance(seen, dict)
    assert seen["backwardPages"] == 3
    assert seen["backwardIds"] == seen["sent"]
    assert seen["forwardPages"] == 3
    assert seen["forwardIds"] == seen["sent"]
    assert seen["chunkIndices"] == list(range(24))  # every chunk once, in order, across 3 cuts
    assert seen["eventTypes"] == ["ADDED", "CHUNK", "FINISHED"]
    assert seen["final"]["id"] == seen["reply"]
    assert seen["final"]["status"] == "COMPLETE"
    assert seen["final"]["parts"] == [{"type": "text", "text": "".join(f"{i} " for i in range(24))}]


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
def test_apollo_subscriptions_over_graphql_ws(
    node: str, database: Database, events_env: dict[str, str]
) -> None:
    _, key = provision(database)
    with serving(database, env=events_env) as base:
        seen = run_node(node, "subscriptions.mjs", f"{base}/graphql", key)
    assert isinstance(seen, dict)
    # Subscribed with GraphQLWsLink, then created, renamed and deleted with Apollo mutations.
    assert seen["events"] == [
        {"type": "CREATED", "title": "Live"},
        {"type": "UPDATED", "title": "Live v2"},
        {"type": "DELETED", "title": "Live v2"},
    ]
    # graphql-ws never closed the socket for a protocol error (4004: a binary frame, say).
    assert all(code < 4000 for code in seen["closes"]), seen["closes"]
    # A bad key in connectionParams: refused at connection_init, no subscription.
    assert seen["badKey"]["received"] is False
    assert seen["badKey"]["code"] == 4403


# PostgreSQL, with hints through NOTIFY and through Redis (SQLite's transports are the Python
# clients' in test_resumable_events.py).
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_chat_events_resume_on_every_javascript_client(
    node: str, database: Database, events_env: dict[str, str]
) -> None:
    """graphql-sse's client through three cuts (resumed by Last-Event-ID), Apollo's HttpLink over
    multipart HTTP, Apollo's GraphQLWsLink subscribing again after its last cursor: every chat
    once, in order."""
    _, key = provision(database)
    with serving(database, env=events_env) as base:
        cursor = httpx.get(f"{base}/api/chats", headers={"x-api-key": key}).json()["cursor"]
        seen = run_node(node, "events.mjs", base, key, cursor)
    assert isinstance(seen, dict)
    assert "sseError" not in seen
    assert "multipartError" not in seen
    sse = seen["sse"]
    assert sse["heard"] == sse["created"]
    assert sse["connects"] >= 4  # the first connection, and one after each cut
    multipart = seen["multipart"]
    assert multipart["heard"] == multipart["created"]
    assert multipart["heardAfter"] == 3
    assert multipart["replayed"] == sse["created"] + multipart["created"]
    websocket = seen["websocket"]
    assert websocket["heard"] == websocket["created"]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_graphql_over_http_audit(node: str, database: Database) -> None:
    with serving(database) as base:
        results = run_node(node, "audit.mjs", f"{base}/graphql")
    assert isinstance(results, list)
    assert len(results) > 50
    failed = [r for r in results if r["status"] != "ok"]
    # Every MUST and every SHOULD passes; the README says so, and lists any that stops passing.
    assert failed == []


@pytest.fixture(scope="module")
def chromium() -> str:
    executable = shutil.which("chromium")
    if executable is None:
        reason = "Debian's chromium is needed (apt-get install chromium)"
        unavailable(reason)
    return executable


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_graphiql_in_chromium(node: str, chromium: str, database: Database) -> None:
    """The playground in a real browser that can reach nothing but 127.0.0.1: the key in the
    headers pane, a createChat run, and a subscription that shows a chat created through REST.
    Screenshots go to test-artifacts/graphiql/."""
    _, key = provision(database)
    artifacts = REPO / "test-artifacts" / "graphiql"
    with serving(database) as base:
        seen = run_node(node, "graphiql.mjs", base, key, str(artifacts))
    assert isinstance(seen, dict)
    assert seen["offsite"] == []  # every script, style and font came from the service
    assert seen["csp"].startswith("default-src 'self';")
    blocked = [e for e in seen["consoleErrors"] if "Content Security Policy" in e]
    assert blocked == []
    assert seen["pageErrors"] == []
    assert '"createChat"' in seen["mutation"]
    assert '"From GraphiQL"' in seen["mutation"]
    assert '"CREATED"' in seen["event"]
    assert seen["keyStoredIn"] == []  # headers are not persisted: the key leaves with the page
    assert '"From REST"' in seen["event"]
    for name in ("graphiql-create-chat.png", "graphiql-subscription.png"):
        assert (artifacts / name).stat().st_size > 10_000

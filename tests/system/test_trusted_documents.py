"""Trusted documents with the real peers: Apollo's manifest generator and persisted-query lists
against a served service with a signed-in user's token from a real provider, the command line on
bad manifests, and two replicas on one PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import Database, run_cli
from tests.support.oidc import JS, Provider, node
from tests.support.servers import provision, serving

pytestmark = pytest.mark.slow
NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"


def apollo_manifest(folder: Path) -> Path:
    """What a frontend's build writes: `generate-persisted-query-manifest` over its operations."""
    output = folder / "persisted-query-manifest.json"
    config = folder / "persisted-query-manifest.config.json"
    config.write_text(json.dumps({"documents": ["frontend/**/*.graphql"], "output": str(output)}))
    binary = JS / "node_modules" / ".bin" / "generate-persisted-query-manifest"
    result = subprocess.run(
        [str(binary), "--config", str(config)], cwd=JS, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return output


def publish(database: Database, manifest: Path) -> subprocess.CompletedProcess[str]:
    # 10,000 documents validate in about 15 s alone on this machine, four times that beside the
    # parallel phase's other servers: the guard against a hang is set above both.
    return run_cli(["documents", "publish", str(manifest)], database.url, timeout=240)


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
def test_apollo_runs_its_persisted_query_list_and_nothing_else_with_a_token(
    database: Database, provider: Provider, tmp_path: Path
) -> None:
    manifest = apollo_manifest(tmp_path)
    published = publish(database, manifest)
    assert published.returncode == 0, published.stderr
    assert published.stdout.strip() == "4 new, 0 known, 0 refused"
    _, key = provision(database)
    env = provider.environment(GRAPHQL_SAFELIST="tokens")
    with serving(database, env=env) as base:
        run = subprocess.run(
            [node(), "trusted.mjs", f"{base}/graphql", provider.token(), key, str(manifest)],
            cwd=JS,
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert run.returncode == 0, run.stderr
    seen: dict[str, Any] = json.loads(run.stdout)
    # The frontend's own operations, by id only: never a document over HTTP.
    ids = {operation["id"] for operation in json.loads(manifest.read_text())["operations"]}
    assert seen["sent"]
    assert all(not s["hasQuery"] and s["hash"] in ids for s in seen["sent"])
    assert seen["created"]["title"] == "Trusted"
    assert seen["read"] == {k: seen["created"][k] for k in ("__typename", "id", "title")}
    assert seen["me"]["kind"] == "USER"
    assert seen["event"] == {"type": "CREATED", "title": "Trusted"}
    # Anything else with the token: refused over HTTP, as an APQ registration, and over the socket.
    for refused in (seen["arbitrary"], seen["registering"]):
        assert refused["status"] == 400
        assert refused["body"]["errors"][0]["extensions"]["code"] == NOT_IN_LIST
    assert seen["socket"]["error"][0]["extensions"]["code"] == NOT_IN_LIST
    # A script's API key still runs anything.
    assert seen["withKey"]["status"] == 200
    assert seen["withKey"]["body"]["data"]["createChat"]["chat"]["id"]


def apollo(*bodies: str, ids: list[str] | None = None) -> str:
    operations = [
        {
            "id": (ids or [])[n] if ids else hashlib.sha256(body.encode()).hexdigest(),
            "name": "Op",
            "type": body.split()[0],
            "body": body,
        }
        for n, body in enumerate(bodies)
    ]
    return json.dumps(
        {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
    )


GOOD = "query Good { viewer { account { id } } }"


@pytest.mark.parametrize(
    ("manifest", "error"),
    [
        pytest.param("{", "the manifest is not JSON", id="not-json"),
        pytest.param('{"format": "relay"}', "unknown manifest format 'relay'", id="wrong-format"),
        pytest.param("[]", "expected an Apollo persisted-query manifest", id="a-list"),
        pytest.param(
            apollo(
                GOOD, "query X { __typename }", ids=[hashlib.sha256(GOOD.encode()).hexdigest(), "x"]
            ),
            "refused x: the id is not the SHA-256 of the body",
            id="id-not-its-hash",
        ),
        pytest.param(
            json.dumps({"a": GOOD, "b": "query B { nope }"}),
            "refused b: Cannot query field 'nope' on type 'Query'.",
            id="not-this-schema",
        ),
        pytest.param(
            json.dumps(
                {
                    "a": GOOD,
                    "b": "query B { " + " ".join(f"a{n}: __typename" for n in range(40)) + " }",
                }
            ),
            "refused b: 40 aliases found. Allowed: 15",
            id="too-many-aliases",
        ),
        pytest.param(
            json.dumps({"a": GOOD, "b": "query B { " + "__typename " * 2100 + "}"}),
            "refused b: Syntax Error: Document contains more than 2000 tokens.",
            id="too-many-tokens",
        ),
        pytest.param(
            json.dumps({"a": GOOD, "b": "query B { __typename } query C { __typename }"}),
            "refused b: a trusted document holds one operation, this one 2",
            id="two-operations",
        ),
    ],
)
@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
def test_a_bad_manifest_publishes_nothing(
    database: Database, tmp_path: Path, manifest: str, error: str
) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(manifest)
    result = publish(database, path)
    assert result.returncode == 1
    assert error in result.stderr, result.stderr
    assert run_cli(["documents", "list"], database.url).stdout == ""


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
def test_ten_thousand_documents_publish_whole_and_again_harmlessly(
    database: Database, tmp_path: Path
) -> None:
    bodies = [
        f'query Q{n} {{ chat(id: "{uuid.UUID(int=n)}") {{ id title }} }}' for n in range(10_000)
    ]
    path = tmp_path / "manifest.json"
    path.write_text(apollo(*bodies))
    started = time.monotonic()
    first = publish(database, path)
    seconds = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "10000 new, 0 known, 0 refused"
    again = publish(database, path)
    assert again.stdout.strip() == "0 new, 10000 known, 0 refused"
    # One more, and one changed under a known id: nothing of it is stored.
    relay = tmp_path / "relay.json"
    relay.write_text(
        json.dumps({"fresh": GOOD, hashlib.sha256(bodies[0].encode()).hexdigest(): GOOD})
    )
    refused = publish(database, relay)
    assert refused.returncode == 1
    assert "already published with another body" in refused.stderr
    listed = run_cli(["documents", "list"], database.url).stdout.splitlines()
    assert len(listed) == 10_000
    assert not any(line.startswith("fresh\t") for line in listed)
    print(f"\n10,000 documents published on {database.engine} in {seconds:.1f} s")


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_document_published_while_two_replicas_serve_runs_on_both_within_5_seconds(
    database: Database, tmp_path: Path
) -> None:
    _, key = provision(database)
    env = {"GRAPHQL_SAFELIST": "all"}
    body = {"documentId": "me-1"}
    with (
        serving(database, env=env) as first,
        serving(database, env=env) as second,
        httpx.Client() as client,  # one, not one per poll: each loads the CA bundle
    ):
        before = [
            client.post(f"{base}/graphql", json=body, headers={"x-api-key": key})
            for base in (first, second)
        ]
        assert [answer.status_code for answer in before] == [400, 400]
        path = tmp_path / "manifest.json"
        path.write_text(json.dumps({"me-1": GOOD}))
        assert publish(database, path).returncode == 0
        published = time.monotonic()
        waiting = {first, second}
        while waiting:
            for base in list(waiting):
                answer = client.post(f"{base}/graphql", json=body, headers={"x-api-key": key})
                if answer.status_code == 200:
                    assert answer.json()["data"]["viewer"]["account"]["id"]
                    waiting.discard(base)
            assert time.monotonic() - published < 5, waiting
            time.sleep(0.1)

"""The README is the front door: its commands are the ones CI runs, and its examples work."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import anyio
import pytest

from tests.support.databases import REPO, Database
from tests.support.servers import serving

pytestmark = pytest.mark.anyio
README = (REPO / "README.md").read_text()
# The front door and the documents beside the code: their examples run here.
DOCUMENTS = "\n".join(
    (REPO / name).read_text()
    for name in ("README.md", "rest/README.md", "schema/README.md", "docs/operations.md")
)


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)


def test_ci_runs_the_readmes_test_command() -> None:
    quick_start = bash_blocks(README.split("## Quick start", 1)[1])
    test_command = quick_start[1].strip()
    assert test_command == "scripts/install && scripts/test"
    ci = (REPO / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()
    lint = bash_blocks(README.split("Lint, format, types and the layering", 1)[1])[0].strip()
    assert lint == "scripts/check"
    assert lint in ci.splitlines()
    # The scripts run the phases and the checks themselves.
    test_script = (REPO / "scripts" / "test").read_text()
    assert '.venv/bin/pytest -n 4 --maxschedchunk 1 -m "not serial and not alone"' in test_script
    assert "mypy" in (REPO / "scripts" / "check").read_text()


def test_the_readme_is_a_front_door() -> None:
    assert len(README.splitlines()) <= 150
    for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", DOCUMENTS):
        assert (REPO / link).exists() or any(
            (REPO / folder / link).exists() for folder in ("rest", "schema", "docs", "tests", "db")
        ), link


def run_bash(script: str, database_url: str, port: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace("127.0.0.1:8000", f"127.0.0.1:{port}")],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=90,
    )


def example(marker: str) -> str:
    block = DOCUMENTS.split(f"<!-- {marker} -->", 1)[1].split(f"<!-- /{marker} -->", 1)[0]
    [script] = bash_blocks(block)
    return script


async def test_examples_work_as_written(database: Database, tmp_path: Path) -> None:
    """The README's Try it, rest/README.md's Manage chats and schema/README.md's Live updates
    blocks, run by bash against a real server."""
    events = tmp_path / "events.log"
    script = "\n".join(
        [
            example("try-it"),
            "echo ---",
            # The watcher runs in the background; probe until it has seen a first event.
            f"( {example('watch')} ) > {events} 2>&1 &",
            "WATCHER=$!",
            "for _ in $(seq 100); do",
            '  curl -s -o /dev/null -X POST http://127.0.0.1:8000/api/chats -H "x-api-key: $KEY"',
            f"  grep -q '^data:' {events} && break; sleep 0.1",
            "done",
            example("manage"),
            f"for _ in $(seq 100); do grep -q DELETED {events} && break; sleep 0.1; done",
            "kill $WATCHER",
        ]
    )
    with serving(database) as base:
        port = base.rsplit(":", 1)[1]
        result = await anyio.to_thread.run_sync(run_bash, script, database.url, port)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.split("---\n")
    rest, created, listed = (json.loads(line) for line in first.splitlines())
    assert rest["status"] == "success"
    assert rest["chat"]["title"] == "Pulse Feb 2"
    assert created["data"]["createChat"]["chat"]["title"] == "Release plan"
    titles = [edge["node"]["title"] for edge in listed["data"]["chats"]["edges"]]
    assert titles == ["Release plan", "Pulse Feb 2"]

    page, renamed, renamed_again, deleted = (json.loads(line) for line in second.splitlines())
    assert page["chats"][0]["title"] == "Setlist"
    assert len(page["chats"]) == 2
    assert page["nextCursor"] is not None
    assert renamed["chat"]["title"] == "Setlist v2"
    assert renamed_again == {
        "data": {"updateChat": {"chat": {"title": "Setlist v3"}}},
        "extensions": {"cost": {"estimated": 11, "limit": 10_000}},
    }
    assert deleted == {"status": "success", "chatId": renamed["chat"]["id"]}

    lines = events.read_text().splitlines()
    data = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    heard = [result["data"]["chatEvents"] for result in data]
    setlist = [event for event in heard if "Setlist" in event["chat"]["title"]]
    assert [event["type"] for event in setlist] == ["CREATED", "UPDATED", "UPDATED", "DELETED"]
    ids = [line[4:] for line in lines if line.startswith("id: ")]
    assert ids == [event["cursor"] for event in heard]  # every event's id is its cursor


async def test_the_conversation_example_works_as_written(database: Database) -> None:
    """The README's conversation: a message, a reply in three chunks, the stream from the page's
    cursor, then resumed after its second event with Last-Event-ID."""
    script = "\n".join(["{", example("try-it"), "} > /dev/null", example("converse")])
    with serving(database) as base:
        port = base.rsplit(":", 1)[1]
        result = await anyio.to_thread.run_sync(run_bash, script, database.url, port)
    assert result.returncode == 0, result.stderr
    sent, *stream = result.stdout.splitlines()
    assert json.loads(sent)["message"]["parts"] == [
        {"type": "text", "text": "Open with the single?"}
    ]
    events = [json.loads(line[6:]) for line in stream if line.startswith("data: ")]
    first, resumed = events[:5], events[5:]
    assert [e["type"] for e in first] == ["added", "chunk", "chunk", "chunk", "finished"]
    assert first[-1]["message"]["parts"] == [{"type": "text", "text": "Yes: it is the hook."}]
    assert first[-1]["message"]["status"] == "complete"
    assert resumed == first[2:]  # each event after the second, once

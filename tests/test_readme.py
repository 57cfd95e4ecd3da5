"""The README is the front door: its commands are the ones CI runs, and its examples work."""

from __future__ import annotations

import json
import os
import re
import subprocess

import anyio
import pytest

from tests.databases import REPO, Database
from tests.test_server import serving

pytestmark = pytest.mark.anyio
README = (REPO / "README.md").read_text()


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)


def test_ci_runs_the_readmes_test_command() -> None:
    quick_start = bash_blocks(README.split("## Quick start", 1)[1])
    test_command = quick_start[1].strip()
    assert ".venv/bin/pytest" in test_command
    ci = (REPO / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()
    lint = bash_blocks(README.split("Lint, format and types", 1)[1])[0].strip()
    assert lint in ci.splitlines()


def run_bash(script: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_try_it_examples_work_as_written(database: Database) -> None:
    block = README.split("<!-- try-it -->", 1)[1].split("<!-- /try-it -->", 1)[0]
    [script] = bash_blocks(block)
    with serving(database) as base:
        port = base.rsplit(":", 1)[1]
        command = script.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        result = await anyio.to_thread.run_sync(run_bash, command, database.url)
    assert result.returncode == 0, result.stderr
    rest, created, listed = (json.loads(line) for line in result.stdout.splitlines())
    assert rest["status"] == "success"
    assert rest["chat"]["title"] == "Pulse Feb 2"
    assert created["data"]["createChat"]["chat"]["title"] == "Release plan"
    titles = [edge["node"]["title"] for edge in listed["data"]["chats"]["edges"]]
    assert titles == ["Release plan", "Pulse Feb 2"]
    assert await database.counts() == {"sessions": 2, "chats": 2}

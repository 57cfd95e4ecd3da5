"""What a process imports at start: redis-py (which imports OpenTelemetry's SDK when it is
installed) only when REDIS_URL is set, so a command or a server without Redis does not pay it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.databases import REPO

# The packages a fresh interpreter holds once `body` ran.
LOADED = (
    "import json, sys; {body};"
    " print(json.dumps(sorted({{m.partition('.')[0] for m in sys.modules}})))"
)


def _top_level_modules(body: str, **env: str) -> set[str]:
    environ = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | env
    result = subprocess.run(
        [sys.executable, "-c", LOADED.format(body=body)],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("import chats_api.cli", id="the-command-line"),
        pytest.param(
            "from chats_api.app import create_app; create_app()",
            id="a-server-without-redis",
        ),
    ],
)
def test_redis_is_not_imported_without_redis(body: str, tmp_path: Path) -> None:
    loaded = _top_level_modules(body, DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3")
    assert "chats_api" in loaded  # the line above ran
    assert "redis" not in loaded


def test_redis_is_imported_with_redis(tmp_path: Path) -> None:
    loaded = _top_level_modules(
        "from chats_api.app import create_app; create_app()",
        DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3",
        REDIS_URL="redis://127.0.0.1:6379/15",
    )
    assert "redis" in loaded

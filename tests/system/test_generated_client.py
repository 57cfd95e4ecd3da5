"""API customers generate clients from /openapi.json: one made by openapi-python-client creates a
chat and reads the typed result."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.databases import Database
from tests.support.servers import provision, serving

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_generated_python_client(database: Database, tmp_path: Path) -> None:
    account, key = provision(database)
    with serving(database) as base:
        (tmp_path / "openapi.json").write_bytes(httpx.get(f"{base}/openapi.json").content)
        output = tmp_path / "chats_client"
        bin_dir = Path(sys.executable).parent
        generated = subprocess.run(
            [
                str(bin_dir / "openapi-python-client"),
                "generate",
                "--path",
                str(tmp_path / "openapi.json"),
                "--output-path",
                str(output),
                "--meta",
                "none",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        )
        assert generated.returncode == 0, generated.stdout + generated.stderr
        sys.path.insert(0, str(tmp_path))
        try:
            client_module = importlib.import_module("chats_client.client")
            create_chat = importlib.import_module("chats_client.api.default.create_chat")
            models = importlib.import_module("chats_client.models")
            with client_module.AuthenticatedClient(base_url=base, token=key) as client:
                answer = create_chat.sync_detailed(
                    client=client, body=models.CreateChatRequest(topic="Typed client")
                )
        finally:
            sys.path.remove(str(tmp_path))
            for name in [m for m in sys.modules if m.startswith("chats_client")]:
                del sys.modules[name]
    assert answer.status_code == 200
    chat = answer.parsed.chat
    assert type(chat).__name__ == "ChatRoom"
    assert chat.title == "Typed client"
    assert str(chat.account_id) == account
    assert chat.artist_id is None
    assert chat.updated_at.tzinfo is not None

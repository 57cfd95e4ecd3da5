"""panva's oidc-provider (tests/js/oidc.mjs) in a process of its own: the identity provider the
system tests sign users in with."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import IO, Any, cast

import httpx

from tests.support.databases import unavailable
from tests.support.issuer import AUDIENCE
from tests.support.servers import free_port

JS = Path(__file__).parent.parent / "js"
OTHER_AUDIENCE = "https://other-api.example"


def node() -> str:
    executable = shutil.which("node")
    if executable is None or not (JS / "node_modules" / "oidc-provider").exists():
        unavailable("Node.js and `npm ci --prefix tests/js` are needed")
    return executable


class Provider:
    """Started on a port of its own; `restart` keeps the port and signs with a new key."""

    def __init__(self, page_port: int | None = None) -> None:
        self.port = free_port()
        self.page_port = page_port or free_port()
        self.kid = ""
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self, **extra: str) -> dict[str, str]:
        """The service's settings for this issuer."""
        return {"OIDC_ISSUER": self.url, "OIDC_AUDIENCE": AUDIENCE, **extra}

    def start(self) -> None:
        page = f"http://127.0.0.1:{self.page_port}"
        self._process = subprocess.Popen(
            [node(), "oidc.mjs", str(self.port), AUDIENCE, page],
            cwd=JS,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = cast(IO[str], self._process.stdout).readline()
        assert line, "oidc-provider did not start"
        self.kid = json.loads(line)["kid"]

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            cast(IO[str], self._process.stdout).close()
            self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def token_response(self, client: str = "alice", audience: str = AUDIENCE) -> dict[str, Any]:
        """Client credentials: the token's `sub` is the client's id (one user per client)."""
        response = httpx.post(
            f"{self.url}/token",
            auth=(client, "secret"),
            data={"grant_type": "client_credentials", "resource": audience, "scope": "chats"},
        )
        assert response.status_code == 200, response.text
        return cast(dict[str, Any], response.json())

    def token(self, client: str = "alice", audience: str = AUDIENCE) -> str:
        return str(self.token_response(client, audience)["access_token"])

    def wait_for_expiry(self, token_response: dict[str, Any], started: float) -> None:
        time.sleep(max(0.0, started + token_response["expires_in"] + 0.5 - time.monotonic()))

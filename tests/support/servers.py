"""`chats-api serve` in a process of its own, for the system tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import httpx

from tests.support.databases import REPO, Database, run_cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_environment(database: Database) -> dict[str, str]:
    """Where the service connects: behind PgBouncer for the `pgbouncer` engine, with LISTEN on a
    direct connection of its own."""
    if database.app_url == database.url:
        return {"DATABASE_URL": database.url}
    return {
        "DATABASE_URL": database.app_url,
        "DB_STATEMENT_CACHE_SIZE": "0",
        "EVENTS_DATABASE_URL": database.url,
    }


_running: dict[str, subprocess.Popen[str]] = {}
_terminated: set[str] = set()


def start_server(
    database: Database,
    *args: str,
    port: int | None = None,
    env: dict[str, str] | None = None,
    output: IO[str] | None = None,
) -> tuple[subprocess.Popen[str], str]:
    """`chats-api serve` in a process of its own, answering once this returns."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chats_api.cli", "serve", "--port", str(port), *args],
        cwd=REPO,
        env={**os.environ, **service_environment(database), "RATE_LIMIT": "", **(env or {})},
        stdout=output or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    # One client for every poll: each new one loads the CA bundle, CPU taken from the server
    # starting beside it.
    with httpx.Client() as client:
        while True:
            try:
                if client.get(f"{base}/readyz").status_code == 200:
                    return process, base
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError("the server did not start")
            time.sleep(0.1)


@contextmanager
def serving(
    database: Database,
    *args: str,
    port: int | None = None,
    env: dict[str, str] | None = None,
    output: IO[str] | None = None,
) -> Iterator[str]:
    """`chats-api serve` for the block; then SIGTERM, and a clean exit."""
    process, base = start_server(database, *args, port=port, env=env, output=output)
    try:
        _running[base] = process
        yield base
        stop_server(base)
        # uvicorn shuts down gracefully, then re-raises the signal: -SIGTERM is a clean exit.
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        _running.pop(base, None)
        _terminated.discard(base)
        if process.poll() is None:
            process.kill()
            process.wait()


def stop_server(base: str) -> None:
    """SIGTERM, once, as a process manager stops the service; `serving` waits for the exit."""
    if base not in _terminated:
        _terminated.add(base)
        _running[base].send_signal(signal.SIGTERM)


def running_pid(base: str) -> int:
    """The process id of the server `serving` started at `base`."""
    return _running[base].pid


def provision(database: Database) -> tuple[str, str]:
    account = run_cli(["accounts", "create", "--name", "Ada"], database.url).stdout.strip()
    key = run_cli(["keys", "create", "--account", account], database.url).stdout.strip()
    assert key.startswith("chats_")
    return account, key

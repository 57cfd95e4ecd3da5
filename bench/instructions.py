"""Instructions a request takes: `python -m bench.instructions rest|graphql [--requests 1000]`.

Runs the service (`chats-api serve`, the settings `bench.run` gives it) under valgrind's callgrind
with counting off until it is up, sends 300 creates to warm it, then counts the instructions of
`--requests` more (16 at a time) and prints them per request. Unlike seconds, the count hardly
moves with whatever else the machine is doing, so two commits can be compared on a noisy machine:
run it in each checkout. Needs valgrind (Debian: `apt-get install valgrind`) and PostgreSQL
(BENCH_DATABASE_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.run import (
    CANDIDATES,
    REPO,
    SERVICE_SETTINGS,
    create_database,
    drop_database,
    free_port,
    provision,
)

WARM_UP = 300
VALGRIND = ("valgrind", "--tool=callgrind", "--instr-atstart=no")


async def drive(port: int, candidate: str, key: str, requests: int) -> None:
    path, body = CANDIDATES[candidate]
    headers = {"content-type": "application/json", "x-api-key": key}
    pending = iter(range(requests))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:

        async def one_connection() -> None:
            for _ in pending:
                response = await client.post(path, content=body, headers=headers)
                if response.status_code not in (200, 201) or b'"errors"' in response.content:
                    raise SystemExit(f"{response.status_code}: {response.text}")

        await asyncio.gather(*(one_connection() for _ in range(16)))


def wait_until_up(port: int, server: subprocess.Popen[bytes]) -> None:
    for _ in range(300):  # start-up under valgrind takes a while
        if server.poll() is not None:
            raise SystemExit("the service exited while starting")
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            return
        except httpx.HTTPError:
            time.sleep(1)
    raise SystemExit("the service did not start")


def callgrind(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("candidate", choices=["rest", "graphql"])
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    url = asyncio.run(create_database())
    out = Path(tempfile.mkdtemp()) / "callgrind.out"
    try:
        key = provision(url)
        port = free_port()
        serve = [sys.executable, "-m", "chats_api.cli", "serve", "--port", str(port)]
        server = subprocess.Popen(
            [*VALGRIND, f"--callgrind-out-file={out}", *serve],
            cwd=REPO,
            env={**os.environ, "DATABASE_URL": url, **SERVICE_SETTINGS, "PYTHONHASHSEED": "0"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_up(port, server)
            callgrind(server.pid, "--instr=on")
            asyncio.run(drive(port, args.candidate, key, WARM_UP))
            callgrind(server.pid, "--zero")
            asyncio.run(drive(port, args.candidate, key, args.requests))
            callgrind(server.pid, "--dump")
        finally:
            server.terminate()
            server.wait(timeout=60)
    finally:
        asyncio.run(drop_database(url))
    dump = max(out.parent.glob(f"{out.name}.*"), key=lambda path: path.stat().st_mtime)
    found = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(), re.MULTILINE)
    if found is None:
        raise SystemExit(f"no total in {dump}")
    per_request = int(found.group(1)) / args.requests
    print(f"{args.candidate}: {per_request / 1000:,.0f}k instructions a request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Profile one candidate under load: `python -m bench.profile rest|graphql [--seconds 10]`.

Runs the service under py-spy (`pip install -e '.[bench]'`), with the settings `bench.run` gives
it (the defaults, access line on), while wrk drives it with 16 connections, then prints where the
server's time went, by package and by function.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run import (
    CANDIDATES,
    REPO,
    SERVICE_SETTINGS,
    create_database,
    drop_database,
    free_port,
    provision,
)

PACKAGES = (
    "asyncpg",
    "strawberry",
    "graphql",
    "piccolo",
    "uvicorn",
    "starlette",
    "httptools",
    "uvloop",
    "orjson",
    "limits",
    "cachetools",
    "asyncio",
)


OWN = ("resolvers/", "db/", "rest/", "schema/", "chats_api/")


def package_of(frame: str) -> str:
    location = frame.rsplit("(", 1)[-1]
    if location.startswith(OWN):
        return "chats-api"
    for package in PACKAGES:
        if f"/{package}/" in location or location.startswith(f"{package}/"):
            return package
    return "python (other)"


def summarise(raw: Path, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    functions: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if "select" in frames[-1] and ("selectors" in frames[-1] or "uvloop" in frames[-1]):
            continue  # idle, waiting for the network
        if any(frame.startswith("_find_and_load ") for frame in frames):
            continue  # start-up: importing, not serving
        total += int(count)
        own[package_of(frames[-1])] += int(count)
        functions[re.sub(r" \(/.*/", " (", frames[-1])] += int(count)
    lines = [f"busy samples: {total}", "", "| package (self time) | share |", "|---|---:|"]
    lines += [f"| {name} | {100 * n / total:.0f} % |" for name, n in own.most_common()]
    lines += ["", "| function (self time) | share |", "|---|---:|"]
    lines += [f"| `{name}` | {100 * n / total:.1f} % |" for name, n in functions.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("candidate", choices=["rest", "graphql"])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    url = asyncio.run(create_database())
    raw = Path(tempfile.mkdtemp()) / "profile.txt"
    try:
        key = provision(url)
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, **SERVICE_SETTINGS}
        profiler = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "-f",
                "raw",
                "-o",
                str(raw),
                "-d",
                str(args.seconds + 3),
                "--",
                sys.executable,
                "-m",
                "chats_api.cli",
                "serve",
                "--port",
                str(port),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(3)
        path, body = CANDIDATES[args.candidate]
        subprocess.run(
            [
                "wrk",
                "-t1",
                "-c16",
                f"-d{args.seconds}s",
                "-s",
                str(REPO / "bench" / "create.lua"),
                f"http://127.0.0.1:{port}",
            ],
            env={**os.environ, "BENCH_PATH": path, "BENCH_BODY": body, "BENCH_KEY": key},
            check=True,
            capture_output=True,
        )
        profiler.wait(timeout=60)
    finally:
        asyncio.run(drop_database(url))
    print(summarise(raw, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Live events: what the event log costs the create rate, and how fast events reach many
subscribers on each transport.

    python -m bench.events [--duration 10] [--rounds 2] [--connections 16,64] [--workers 2]
                           [--rate 5] [--subscribers 1000] [--only create|delivery]

Three measurements in one run, on a fresh database:

- **the database alone** (`pgbench`, prepared, `-j 2`): the service's own one-statement create
  (a session and a chat in one CTE) as written without an event, with the event as `pg_notify`
  sent it until the log (`RETURNING pg_notify(...)`), and with the event as the log's row
  (`chat_events`), one listener connected, interleaved;
- **the service** (`chats-api serve --workers N`, default settings and access line on, the rate
  limit off): `POST /api/chats` by wrk with hints through NOTIFY (no `REDIS_URL`) and through
  Redis (`REDIS_URL`), each server with a subscriber of another account connected;
- **delivery** (`bench.delivery`): 1,000 subscribers of one account over graphql-transport-ws,
  Server-Sent Events and multipart HTTP in turn, on a service of N workers with Redis, while a
  writer creates `--rate` chats a second: events delivered per second, and the time from a chat's
  write to its delivery. MAX_SOCKETS_PER_CALLER is raised to let one account hold them all.

Needs wrk and pgbench (Debian: `apt-get install wrk postgresql-client`), PostgreSQL
(BENCH_DATABASE_URL) and Redis (BENCH_REDIS_URL, default the local one's database 14).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import asyncpg
from websockets.sync.client import connect

from bench.delivery import SUBSCRIBERS, measure_delivery
from bench.run import (
    Measurement,
    cli,
    count_chats,
    create_database,
    drop_database,
    measure,
    median,
    provision,
    server,
    verdict,
)

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
# What the service writes on PostgreSQL for one create (db/queries.py), with pgbench's variables.
CREATE = """\
WITH session AS (
    INSERT INTO sessions (id, account_id, artist_id, created_at)
    VALUES (gen_random_uuid(), :account::uuid, NULL, now()) RETURNING id
)
INSERT INTO chats (id, session_id, account_id, title, created_at, updated_at)
SELECT gen_random_uuid(), id, :account::uuid, 'bench', now(), now() FROM session"""
# An event as large as the service's (about 300 bytes).
PAYLOAD = json.dumps({"type": "CREATED", "chat": {"id": "0" * 36, "title": "bench" * 40}})
LOGGED = CREATE.replace(
    "\nINSERT INTO chats",
    "\n, event AS (INSERT INTO chat_events (account_id, chat_id, type, payload, created_at)"
    f" VALUES (:account::uuid, gen_random_uuid(), 'CREATED', '{PAYLOAD}', now()))"
    "\nINSERT INTO chats",
)
SCRIPTS = {
    "no event": CREATE + ";\n",
    "pg_notify": CREATE + f" RETURNING pg_notify('chat_events', '{PAYLOAD}');\n",
    "log row": LOGGED + ";\n",
}


def pgbench(url: str, script: Path, account: str, clients: int, duration: int) -> float:
    result = subprocess.run(
        [
            *("pgbench", "-n", "-M", "prepared", "-j", "2", f"-c{clients}", f"-T{duration}"),
            *("-D", f"account={account}", "-f", str(script), url),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"tps = ([\d.]+)", result.stdout)
    assert match, result.stdout
    return float(match.group(1))


@contextmanager
def listening(url: str) -> Iterator[None]:
    """A connection LISTENing on the events' channel for the block, as each worker's is."""
    ready, done = threading.Event(), threading.Event()

    async def listen() -> None:
        connection = await asyncpg.connect(url)
        await connection.add_listener("chat_events", lambda *_: None)
        ready.set()
        await asyncio.to_thread(done.wait)
        await connection.close()

    thread = threading.Thread(target=asyncio.run, args=(listen(),))
    thread.start()
    ready.wait(10)
    try:
        yield
    finally:
        done.set()
        thread.join()


@contextmanager
def subscribed(base: str, key: str) -> Iterator[None]:
    """A graphql-ws subscriber of `key`'s account, held open for the block."""
    url = base.replace("http://", "ws://") + "/graphql"
    with connect(url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        socket.send(json.dumps({"type": "connection_init", "payload": {"x-api-key": key}}))
        assert json.loads(socket.recv(10))["type"] == "connection_ack"
        query = "subscription { chatEvents { type } }"
        socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        yield


def database_alone(
    url: str, account: str, connections: list[int], rounds: int, duration: int
) -> dict[tuple[str, int], list[float]]:
    folder = Path(tempfile.mkdtemp(prefix="chats_pgbench_"))
    tps: dict[tuple[str, int], list[float]] = {}
    try:
        with listening(url):
            for round_number in range(1, rounds + 1):
                for clients in connections:
                    for name, sql in SCRIPTS.items():
                        script = folder / f"{name.replace(' ', '_')}.sql"
                        script.write_text(sql)
                        figure = pgbench(url, script, account, clients, duration)
                        tps.setdefault((name, clients), []).append(figure)
                        print(
                            f"  pgbench {name:17} c={clients:3} r={round_number} {figure:8.0f} tps",
                            file=sys.stderr,
                        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return tps


def the_service(
    url: str, key: str, other_key: str, connections: list[int], args: argparse.Namespace
) -> list[Measurement]:
    env = {"DATABASE_URL": url, "RATE_LIMIT": ""}
    transports = {"notify": env, "redis": {**env, "REDIS_URL": REDIS_URL}}
    command = [sys.executable, "-m", "chats_api.cli", "serve", "--workers", str(args.workers)]
    results: list[Measurement] = []
    with ExitStack() as stack:
        servers = {}
        for name, transport_env in transports.items():
            pid, base = stack.enter_context(server(command, transport_env))
            stack.enter_context(subscribed(base, other_key))
            servers[name] = (pid, base)
        order = list(servers)
        for round_number in range(1, args.rounds + 1):
            for clients in connections:
                for name in order:
                    pid, base = servers[name]
                    m = measure(
                        pid, base, "rest", key, clients, args.duration, args.workers, round_number
                    )
                    results.append(replace(m, candidate=name))
                    print(
                        f"  service {name:6} c={clients:3} r={round_number}"
                        f" {m.rps:8.0f} req/s  p99 {m.p99_ms:6.2f} ms",
                        file=sys.stderr,
                    )
            order.reverse()
    return results


def delivery(url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    account = cli(url, "accounts", "create", "--name", "delivery")
    key = cli(url, "keys", "create", "--account", account)
    env = {
        "DATABASE_URL": url,
        "RATE_LIMIT": "",
        "REDIS_URL": REDIS_URL,
        "MAX_SOCKETS_PER_CALLER": str(2 * args.subscribers),
    }
    command = [sys.executable, "-m", "chats_api.cli", "serve", "--workers", str(args.workers)]
    figures = {}
    for transport in ("websocket", "sse", "multipart"):
        with server(command, env) as (_, base):
            figures[transport] = measure_delivery(
                base, key, transport, args.rate, args.duration, args.subscribers
            )
        print(f"  delivery {transport:9} {figures[transport]}", file=sys.stderr)
    return figures


def report(
    tps: dict[tuple[str, int], list[float]],
    results: list[Measurement],
    figures: dict[str, dict[str, float]],
    connections: list[int],
    args: argparse.Namespace,
) -> None:
    if tps:
        print(
            f"\nthe database alone (pgbench, medians of {args.rounds} x {args.duration} s, tps):\n"
        )
        print("| clients | no event | pg_notify | log row | pg_notify / none | log row / none |")
        print("|---:|---:|---:|---:|---:|---:|")
        for clients in connections:
            none, notify, logged = (median(tps[(name, clients)]) for name in SCRIPTS)
            print(
                f"| {clients} | {none:,.0f} | {notify:,.0f} | {logged:,.0f}"
                f" | {notify / none:.2f}x | {logged / none:.2f}x |"
            )
    if results:
        print(f"\nthe service, {args.workers} workers, REST creates (medians, req/s):\n")
        print("| connections | hints through | req/s | p99 ms | CPU ms/req |")
        print("|---:|---|---:|---:|---:|")
        for clients in connections:
            for name in ("notify", "redis"):
                group = [m for m in results if m.candidate == name and m.connections == clients]
                rps = median([m.rps for m in group])
                p99 = median([m.p99_ms for m in group])
                cpu = median([m.cpu_ms_per_request for m in group])
                print(f"| {clients} | {name} | {rps:,.0f} | {p99:.1f} | {cpu:.3f} |")
    if figures:
        setup = f"{args.workers} workers, Redis, {args.rate} chats/s"
        print(f"\n{args.subscribers:,} subscribers, {setup}:\n")
        print(
            "| transport | delivered | events/s | write to delivery p50 ms | p99 ms | x WebSocket |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for transport, f in figures.items():
            ratio = f["per_second"] / figures["websocket"]["per_second"]
            latency = f"{f['p50_ms']:.1f} | {f['p99_ms']:.1f}"
            print(
                f"| {transport} | {f['delivered']:,.0f} of {f['expected']:,.0f}"
                f" | {f['per_second']:,.0f} | {latency} | {ratio:.2f}x |"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=5.0, help="chats a second while delivering")
    parser.add_argument("--subscribers", type=int, default=SUBSCRIBERS)
    parser.add_argument("--only", choices=("create", "delivery"))
    args = parser.parse_args(argv)
    for tool in ("wrk", "pgbench"):
        if shutil.which(tool) is None:
            print(f"bench: {tool} is needed", file=sys.stderr)
            return 2
    connections = [int(c) for c in args.connections.split(",")]
    url = asyncio.run(create_database())
    tps: dict[tuple[str, int], list[float]] = {}
    results: list[Measurement] = []
    figures: dict[str, dict[str, float]] = {}
    try:
        key = provision(url)
        if args.only != "delivery":
            account = cli(url, "accounts", "create", "--name", "pgbench")
            other = cli(url, "accounts", "create", "--name", "subscriber")
            other_key = cli(url, "keys", "create", "--account", other)
            tps = database_alone(url, account, connections, args.rounds, args.duration)
            results = the_service(url, key, other_key, connections, args)
        if args.only != "create":
            figures = delivery(url, args)
        stored = asyncio.run(count_chats(url))
    finally:
        asyncio.run(drop_database(url))
    report(tps, results, figures, connections, args)
    lost = any(f["delivered"] < f["expected"] for f in figures.values())
    return verdict(results, stored, "pgbench's and delivery's included") or int(lost)


if __name__ == "__main__":
    raise SystemExit(main())

"""Growth: createChat throughput and listing latency with 1,000,000 chats already stored.

    python -m bench.growth [--chats 1000000] [--accounts 10000] [--duration 10]

Measures REST createChat (16 connections) on the empty database, loads `--chats` chats spread over
`--accounts` accounts (time-ordered UUIDv7 ids, as the service makes them), measures again, then
measures listing one account's newest 20 chats and the next page with a single client.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime

import asyncpg
import httpx

from bench.run import REPO, SERVICE_SETTINGS, cli, create_database, drop_database, server, wrk

# A UUIDv7 made in SQL from a timestamp: 48 bits of milliseconds, version 7, variant, random bits.
UUID7 = (
    "(lpad(to_hex((extract(epoch from {t}) * 1000)::bigint), 12, '0') || '7'"
    " || substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid"
)
LOAD = f"""
INSERT INTO accounts (id, name, kind, created_at)
SELECT {UUID7.format(t="now() - interval '400 days'")}, 'account ' || n, 'user', now()
FROM generate_series(1, $1) AS n;

CREATE TEMP TABLE bench_accounts AS
SELECT id, row_number() OVER () AS n FROM accounts WHERE name LIKE 'account %';

CREATE TEMP TABLE bench_chats AS
SELECT {UUID7.format(t="t")} AS session_id, {UUID7.format(t="t")} AS chat_id, a.id AS account_id, t
FROM (
    SELECT n, now() - (n || ' seconds')::interval AS t, 1 + (n % $1) AS account_n
    FROM generate_series(1, $2) AS n
) AS g JOIN bench_accounts a ON a.n = g.account_n;

INSERT INTO sessions (id, account_id, artist_id, created_at)
SELECT session_id, account_id, NULL, t FROM bench_chats;

INSERT INTO chats (id, session_id, account_id, title, created_at, updated_at)
SELECT chat_id, session_id, account_id, 'loaded', t, t FROM bench_chats;
"""


async def load(url: str, accounts: int, chats: int) -> float:
    connection = await asyncpg.connect(url)
    started = time.monotonic()
    # Statements one by one: asyncpg runs a multi-statement string only without arguments.
    for statement in LOAD.split(";\n"):
        if statement.strip():
            arguments = [a for a, name in ((accounts, "$1"), (chats, "$2")) if name in statement]
            await connection.execute(statement, *arguments)
    # Measure the steady state, not the aftermath of a bulk load: vacuum, then flush to disk.
    await connection.execute("VACUUM ANALYZE")
    await connection.execute("CHECKPOINT")
    elapsed = time.monotonic() - started
    await connection.close()
    return elapsed


def list_latency(base: str, key: str, duration: int) -> dict[str, dict[str, int]]:
    """One client: the newest 20 chats of an account with 100, then the next page."""
    first = httpx.get(f"{base}/api/chats", params={"limit": 20}, headers={"x-api-key": key})
    first.raise_for_status()
    cursor = first.json()["nextCursor"]
    assert cursor is not None
    results = {}
    for name, path in (
        ("first page", "/api/chats?limit=20"),
        ("next page", f"/api/chats?limit=20&cursor={cursor}"),
    ):
        output = subprocess.run(
            ["wrk", "-t1", "-c1", f"-d{duration}s", "-s", str(REPO / "bench" / "list.lua"), base],
            env={"BENCH_PATH": path, "BENCH_KEY": key, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        results[name] = {
            name: int(value)
            for name, value in (
                line.split()
                for line in output.splitlines()
                if line[:1].isupper() and len(line.split()) == 2 and line.split()[1].isdigit()
            )
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__)
    parser.add_argument("--chats", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=10)
    args = parser.parse_args()
    url = asyncio.run(create_database())
    try:
        cli(url, "migrate")
        env = {"DATABASE_URL": url, **SERVICE_SETTINGS}
        service = [sys.executable, "-m", "chats_api.cli", "serve"]
        writer = cli(
            url, "keys", "create", "--account", cli(url, "accounts", "create", "--name", "w")
        )

        def create_rps() -> float:
            with server(service, env) as (_, base):
                wrk(base, "rest", writer, 16, 2)
                figures = wrk(base, "rest", writer, 16, args.duration)
            assert figures["FAILURES"] == 0
            duration: int = args.duration
            return figures["REQUESTS"] / duration

        empty = create_rps()
        seconds = asyncio.run(load(url, args.accounts, args.chats))
        loaded = create_rps()
        reader_account = asyncio.run(first_loaded_account(url))
        reader = cli(url, "keys", "create", "--account", reader_account)
        with server(service, env) as (_, base):
            listing = list_latency(base, reader, args.duration)
        total = asyncio.run(count(url))
    finally:
        asyncio.run(drop_database(url))

    print(
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {total:,} chats after the run;"
        f" loaded {args.chats:,} chats over {args.accounts:,} accounts in {seconds:.0f} s"
    )
    print("| measure | value |")
    print("|---|---:|")
    print(f"| createChat (REST, 16 connections), empty database | {empty:,.0f} req/s |")
    print(
        f"| createChat (REST, 16 connections), {args.chats:,} chats stored | {loaded:,.0f} req/s"
        f" ({loaded / empty:.0%} of empty) |"
    )
    for name, figures in listing.items():
        print(
            f"| list newest 20 ({name}), one client: p50 / p99 |"
            f" {figures['P50_US'] / 1000:.2f} ms / {figures['P99_US'] / 1000:.2f} ms |"
        )
    failures = sum(f["FAILURES"] for f in listing.values())
    return 1 if failures or loaded < 0.9 * empty else 0


async def first_loaded_account(url: str) -> str:
    connection = await asyncpg.connect(url)
    account = await connection.fetchval("SELECT id FROM accounts WHERE name = 'account 1'")
    await connection.close()
    return str(account)


async def count(url: str) -> int:
    connection = await asyncpg.connect(url)
    total = await connection.fetchval("SELECT count(*) FROM chats")
    await connection.close()
    return int(total)


if __name__ == "__main__":
    raise SystemExit(main())

"""Replies streamed while they are written: how many chunks the service acknowledges per second,
and how soon a frontend on another process sees each one.

    python -m bench.replies [--duration 10] [--agents 8] [--chunks 200] [--connections 16]

On a fresh PostgreSQL database, for events through NOTIFY (no `REDIS_URL`) and through Redis:

- two `chats-api serve` processes (default settings, access line on, the rate limit off): the
  agents write to one, the subscribers read from the other, so that every chunk crosses processes;
- `--agents` agents, each in a chat of its own, stream replies of `--chunks` chunks at full speed
  (the next append as soon as the last is acknowledged), for `--duration` seconds, while one
  Server-Sent Events subscriber per chat reads them;
- then `sendMessage` against `createChat` by wrk, on both protocols, in the same run.

Reports chunks acknowledged per second, and the latency from an append's acknowledgement (as the
agent sees it) to its delivery to the subscriber (p50, p99; a delivery that arrives before the
agent's acknowledgement counts as 0). Needs wrk, PostgreSQL (BENCH_DATABASE_URL) and Redis
(BENCH_REDIS_URL, default the local one's database 14).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from contextlib import ExitStack

import httpx

from bench.run import (
    cpu_seconds,
    create_database,
    drop_database,
    provision,
    server,
    wrk_post,
    wrk_script,
)

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
SETTINGS = {"RATE_LIMIT": "", "LOG_LEVEL": "INFO"}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


async def run_agents(
    writer: str, reader: str, key: str, agents: int, chunks: int, duration: float
) -> dict[str, float]:
    acked: dict[tuple[str, int, int], float] = {}
    delivered: dict[tuple[str, int, int], float] = {}
    headers = {"x-api-key": key}
    limits = httpx.Limits(max_connections=agents * 2 + 4)
    async with (
        httpx.AsyncClient(base_url=writer, headers=headers, limits=limits, timeout=30) as write,
        httpx.AsyncClient(base_url=reader, headers=headers, limits=limits, timeout=None) as read,
    ):
        chats = []
        for _ in range(agents):
            chat = (await write.post("/api/chats", json={"topic": "bench"})).json()["chat"]["id"]
            cursor = (await write.get(f"/api/chats/{chat}/messages")).json()["cursor"]
            chats.append((chat, cursor))
        replies: dict[str, int] = {}  # message id -> reply number in its chat
        stop = time.monotonic() + duration

        async def subscribe(chat: str, cursor: str) -> None:
            url = f"/api/chats/{chat}/stream?after={cursor}"
            async with read.stream("GET", url) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        event = json.loads(line[6:])
                        if event["type"] == "chunk":
                            chunk = event["chunk"]
                            number = replies.get(chunk["messageId"], -1)
                            delivered[(chat, number, chunk["index"])] = time.monotonic()

        async def agent(chat: str) -> None:
            number = 0
            while time.monotonic() < stop:
                started = await write.post(f"/api/chats/{chat}/replies", json={})
                reply = started.json()["message"]["id"]
                replies[reply] = number
                for index in range(chunks):
                    answer = await write.post(
                        f"/api/chats/{chat}/replies/{reply}/chunks",
                        json={"index": index, "parts": [{"type": "text", "text": "tok "}]},
                    )
                    assert answer.status_code == 200, answer.text
                    acked[(chat, number, index)] = time.monotonic()
                    if time.monotonic() >= stop:
                        break
                await write.post(f"/api/chats/{chat}/replies/{reply}/finish")
                number += 1

        readers = [asyncio.create_task(subscribe(chat, cursor)) for chat, cursor in chats]
        await asyncio.sleep(0.5)  # every subscriber connected
        began, client_cpu = time.monotonic(), time.process_time()
        await asyncio.gather(*(agent(chat) for chat, _ in chats))
        elapsed, client_cpu = time.monotonic() - began, time.process_time() - client_cpu
        await asyncio.sleep(1.0)  # the last deliveries
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    latencies = [max(0.0, delivered[k] - acked[k]) * 1000 for k in acked if k in delivered]
    return {
        "chunks_per_s": len(acked) / elapsed,
        "delivered_share": len(latencies) / max(len(acked), 1),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        # This process's own CPU (agents and subscribers) over the wall time: near 1.0, the
        # benchmark's client is what limits the rate, not the service.
        "client_busy": client_cpu / elapsed,
    }


async def full_speed(
    writer: str, reader: str, key: str, agents: int, duration: int
) -> dict[str, float]:
    """Agents as a wrk script (one connection each, the next chunk as soon as the last is
    acknowledged), subscribers as SSE clients on the reader: acknowledged chunks/s, and the share
    of them delivered."""
    received = 0
    async with httpx.AsyncClient(base_url=writer, headers={"x-api-key": key}) as client:
        chats, paths = [], []
        for _ in range(agents):
            chat = (await client.post("/api/chats", json={})).json()["chat"]["id"]
            cursor = (await client.get(f"/api/chats/{chat}/messages")).json()["cursor"]
            reply = (await client.post(f"/api/chats/{chat}/replies", json={})).json()
            chats.append((chat, cursor))
            paths.append(f"/api/chats/{chat}/replies/{reply['message']['id']}/chunks")

    async def subscribe(read: httpx.AsyncClient, chat: str, cursor: str) -> None:
        nonlocal received
        async with read.stream("GET", f"/api/chats/{chat}/stream?after={cursor}") as response:
            async for line in response.aiter_lines():
                if line.startswith("event: chunk"):
                    received += 1

    async with httpx.AsyncClient(base_url=reader, headers={"x-api-key": key}, timeout=None) as read:
        tasks = [asyncio.create_task(subscribe(read, chat, cursor)) for chat, cursor in chats]
        await asyncio.sleep(0.5)
        figures = await asyncio.to_thread(
            wrk_script,
            writer,
            "chunks.lua",
            {"BENCH_KEY": key, "BENCH_PATHS": "\n".join(paths)},
            agents,
            duration,
        )
        await asyncio.sleep(1.0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    acknowledged = figures["REQUESTS"] - figures["FAILURES"]
    assert figures["FAILURES"] == 0, figures
    return {
        "chunks_per_s": acknowledged / duration,
        "delivered_share": received / max(acknowledged, 1),
        "p99_ack_ms": figures["P99_US"] / 1000,
    }


def send_against_create(base: str, key: str, connections: int, duration: int) -> dict[str, float]:
    """req/s of sendMessage and createChat on both protocols, one after the other. Each wrk
    connection sends in a chat of its own, as each user writes in their own chat (the writes of
    one chat are ordered one after the other, by design)."""
    chats = [
        httpx.post(f"{base}/api/chats", json={}, headers={"x-api-key": key}).json()["chat"]["id"]
        for _ in range(4 * connections)
    ]
    parts = [{"type": "text", "text": "bench"}]
    message = json.dumps({"parts": parts})
    send = "mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id } } }"
    create_gql = json.dumps(
        {"query": 'mutation { createChat(input: {topic: "bench"}) { chat { id } } }'}
    )
    cases: dict[str, tuple[str, str, list[tuple[str, str]] | None]] = {
        "rest createChat": ("/api/chats", '{"topic": "bench"}', None),
        "rest sendMessage": ("", "", [(f"/api/chats/{c}/messages", message) for c in chats]),
        "graphql createChat": ("/graphql", create_gql, None),
        "graphql sendMessage": (
            "",
            "",
            [
                (
                    "/graphql",
                    json.dumps(
                        {"query": send, "variables": {"input": {"chatId": c, "parts": parts}}}
                    ),
                )
                for c in chats
            ],
        ),
    }
    rates = {}
    for name, (path, body, turns) in cases.items():
        wrk_post(base, path, body, {"BENCH_KEY": key}, connections, 1, turns)  # warm-up
        figures = wrk_post(base, path, body, {"BENCH_KEY": key}, connections, duration, turns)
        assert figures["FAILURES"] == 0, (name, figures)
        rates[name] = figures["REQUESTS"] / duration
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replies", description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--transports", default="notify,redis")
    parser.add_argument("--workers", type=int, default=1, help="worker processes a server")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is needed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    url = asyncio.run(create_database())
    try:
        key = provision(url)
        for transport in args.transports.split(","):
            env = {"DATABASE_URL": url, **SETTINGS}
            if transport == "redis":
                env["REDIS_URL"] = REDIS_URL
            command = [
                sys.executable,
                "-m",
                "chats_api.cli",
                "serve",
                "--workers",
                str(args.workers),
            ]
            with ExitStack() as stack:
                writer_pid, writer = stack.enter_context(server(command, env))
                reader_pid, reader = stack.enter_context(server(command, env))
                before = cpu_seconds(writer_pid), cpu_seconds(reader_pid)
                figures = asyncio.run(
                    run_agents(writer, reader, key, args.agents, args.chunks, args.duration)
                )
                chunks = figures["chunks_per_s"] * args.duration
                cpu = [
                    1000 * (cpu_seconds(pid) - then) / chunks
                    for pid, then in zip((writer_pid, reader_pid), before, strict=True)
                ]
                print(
                    f"{transport}: {figures['chunks_per_s']:.0f} chunks/s acknowledged, "
                    f"{100 * figures['delivered_share']:.1f} % delivered, "
                    f"ack->delivery p50 {figures['p50_ms']:.1f} ms, "
                    f"p99 {figures['p99_ms']:.1f} ms; "
                    f"CPU a chunk: writer {cpu[0]:.2f} ms, reader {cpu[1]:.2f} ms; "
                    f"the client busy {100 * figures['client_busy']:.0f} % of the time",
                    flush=True,
                )
                fast = asyncio.run(full_speed(writer, reader, key, args.connections, args.duration))
                print(
                    f"{transport}: agents at full speed ({args.connections} wrk connections): "
                    f"{fast['chunks_per_s']:.0f} chunks/s acknowledged (p99 "
                    f"{fast['p99_ack_ms']:.1f} ms an append), "
                    f"{100 * fast['delivered_share']:.1f} % delivered to the other process",
                    flush=True,
                )
                rates = send_against_create(writer, key, args.connections, args.duration)
                for protocol in ("rest", "graphql"):
                    send = rates[f"{protocol} sendMessage"]
                    create = rates[f"{protocol} createChat"]
                    print(
                        f"{transport}: {protocol} sendMessage {send:.0f} req/s, createChat "
                        f"{create:.0f} req/s ({send / create:.2f}x)",
                        flush=True,
                    )
    finally:
        asyncio.run(drop_database(url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

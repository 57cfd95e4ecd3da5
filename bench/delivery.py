"""Chat events delivered to many subscribers, per transport: events delivered per second and the
time from a chat's write to its delivery (p50, p99), `SUBSCRIBERS` subscribers of one account on
a service of two workers, while a writer creates chats at a steady rate.

The subscribers are lean clients of this module's own (raw sockets, one asyncio loop in a process
of their own), so that the measure is the service's: graphql-transport-ws through `websockets`,
Server-Sent Events and multipart HTTP as HTTP/1.1 with chunked bodies read by hand. A delivery's
latency is its arrival time less the chat's `createdAt` (the service's clock, on this machine): it
includes the write's own commit.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import httpx
from websockets.asyncio.client import connect

SUBSCRIBERS = 1000
QUERY = "subscription { chatEvents { chat { createdAt } } }"
_CREATED_AT = re.compile(rb'"createdAt":"([^"]+)"')
ACCEPT = {
    "sse": "text/event-stream",
    "multipart": 'multipart/mixed;boundary="graphql";subscriptionSpec="1.0",application/json',
}


@dataclass
class Deliveries:
    """What arrived, and when; read once the run is over (parsing while it runs would be the
    clients' own delay, counted as the service's)."""

    arrivals: list[tuple[float, bytes]] = field(default_factory=list)
    ready: int = 0

    def heard(self, chunk: bytes) -> None:
        self.arrivals.append((time.time(), chunk))

    def latencies(self) -> tuple[list[float], float]:
        """Each delivery's latency, sorted, and the time from the first to the last."""
        latencies, times = [], []
        for arrived, chunk in self.arrivals:
            for match in _CREATED_AT.finditer(chunk):
                created = datetime.fromisoformat(match.group(1).decode().replace("Z", "+00:00"))
                latencies.append(arrived - created.timestamp())
                times.append(arrived)
        return sorted(latencies), (max(times) - min(times) if times else 0.0)

    def count(self) -> int:
        return sum(chunk.count(b'"createdAt"') for _, chunk in self.arrivals)


async def _websocket(base: str, key: str, deliveries: Deliveries) -> None:
    url = base.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"], max_queue=None) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": {"x-api-key": key}}))
        await socket.recv()
        message = {"id": "1", "type": "subscribe", "payload": {"query": QUERY}}
        await socket.send(json.dumps(message))
        deliveries.ready += 1
        async for raw in socket:  # until the run cancels it
            deliveries.heard(raw if isinstance(raw, bytes) else raw.encode())


async def _http(base: str, key: str, transport: str, deliveries: Deliveries) -> None:
    """A streamed POST over a raw connection, its chunked body read chunk by chunk."""
    parts = urlsplit(base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    body = json.dumps({"query": QUERY}).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nhost: {parts.netloc}\r\nx-api-key: {key}\r\n"
        f"accept: {ACCEPT[transport]}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    status = await reader.readline()
    assert b" 200 " in status, status
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    deliveries.ready += 1
    try:
        while True:  # until the run cancels it
            size = int((await reader.readline()).strip() or b"0", 16)
            deliveries.heard(await reader.readexactly(size + 2))
    finally:
        writer.close()


async def _write(base: str, key: str, rate: float, seconds: float) -> int:
    async with httpx.AsyncClient(base_url=base, headers={"x-api-key": key}) as client:
        created = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            answer = await client.post("/api/chats", json={"topic": "delivery"})
            assert answer.status_code == 200, answer.text
            created += 1
            await asyncio.sleep(max(0.0, started + created / rate - time.monotonic()))
        return created


async def _measure(
    base: str, key: str, transport: str, rate: float, seconds: float, subscribers: int
) -> dict[str, float]:
    deliveries = Deliveries()
    if transport == "websocket":
        clients = [_websocket(base, key, deliveries) for _ in range(subscribers)]
    else:
        clients = [_http(base, key, transport, deliveries) for _ in range(subscribers)]
    tasks = []
    for client in clients:  # connected a few at a time, as pages open
        tasks.append(asyncio.create_task(client))
        await asyncio.sleep(0.002)
    while deliveries.ready < subscribers:  # noqa: ASYNC110  counted by many clients
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    created = await _write(base, key, rate, seconds)
    expected = created * subscribers
    deadline = time.monotonic() + 30
    while deliveries.count() < expected and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.5)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies, span = deliveries.latencies()
    span = max(span, 1e-9)
    return {
        "created": created,
        "delivered": len(latencies),
        "expected": expected,
        "per_second": len(latencies) / span,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
    }


def measure_delivery(
    base: str, key: str, transport: str, rate: float, seconds: float, subscribers: int
) -> dict[str, float]:
    """One transport's figures; every expected delivery counted (a shortfall shows)."""
    return asyncio.run(_measure(base, key, transport, rate, seconds, subscribers))

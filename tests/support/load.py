"""Steady load from several clients, every answer and its time kept."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx


async def create(client: httpx.AsyncClient, base: str, key: str) -> httpx.Response:
    """A create with a chatId of its own: a request sent again is a retry, not a second chat."""
    return await client.post(
        f"{base}/api/chats", headers={"x-api-key": key}, json={"chatId": str(uuid.uuid4())}
    )


class Load:
    """`clients` clients creating chats against `base` until the block ends."""

    def __init__(self, base: str, key: str, clients: int = 4) -> None:
        self.base, self.key, self.clients = base, key, clients
        self.answers: list[tuple[int, float]] = []  # status (0: no answer), seconds
        self.acknowledged: set[str] = set()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Load:
        self._tasks = [asyncio.create_task(self._client()) for _ in range(self.clients)]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    @property
    def failed(self) -> list[int]:
        return [status for status, _ in self.answers if status != 200]

    @property
    def slowest(self) -> float:
        return max(seconds for _, seconds in self.answers)

    async def _client(self) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = await create(client, self.base, self.key)
                except httpx.TransportError:
                    self.answers.append((0, time.monotonic() - started))
                    continue
                self.answers.append((response.status_code, time.monotonic() - started))
                if response.status_code == 200:
                    self.acknowledged.add(response.json()["chat"]["id"])

"""Steady load from several clients, every answer kept with when it started and how long it took."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import httpx


async def create(
    client: httpx.AsyncClient, base: str, key: str, chat_id: str | None = None
) -> httpx.Response:
    """A create with a chatId of its own: a request sent again is a retry, not a second chat."""
    return await client.post(
        f"{base}/api/chats",
        headers={"x-api-key": key},
        json={"chatId": chat_id or str(uuid.uuid4())},
    )


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer (the connection failed or was dropped)
    started: float  # time.monotonic()
    seconds: float
    retry_after: str | None
    chat_id: str


# Each client waits this long after an answer before its next create: the load of busy users
# (~35 creates a second per client), not a closed loop at full speed. A closed loop saturates the
# server and the test's own event loop (which also runs the fault's proxy), so an answer's time
# would measure CPU queueing behind three other fault tests on two cores, not what the fault did.
PAUSE_SECONDS = 0.025


class Load:
    """`clients` clients creating chats against `base` until the block ends (or `stop()`)."""

    def __init__(self, base: str, key: str, clients: int = 4) -> None:
        self.base, self.key, self.clients = base, key, clients
        self.answers: list[Answer] = []
        self.acknowledged: set[str] = set()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Load:
        self._tasks = [asyncio.create_task(self._client()) for _ in range(self.clients)]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()
        await asyncio.gather(*self._tasks)

    def stop(self) -> None:
        """No new requests; those in flight still finish."""
        self._stop.set()

    @property
    def failed(self) -> list[int]:
        return [answer.status for answer in self.answers if answer.status != 200]

    @property
    def slowest(self) -> float:
        return max(answer.seconds for answer in self.answers)

    async def _client(self) -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            while not self._stop.is_set():
                started, chat_id = time.monotonic(), str(uuid.uuid4())
                try:
                    response = await create(client, self.base, self.key, chat_id)
                except httpx.TransportError:
                    seconds = time.monotonic() - started
                    self.answers.append(Answer(0, started, seconds, None, chat_id))
                    await asyncio.sleep(0.05)
                    continue
                seconds = time.monotonic() - started
                retry_after = response.headers.get("retry-after")
                answer = Answer(response.status_code, started, seconds, retry_after, chat_id)
                self.answers.append(answer)
                if response.status_code == 200:
                    self.acknowledged.add(response.json()["chat"]["id"])
                await asyncio.sleep(PAUSE_SECONDS)

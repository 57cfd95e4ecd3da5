"""Live events through Redis while Redis restarts and while it answers 300 ms late: two replicas,
four clients creating chats on one, a subscriber on each.

What the service promises (docs/operations.md, "Live events"): every create answers within its
deadline, whatever Redis does; Redis carries hints only, the log is the record, so no stream ends
for Redis's faults, and each hears every event once.
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.databases import Database
from tests.support.load import Load
from tests.support.proxy import TcpProxy
from tests.support.redis import RedisServer, redis_behind_proxy
from tests.support.servers import provision, serving
from tests.support.ws import GraphQLSocket, graphql_socket

# Timing matters here (Redis's deadline against its delay): the serial phase.
pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.serial]


@dataclass
class Stream:
    """One subscription, from when it was sent to how it ended."""

    started: float
    heard: list[str] = field(default_factory=list)
    ended: float | None = None
    code: str | None = None


class Subscriber:
    """A client that keeps one subscription to its account's events, and subscribes again (as
    Apollo's clients do) whenever its stream ends."""

    def __init__(self, base: str, key: str) -> None:
        self.base, self.key = base, key
        self.streams: list[Stream] = []

    async def run(self, stop: asyncio.Event) -> None:
        async with graphql_socket(self.base) as socket:
            assert (await socket.init({"x-api-key": self.key}))["type"] == "connection_ack"
            while not stop.is_set():
                stream = Stream(started=time.monotonic())
                self.streams.append(stream)
                await socket.subscribe()
                await self._follow(socket, stream, stop)
                if stream.ended is not None:
                    await asyncio.sleep(0.2)

    async def _follow(self, socket: GraphQLSocket, stream: Stream, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with asyncio.timeout(0.2):
                    raw = await socket.connection.recv()
            except TimeoutError:
                continue
            message = json.loads(raw)
            if message["type"] == "ping":
                await socket.connection.send(json.dumps({"type": "pong"}))
            elif message["type"] == "complete":
                stream.ended = stream.ended or time.monotonic()
                return
            elif errors := message["payload"].get("errors"):
                stream.ended = time.monotonic()
                stream.code = errors[0]["extensions"]["code"]
            else:
                stream.heard.append(message["payload"]["data"]["chatEvents"]["chat"]["id"])


def _lines(log: Path, text: str) -> int:
    return sum(text in line for line in log.read_text().splitlines())


@pytest.mark.serial(seconds=40)
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_redis_restarting_and_slow_while_chats_are_created_and_followed(
    database: Database, tmp_path: Path
) -> None:
    _, key = provision(database)
    redis_server, proxy, redis_url = await redis_behind_proxy()
    env = {"REDIS_URL": redis_url}
    logs = [tmp_path / "writing.log", tmp_path / "other.log"]
    stop = asyncio.Event()
    with ExitStack() as stack:
        stack.callback(redis_server.stop)
        outputs = [stack.enter_context(log.open("w")) for log in logs]
        writing = stack.enter_context(serving(database, env=env, output=outputs[0]))
        other = stack.enter_context(serving(database, env=env, output=outputs[1]))
        subscribers = [Subscriber(writing, key), Subscriber(other, key)]
        following = [asyncio.create_task(s.run(stop)) for s in subscribers]
        async with Load(writing, key, clients=4) as load:
            await _restarts_and_slowness(redis_server, proxy)
        await asyncio.sleep(1)  # the last events on their way
        stop.set()
        await asyncio.gather(*following)
        await proxy.stop()

    # Every create answered, within Redis's deadline (0.25 s) plus the database's work.
    assert len(load.answers) > 200
    assert load.failed == []
    assert load.slowest < 1.5, load.slowest
    # Nothing acknowledged is missing, nothing written twice.
    await database.assert_nothing_lost(load.acknowledged)
    assert (await database.counts())["chats"] == len(load.acknowledged)

    _assert_whole(subscribers, load)
    # One line when each outage begins and one when it ends, per process; the writing one saw
    # every fault.
    for log in logs:
        assert _lines(log, "redis unreachable") == _lines(log, "redis back after")
    assert _lines(logs[0], "redis unreachable") >= 4
    print(
        f"\nRedis restarted and slow: {len(load.answers)} creates, slowest {load.slowest:.2f} s;"
        f" streams per subscriber: {[len(s.streams) for s in subscribers]}"
    )


async def _restarts_and_slowness(redis_server: RedisServer, proxy: TcpProxy) -> None:
    """Three times: Redis stopped for 1.5 s and started again, then 300 ms late for 2 s."""
    await asyncio.sleep(2)
    for _ in range(3):
        redis_server.stop()
        await asyncio.sleep(1.5)
        redis_server.start()
        await asyncio.sleep(3)
        proxy.delay = 0.3
        await asyncio.sleep(2)
        proxy.delay = 0.0
        await asyncio.sleep(3)
    await asyncio.sleep(3)


def _assert_whole(subscribers: list[Subscriber], load: Load) -> None:
    acknowledged = sorted((answer.started, answer.chat_id) for answer in load.answers)
    for subscriber in subscribers:
        # One stream, never ended, whatever Redis did; every chat created once it was live,
        # heard once.
        [stream] = subscriber.streams
        assert stream.ended is None, stream.code
        assert len(stream.heard) == len(set(stream.heard)), "an event heard twice"
        expected = [chat for started, chat in acknowledged if started > stream.started + 0.5]
        assert len(expected) > 50
        assert set(expected) <= set(stream.heard)

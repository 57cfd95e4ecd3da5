"""Two replicas behind HAProxy, configured as docs/operations.md says: one drained under steady
load, then both restarted in turn, without a failed client request."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.databases import REPO, Database, unavailable
from tests.support.followers import Follower
from tests.support.load import Load, create
from tests.support.servers import free_port, provision, start_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.serial]
DOCUMENT = (REPO / "docs" / "operations.md").read_text()
DRAIN_SECONDS = "1"


def haproxy_config(frontend: int, replicas: tuple[int, int]) -> str:
    block = DOCUMENT.split("<!-- haproxy -->", 1)[1].split("<!-- /haproxy -->", 1)[0]
    config = block.split("```\n", 1)[1].rsplit("```", 1)[0]
    config = config.replace("127.0.0.1:8000", f"127.0.0.1:{frontend}")
    config = config.replace("127.0.0.1:8001", f"127.0.0.1:{replicas[0]}")
    return config.replace("127.0.0.1:8002", f"127.0.0.1:{replicas[1]}")


@contextmanager
def haproxy(config: str, directory: Path) -> Iterator[None]:
    executable = shutil.which("haproxy")
    if executable is None:
        reason = "Debian's haproxy is needed (apt-get install haproxy)"
        unavailable(reason)
    path = directory / "haproxy.cfg"
    path.write_text(config)
    check = subprocess.run([executable, "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    with (directory / "haproxy.log").open("w") as log:
        process = subprocess.Popen([executable, "-db", "-f", str(path)], stderr=log)
        try:
            yield
        finally:
            process.terminate()
            process.wait(timeout=10)


class Replica:
    def __init__(self, database: Database, port: int, env: dict[str, str]) -> None:
        self.database, self.port, self.env = database, port, env
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process, _ = start_server(self.database, port=self.port, env=self.env)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def terminate(self) -> None:
        """SIGTERM, as a process manager sends it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self) -> None:
        assert self.process is not None
        assert self.process.wait(timeout=20) in (0, -signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        self.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def wait_until_in_rotation(base: str, replicas: int = 2) -> None:
    """Until the load balancer has every replica up again (`rise 2` checks, 200 ms apart)."""
    await asyncio.sleep(1.0)
    async with httpx.AsyncClient() as client:
        for _ in range(50):
            if (await client.get(f"{base}/readyz")).status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("the load balancer has no replica up")


async def _rolling_restart(base: str, key: str, replicas: list[Replica]) -> tuple[Load, Follower]:
    """Both replicas restarted in turn under load, while a chats list follows the chats the
    load creates through the load balancer, resuming from its last cursor whenever a replica's
    drain ends its stream."""
    async with httpx.AsyncClient() as client:
        listed = await client.get(f"{base}/api/chats", headers={"x-api-key": key})
    follower = Follower(key, listed.json()["cursor"])
    following = asyncio.create_task(follower.follow(base, until=10**9))
    async with Load(base, key) as rolling:
        for replica in replicas:
            await asyncio.sleep(1)
            await asyncio.to_thread(replica.stop)
            await asyncio.to_thread(replica.start)
            await wait_until_in_rotation(base)
        await asyncio.sleep(1)
    async with asyncio.timeout(20):
        while len(follower.heard) < len(rolling.acknowledged):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # nothing more arrives
    following.cancel()
    await asyncio.gather(following, return_exceptions=True)
    return rolling, follower


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_drain_and_rolling_restart_lose_no_request(
    database: Database, redis_url: str, tmp_path: Path
) -> None:
    _, key = provision(database)
    frontend, ports = free_port(), (free_port(), free_port())
    env = {"REDIS_URL": redis_url, "DRAIN_SECONDS": DRAIN_SECONDS}
    replicas = [Replica(database, port, env) for port in ports]
    base = f"http://127.0.0.1:{frontend}"
    with ExitStack() as stack:
        for replica in replicas:
            stack.callback(replica.kill)
            replica.start()
        stack.enter_context(haproxy(haproxy_config(frontend, ports), tmp_path))
        await wait_until_in_rotation(base)

        async with Load(base, key) as drain, httpx.AsyncClient() as direct:
            await asyncio.sleep(1)
            started = time.monotonic()
            replicas[0].terminate()
            await asyncio.sleep(0.2)
            # Draining: out of the load balancer's rotation, still answering what reaches it.
            readiness = await direct.get(f"{replicas[0].base}/readyz")
            served = await create(direct, replicas[0].base, key)
            await asyncio.to_thread(replicas[0].wait)
            drained_in = time.monotonic() - started
            await asyncio.sleep(1)
        replicas[0].start()
        await wait_until_in_rotation(base)

        rolling, follower = await _rolling_restart(base, key, replicas)

    for load in (drain, rolling):
        assert len(load.answers) > 50
        assert load.failed == []
        await database.assert_nothing_lost(load.acknowledged)
    # Every chat of the rolling restart once, whichever replica served each stream.
    assert sorted(follower.ids()) == sorted(rolling.acknowledged)
    assert follower.ended == []
    assert readiness.status_code == 503
    assert readiness.json() == {"status": "error", "message": "Service temporarily unavailable"}
    assert served.status_code == 200
    # The drained replica kept serving for DRAIN_SECONDS, then shut down promptly.
    assert float(DRAIN_SECONDS) <= drained_in < float(DRAIN_SECONDS) + 5
    print(  # the closing note's figures come from here (pytest -s)
        f"drain: {len(drain.answers)} requests, {len(drain.failed)} failed,"
        f" slowest {drain.slowest:.3f} s; rolling restart: {len(rolling.answers)} requests,"
        f" {len(rolling.failed)} failed, slowest {rolling.slowest:.3f} s"
    )

"""Redis for the tests: the machine's, on a database number of the tests' own, and a redis-server
of a test's own that it may stop and start again (never the machine's)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import redis

from tests.support.proxy import TcpProxy
from tests.support.servers import free_port

# The tests' own database number on the machine's Redis, one per pytest-xdist worker (gw0 13,
# gw1 12, ...) so that tests running at once never flush each other's; flushed before each test
# that uses it. (Channels are not per database: each test's are its own accounts'.)
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{13 - _WORKER % 8}")


def redis_unreachable(url: str = TEST_REDIS_URL) -> str | None:
    """None when Redis answers, else why not."""
    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis at {url} is not reachable: {exc}"
    return None


def flush(url: str = TEST_REDIS_URL) -> None:
    redis.Redis.from_url(url).flushdb()


class RedisServer:
    """`redis-server` on a spare port, keeping nothing on disk; `stop` is Redis going down."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        executable = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while redis_unreachable(self.url) is not None:
            assert self.process.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


async def redis_behind_proxy() -> tuple[RedisServer, TcpProxy, str]:
    """A redis-server of the test's own, started, reached through a proxy of the test's (to
    stop, slow or silence what lies between the service and Redis), and the URL through it.
    The test stops both."""
    server = RedisServer()
    server.start()
    proxy = TcpProxy("127.0.0.1", server.port)
    await proxy.start()
    return server, proxy, f"redis://127.0.0.1:{proxy.port}/0"

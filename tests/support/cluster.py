"""A PostgreSQL cluster of a test's own, to restart or to fill up: `initdb` into a temporary
folder, `pg_ctl` on a spare port. The machine's server is never restarted."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.databases import Database, migrate
from tests.support.servers import free_port

BIN = Path(os.environ.get("PG_BIN", "")) if os.environ.get("PG_BIN") else None


def _bin(name: str) -> str:
    if BIN is not None:
        return str(BIN / name)
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    return shutil.which(name) or name


class Cluster:
    def __init__(self, max_connections: int = 40) -> None:
        # Not under pytest's temporary folder: PostgreSQL runs as `postgres`, which must own it.
        self.directory = Path(tempfile.mkdtemp(prefix="chats-cluster-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.max_connections = max_connections

    def _run(self, *command: str) -> None:
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ("runuser", "-u", "postgres", "--", *command)
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr

    def start(self) -> Database:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N")
        self._pg_ctl("start")
        self._run(
            _bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "chats"
        )
        database = Database("postgres", f"postgresql://postgres@127.0.0.1:{self.port}/chats")
        migrate(database.url)
        return database

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
            f" -c max_connections={self.max_connections} -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            _bin("pg_ctl"), action, "-D", str(self.data), "-o", options, "-w", "-t", "30",
            "-l", str(self.directory / "log"), *extra,
        )  # fmt: skip

    def restart(self) -> None:
        """As an operator or a failover does: fast shutdown (every backend ended), then start."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

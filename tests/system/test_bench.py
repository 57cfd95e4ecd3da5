"""A smoke run of the benchmark, so that the command keeps working (CI does not run it in full)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.support.databases import REPO, unavailable

pytestmark = pytest.mark.slow


@pytest.mark.usefixtures("postgres_database")
def test_bench_command_runs() -> None:
    if shutil.which("wrk") is None:
        unavailable("wrk is not installed (Debian: apt-get install wrk)")
    if not (REPO / "bench" / "postgraphile" / "node_modules" / ".bin" / "postgraphile").exists():
        unavailable("the peer is not installed (npm ci --prefix bench/postgraphile)")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--duration",
            "1",
            "--rounds",
            "1",
            "--connections",
            "4",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| 1 | 4 |")]
    candidates = [
        "floor",
        "postgraphile",
        "rest",
        "graphql",
        "graphql_trusted",
        "sqlite_rest",
        "rest_token",
        "graphql_token",
        "rest_traced",
        "graphql_traced",
    ]
    assert [line.split("|")[3].strip() for line in table[:-3]] == candidates
    assert table[-3].startswith("| 1 | 4 | tokens beside keys: rest_token ")
    assert table[-2].startswith("| 1 | 4 | by trusted id: graphql_trusted ")
    assert table[-1].startswith("| 1 | 4 | traces on: rest_traced ")
    assert "failures: 0" in result.stdout
    assert "traces exported to the receiver: 0 bytes" not in result.stdout


@pytest.mark.usefixtures("postgres_database")
def test_events_bench_command_runs(redis_url: str) -> None:
    if shutil.which("wrk") is None or shutil.which("pgbench") is None:
        unavailable("wrk and pgbench are needed (Debian: apt-get install wrk postgresql-client)")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "bench.events", "--duration", "1", "--rounds", "1"),
            *("--subscribers", "50"),
        ],
        cwd=REPO,
        env={**os.environ, "BENCH_REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith(("| 16 |", "| 64 |"))]
    # The database alone at 16 and 64 clients, then the service with each way of hinting.
    assert len(rows) == 6
    assert "failures: 0" in result.stdout
    # Delivery to the subscribers on each transport: every event to every one of them.
    delivered = [line for line in result.stdout.splitlines() if line.startswith("| websocket |")]
    delivered += [
        line for line in result.stdout.splitlines() if line.startswith(("| sse |", "| multipart |"))
    ]
    assert len(delivered) == 3
    for line in delivered:
        got, expected = line.split(" | ")[1].split(" of ")
        assert got == expected != "0", line

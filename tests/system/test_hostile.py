"""What a hostile client tries against a running server, and what it gets."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from chats_api.head_limits import HEAD_SECONDS
from chats_api.middleware import MAX_GRAPHQL_BODY_BYTES
from schema.gate import TOO_MANY_FIELDS
from tests.support.databases import Database
from tests.support.issuer import AUDIENCE, StandInIssuer
from tests.support.servers import provision, running_pid, serving
from tests.support.ws import graphql_socket

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_websocket_message_over_the_document_limit_closes_the_socket(
    database: Database,
) -> None:
    """The 64 KiB that bound a document over HTTP bound a WebSocket message: 1009, unread."""
    _, key = provision(database)
    with serving(database) as base:
        async with graphql_socket(base) as socket:
            assert (await socket.init({"x-api-key": key}))["type"] == "connection_ack"
            # Just within the limit: answered, to the end.
            query = "{ __typename }" + " " * (MAX_GRAPHQL_BODY_BYTES - 200)
            operation_id = await socket.subscribe(query)
            answered = [await socket.receive() for _ in range(2)]
            assert [(m["id"], m["type"]) for m in answered] == [
                (operation_id, "next"),
                (operation_id, "complete"),
            ]
            await socket.subscribe("{ __typename }" + " " * (8 * 1024 * 1024))
            with pytest.raises(ConnectionClosed) as closed:
                await socket.receive()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009


async def _open(base: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = base.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def _closed_after(reader: asyncio.StreamReader, started: float) -> float:
    """Seconds from `started` until the server closed the connection (read everything first)."""
    while await reader.read(65536):
        pass
    return time.monotonic() - started


@pytest.mark.serial
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_head_not_complete_within_10_s_is_closed(database: Database) -> None:
    """Slowloris: a request line and a Host header, then nothing; or one header line every 3 s.
    Both connections are closed once the head has taken HEAD_SECONDS."""
    with serving(database) as base:
        started = time.monotonic()
        idle_reader, idle = await _open(base)
        idle.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        drip_reader, drip = await _open(base)

        async def dripping() -> None:
            drip.write(b"GET /healthz HTTP/1.1\r\n")
            with contextlib.suppress(ConnectionError):
                for n in range(10):
                    await asyncio.sleep(3)
                    drip.write(b"x-drip-%d: 1\r\n" % n)
                    await drip.drain()

        dripper = asyncio.create_task(dripping())
        idle_for = await _closed_after(idle_reader, started)
        drip_for = await _closed_after(drip_reader, started)
        dripper.cancel()
        for writer in (idle, drip):
            writer.close()
        assert HEAD_SECONDS <= idle_for < HEAD_SECONDS + 1.5
        assert HEAD_SECONDS <= drip_for < HEAD_SECONDS + 1.5
        # Meanwhile and afterwards, honest requests are served, two on one kept-alive connection.
        reader, writer = await _open(base)
        for _ in range(2):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
            while (await reader.readline()) != b"\r\n":
                pass
            await reader.readexactly(len(b'{"status":"success"}'))
        writer.close()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("header_bytes", "status"),
    [
        pytest.param(15 * 1024, 200, id="15-kib"),
        pytest.param(17 * 1024, 431, id="17-kib"),
        pytest.param(16 * 1024 * 1024, 431, id="16-mib"),
    ],
)
async def test_a_head_over_16_kib_is_refused_with_431(
    database: Database, header_bytes: int, status: int
) -> None:
    with serving(database) as base:
        reader, writer = await _open(base)
        head = (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-padding: " + b"a" * header_bytes + b"\r\n\r\n"
        )
        writer.write(head)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        status_line = await reader.readline()
        answer = await reader.read()
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 %d" % status)
    if status == 431:
        body = answer.split(b"\r\n\r\n", 1)[1]
        assert json.loads(body) == {"status": "error", "message": "Request header fields too large"}


def _cpu_seconds_and_peak_memory(pid: int) -> tuple[float, int]:
    """The process's CPU time (user and system) and its peak resident memory in bytes."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kb = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return cpu, int(peak_kb) * 1024


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_one_endless_header_line_is_refused_as_it_arrives(database: Database) -> None:
    """A single 64 MiB header line: the cap counts bytes as they arrive, not headers once
    complete, so the 431 comes after 16 KiB and the line is never buffered (it cost 5.3 s of CPU
    and 58 MB before)."""
    with serving(database) as base:
        pid = running_pid(base)
        cpu_before, rss_before = _cpu_seconds_and_peak_memory(pid)
        reader, writer = await _open(base)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nx-padding: ")
        chunk = b"a" * (1024 * 1024)
        sent = 0
        with contextlib.suppress(ConnectionError):
            for _ in range(64):
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
        status_line = await reader.readline()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        await asyncio.sleep(0.2)
        cpu_after, rss_after = _cpu_seconds_and_peak_memory(pid)
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/healthz")).status_code == 200
    print(
        f"\n64 MiB header line: {sent >> 20} MiB written before the close; server CPU"
        f" {cpu_after - cpu_before:.2f} s, peak memory {(rss_after - rss_before) / 1e6:+.1f} MB"
    )
    assert status_line.startswith(b"HTTP/1.1 431")
    assert cpu_after - cpu_before < 0.5
    assert rss_after - rss_before < 8_000_000


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_each_operation_over_a_websocket_spends_the_rate_limit(database: Database) -> None:
    """RATE_LIMIT=6/minute: the connection spends one, then each operation its own, queries
    included, and a mutation document one per root field."""
    _, key = provision(database)
    with serving(database, env={"RATE_LIMIT": "6/minute"}) as base:
        async with graphql_socket(base) as socket:
            assert (await socket.init({"x-api-key": key}))["type"] == "connection_ack"
            answers = []
            for query in ["{ __typename }"] * 3 + [
                "mutation { a: createChat(input: {}) { chat { id } }"
                " b: createChat(input: {}) { chat { id } } }",
                "{ __typename }",
            ]:
                operation_id = await socket.subscribe(query)
                message = await socket.receive()
                assert message["id"] == operation_id
                answers.append(message["type"])
                if message["type"] == "next":
                    assert (await socket.receive())["type"] == "complete"
                else:
                    assert message["payload"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"
    # 1 (connection) + 3 queries = 4; the two-field mutation fits (6); the last query does not.
    assert answers == ["next", "next", "next", "next", "error"]
    assert await database.count("chats") == 2


@pytest.mark.alone
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_heavy_documents_from_callers_nobody_knows_cost_the_service_nothing(
    database: Database,
) -> None:
    """The review's attack: documents of 1,985 fields, each with a comment of its own so that no
    cache helps, sent with no key by four clients at once, each about 20 a second. The service
    refuses them before validating anything (a few ms each, where validation took 0.45 s), and
    `/healthz` answers within 50 ms all along."""

    def heavy() -> str:
        fields = " id" * 1985
        return f"# {uuid.uuid4()}\n{{ chats {{ edges {{ node {{{fields} }} }} }} }}"

    with serving(database) as base:
        refused, slowest = await _healthz_under_attack(
            base, [{}] * 4, heavy, "more than 300 tokens"
        )
    print(f"\nheavy anonymous documents refused: {refused}; /healthz slowest {slowest:.3f} s")


@pytest.mark.alone
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_heavy_documents_from_signed_in_users_cost_the_service_nothing(
    database: Database, issuer: StandInIssuer
) -> None:
    """The second probe's attack: anyone who can sign in is identified (provisioning is on) and may
    send 2,000 tokens; 855 fields within them took 0.5 s of the event loop to validate. Four users
    with a token each send that document with a fresh comment: refused by its field count before
    validation, and `/healthz` answers within 50 ms all along."""

    def heavy() -> str:
        return f"# {uuid.uuid4()}\n{{" + " viewer{account{id}}" * 285 + "}"

    env = {"OIDC_ISSUER": issuer.url, "OIDC_AUDIENCE": AUDIENCE}
    tokens = [{"authorization": f"Bearer {issuer.token(f'user-{n}')}"} for n in range(4)]
    with serving(database, env=env) as base:
        refused, slowest = await _healthz_under_attack(base, tokens, heavy, TOO_MANY_FIELDS)
    print(f"\nheavy signed-in documents refused: {refused}; /healthz slowest {slowest:.3f} s")
    assert await database.count("accounts") == 4  # they were signed in, each once


async def _healthz_under_attack(
    base: str, attackers: list[dict[str, str]], heavy: Callable[[], str], refusal: str
) -> tuple[int, float]:
    """One client per header set, each sending `heavy()` about 20 times a second, each answer the
    refusal; meanwhile /healthz, 100 times. (refused, slowest /healthz), asserted."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        stop = asyncio.Event()
        refused = 0

        async def attack(headers: dict[str, str]) -> None:
            nonlocal refused
            while not stop.is_set():
                body = await client.post("/graphql", json={"query": heavy()}, headers=headers)
                assert refusal in body.json()["errors"][0]["message"]
                refused += 1
                await asyncio.sleep(0.05)  # about 20 a second each, as the review sent them

        # The waits are timed in this process, whose heap holds every collected test module: a
        # full pass of its own garbage collector would stall this loop as long as the bar, and be
        # charged to the service. Frozen for the window, it scans only what the window makes.
        gc.freeze()
        try:
            tasks = [asyncio.create_task(attack(headers)) for headers in attackers]
            await asyncio.sleep(0.5)
            waits = []
            for _ in range(100):
                started = time.monotonic()
                assert (await client.get("/healthz")).status_code == 200
                waits.append(time.monotonic() - started)
                await asyncio.sleep(0.01)
            stop.set()
            await asyncio.gather(*tasks)
        finally:
            gc.unfreeze()
    assert refused > 50
    assert max(waits) < 0.05
    return refused, max(waits)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_open_sockets_per_key_are_capped(database: Database) -> None:
    _, key = provision(database)
    _, other = provision(database)
    with serving(database, env={"MAX_SOCKETS_PER_CALLER": "2"}) as base:
        async with graphql_socket(base) as first, graphql_socket(base) as second:
            for socket in (first, second):
                assert (await socket.init({"x-api-key": key}))["type"] == "connection_ack"
            async with graphql_socket(base) as third:
                await third.init({"x-api-key": key})
                with pytest.raises(ConnectionClosed) as closed:
                    await third.receive()
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 4429
            async with graphql_socket(base) as others:  # another key counts on its own
                assert (await others.init({"x-api-key": other}))["type"] == "connection_ack"
        # Closed, they count no more (once the server has seen them go).
        await asyncio.sleep(0.5)
        async with graphql_socket(base) as again:
            assert (await again.init({"x-api-key": key}))["type"] == "connection_ack"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_lone_surrogate_over_the_websocket_closes_it_as_invalid_json(
    database: Database,
) -> None:
    _, key = provision(database)
    with serving(database) as base:
        async with graphql_socket(base) as socket:
            assert (await socket.init({"x-api-key": key}))["type"] == "connection_ack"
            await socket.connection.send(
                '{"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }",'
                ' "operationName": "\\ud800"}}'
            )
            with pytest.raises(ConnectionClosed) as closed:
                await socket.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4400

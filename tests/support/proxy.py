"""A TCP proxy the test controls, to take a server away from the service and bring it back
without touching the shared one. The faults behave as real ones do:

- `stop`: the server went down (connections cut, new ones refused); `start` again on the same port;
- `partition`: the network stopped delivering: bytes are held, new connections are accepted and
  never answered; `heal` delivers what was held, as TCP does once a partition heals;
- `silence`: the same, but what was sent meanwhile is lost and `resume` cuts every connection;
- `delay`: seconds added to every chunk, each way (a slow network);
- `reset`: every connection cut with a reset, in the middle of whatever it carried.
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.silent = False
        self.delay = 0.0
        self._delivering = asyncio.Event()
        self._delivering.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.reset()

    def partition(self) -> None:
        self._delivering.clear()

    def heal(self) -> None:
        self._delivering.set()

    def silence(self) -> None:
        self.silent = True

    def resume(self) -> None:
        """Back to normal. Connections that went silent are cut: after a partition, their peers
        would have given up on them anyway."""
        self.silent = False
        self.reset()

    def reset(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        if self._server is None:
            # Accepted just before `stop`, handled after it: a server that went down cuts it too.
            client_writer.transport.abort()
            return
        self._writers.add(client_writer)
        if self.silent:
            return  # accepted, then never answered
        await self._delivering.wait()  # during a partition: accepted, answered once it heals
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        if client_writer not in self._writers:  # cut (`stop`, `reset`) while this connected
            server_writer.transport.abort()
            return
        self._writers.add(server_writer)
        await asyncio.gather(
            self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if self.silent:
                    continue  # swallowed: the other side waits for an answer that never comes
                await self._delivering.wait()  # held, not lost
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
        self._writers.discard(writer)

"""The head's deadline is kept on the clock, not on the timer: uvloop's timers count whole
milliseconds from a clock read at the start of the loop's iteration and can fire a little early
(seen: a connection closed 9.99997 s after it opened, for a 10 s deadline)."""

from __future__ import annotations

import asyncio
import time

import pytest

from chats_api.head_limits import GuardedHttpToolsProtocol

pytestmark = pytest.mark.anyio


class Transport:
    closed_at: float | None = None

    def is_closing(self) -> bool:
        return self.closed_at is not None

    def close(self) -> None:
        self.closed_at = time.monotonic()


async def test_a_timer_that_fires_early_does_not_cut_the_head_short() -> None:
    protocol = object.__new__(GuardedHttpToolsProtocol)
    protocol.loop = asyncio.get_running_loop()
    transport = Transport()
    protocol.transport = transport  # type: ignore[assignment]
    protocol._head_deadline = time.monotonic() + 0.05

    protocol._head_timed_out()  # the timer, fired 50 ms before the deadline

    assert transport.closed_at is None
    assert protocol._head_timer is not None
    await asyncio.sleep(0.2)
    assert transport.closed_at is not None
    assert transport.closed_at >= protocol._head_deadline
    assert protocol._head_timer is None

"""One call per key however many ask at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Callers asking for the same key while a call for it is under way share that call's
    outcome. The call runs in a task of its own, so that one caller cut short (its request's
    deadline, a client gone) stops no other."""

    def __init__(self) -> None:
        self._pending: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, call: Callable[[], Awaitable[V]]) -> V:
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(call())
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(pending)

    def running(self, key: K) -> bool:
        return key in self._pending

    def _forget(self, key: K, done: asyncio.Future[V]) -> None:
        del self._pending[key]
        if not done.cancelled():
            done.exception()  # retrieved here too: every caller waiting for it may be gone

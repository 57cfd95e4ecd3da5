"""The pool's gate, an `asyncio.Semaphore` (db.connections.PooledConnection): turns in order of
arrival, none lost to a cancelled waiter, as Python 3.11 and later behave; pinned here, as the
fairness of the pool under load rests on it."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.anyio


async def test_turns_go_in_order_of_arrival_and_newcomers_do_not_barge() -> None:
    gate = asyncio.Semaphore(2)
    order: list[int] = []
    release = asyncio.Event()

    async def use(number: int) -> None:
        async with gate:
            order.append(number)
            await release.wait()

    tasks = [asyncio.create_task(use(n)) for n in range(6)]
    await asyncio.sleep(0)
    assert order == [0, 1]  # two turns, taken; the other four wait in line
    release.set()
    # Released turns go to the oldest waiters, even with a newcomer asking at the same moment.
    newcomer = asyncio.create_task(use(6))
    await asyncio.gather(*tasks, newcomer)
    assert order == [0, 1, 2, 3, 4, 5, 6]


async def test_a_waiter_cancelled_in_line_loses_its_place_and_nothing_else() -> None:
    gate = asyncio.Semaphore(1)
    held = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with gate:
            held.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await held.wait()
    waiter = asyncio.create_task(gate.__aenter__())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    await holder
    # The one turn is free again: taken at once, without waiting.
    await asyncio.wait_for(gate.__aenter__(), 0.1)


async def test_a_turn_handed_to_a_waiter_that_is_cancelled_passes_on() -> None:
    gate = asyncio.Semaphore(1)
    await gate.__aenter__()
    first = asyncio.create_task(gate.__aenter__())
    second = asyncio.create_task(gate.__aenter__())
    await asyncio.sleep(0)
    await gate.__aexit__(None, None, None)  # the turn is handed to `first`...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 0.1)  # the turn went on to `second`
    await gate.__aexit__(None, None, None)
    await asyncio.wait_for(gate.__aenter__(), 0.1)  # and back: one turn, never lost or doubled
    assert gate.locked()


async def test_a_waiter_cancelled_while_a_turn_is_released_past_it() -> None:
    """A partition: requests in line are cancelled by their deadline, and a turn released at that
    moment skips the cancelled waiter before it has run its own clean-up. That clean-up must not
    fail (it used to: ValueError, a 500), and the turn goes to the next waiter."""
    gate = asyncio.Semaphore(1)
    await gate.__aenter__()  # the one turn, held
    cancelled = asyncio.create_task(gate.__aenter__())
    successor = asyncio.create_task(gate.__aenter__())
    await asyncio.sleep(0)  # both in line
    cancelled.cancel()
    gate.release()  # before the cancelled waiter runs: it is skipped, the successor gets the turn
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await successor
    gate.release()
    # One turn in all, free again, and nobody left in line.
    await asyncio.wait_for(gate.__aenter__(), 1)

"""A sweeper stopped mid-pass (bot/jobs/sweeper.py): the pass ends between two items.

Cancelling a pass inside a database write can leave the connection holding SQLite's lock, so
the lease's release (and the next writer) waited 30 s; the retention sweep's steps write for
every pin. Stopped, the pass finishes the item in hand, stops at its next `fence.check()` and
hands the lease over at once; one stuck (a slow service call) is cancelled after STOP_GRACE.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bot.jobs import sweeper as sweeper_module
from bot.jobs.sweeper import Fence, Step, Sweeper
from bot.store import Ledger, upgrade
from bot.store.sweeps import SweepLeases

pytestmark = pytest.mark.usefixtures("clean_env")


@pytest.fixture
async def leases(database_url: str) -> AsyncIterator[SweepLeases]:
    ledger = await Ledger.open(database_url)
    await upgrade(ledger.engine)
    try:
        yield SweepLeases(ledger)
    finally:
        await ledger.close()


async def fine(fence: Fence) -> str:
    return "done"


async def test_a_stopped_pass_finishes_its_item_and_hands_the_lease_over(
        leases: SweepLeases) -> None:
    items: list[str] = []
    busy = asyncio.Event()

    async def slow(fence: Fence) -> str:
        for item in range(100):
            await fence.check()
            items.append(f"start {item}")
            busy.set()
            await asyncio.sleep(0.3)  # the item's work: a write, a call to the service
            items.append(f"end {item}")
        return "finished"

    first = Sweeper(leases, [Step("slow", slow)], interval=60, lease_seconds=5)
    task = asyncio.create_task(first.run_forever())
    await asyncio.wait_for(busy.wait(), 10)
    task.cancel()
    stopped = time.monotonic()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert items == ["start 0", "end 0"]  # not cut mid-item; no item started after the stop
    assert time.monotonic() - stopped < 1
    state = await leases.state("sweep")
    assert state is not None and state.last_finished_at is None  # the pass did not finish
    second = Sweeper(leases, [Step("fine", fine)], interval=60, lease_seconds=5)
    assert await second.run_once()  # the lease was handed over, not left to lapse


async def test_a_pass_stuck_past_the_grace_is_cancelled(
        leases: SweepLeases, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweeper_module, "STOP_GRACE", 0.3)
    stuck = asyncio.Event()

    async def hangs(fence: Fence) -> str:
        stuck.set()
        await asyncio.Event().wait()  # a service that never answers
        return "never"

    first = Sweeper(leases, [Step("hangs", hangs)], interval=60, lease_seconds=5)
    task = asyncio.create_task(first.run_forever())
    await asyncio.wait_for(stuck.wait(), 10)
    task.cancel()
    stopped = time.monotonic()
    await asyncio.gather(task, return_exceptions=True)
    assert 0.25 < time.monotonic() - stopped < 2
    second = Sweeper(leases, [Step("fine", fine)], interval=60, lease_seconds=5)
    assert await second.run_once()

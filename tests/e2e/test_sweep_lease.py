"""The sweep's lease (bot/store/sweeps.py, bot/jobs/sweeper.py) on a real database.

Promises attacked: of several sweepers, one sweeps per pass; a holder that stalls past its
lease loses it at its next check, and a stopped holder's lease is taken over; a failing step
does not stop the others.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update

from bot.jobs.sweeper import SWEEP, Fence, Step, Sweeper
from bot.store import Ledger
from bot.store.models import SweepRow
from bot.store.sweeps import SweepLeases

pytestmark = pytest.mark.usefixtures("clean_env")


@pytest.fixture
def leases(ledger: Ledger) -> SweepLeases:
    return SweepLeases(ledger)


async def test_one_of_many_sweepers_runs_each_pass(leases: SweepLeases) -> None:
    ran: list[str] = []

    def counting(name: str) -> Step:
        async def run(fence: Fence) -> str:
            ran.append(name)
            await asyncio.sleep(0.05)
            return "ok"
        return Step("count", run)

    sweepers = [Sweeper(leases, [counting(f"s{i}")], interval=0.5, lease_seconds=5)
                for i in range(4)]
    outcomes = await asyncio.gather(*(s.run_once() for s in sweepers))
    assert sum(outcomes) == 1 and len(ran) == 1
    state = await leases.state(SWEEP)
    assert state is not None and state.last_result == "count: ok"
    # Within the interval nobody sweeps again, not even the holder: once per interval.
    assert not any([await s.run_once() for s in sweepers])
    await asyncio.sleep(0.5)
    # After it, the holder sweeps again; the others still may not while its lease runs.
    winner = sweepers[outcomes.index(True)]
    assert await winner.run_once()
    assert not any([await s.run_once() for s in sweepers if s is not winner])
    assert len(ran) == 2


async def test_a_lapsed_lease_is_taken_over_and_the_stalled_holder_stops(
        leases: SweepLeases, ledger: Ledger) -> None:
    seen: list[str] = []

    async def slow(fence: Fence) -> str:
        for item in range(10):
            await fence.check()
            seen.append(f"first:{item}")
            await asyncio.sleep(1.2)  # stalls past its 2 s lease
        return "finished"

    async def quick(fence: Fence) -> str:
        seen.append("second")
        return "ok"

    first = Sweeper(leases, [Step("slow", slow)], interval=60, lease_seconds=2)
    second = Sweeper(leases, [Step("quick", quick)], interval=60, lease_seconds=2)
    # Renewal only happens at checks a third of a lease apart; force a lapse by sleeping.
    first_pass = asyncio.create_task(first.run_once())
    await asyncio.sleep(0.2)
    assert not await second.run_once()  # the lease is held
    await asyncio.sleep(2.5)
    # The first renews at its checks, so it still holds: prove it by expiring it by hand.
    async with ledger.sessions.begin() as session:  # as if its clock had jumped
        await session.execute(update(SweepRow).values(lease_until=None))
    assert await second.run_once()
    assert await first_pass is False  # it found the lease gone at its next check
    assert "second" in seen
    assert len([s for s in seen if s.startswith("first")]) < 10


async def test_a_failing_step_does_not_stop_the_next(leases: SweepLeases) -> None:
    async def broken(fence: Fence) -> str:
        raise RuntimeError("a bug")

    async def fine(fence: Fence) -> str:
        return "done"

    sweeper = Sweeper(leases, [Step("broken", broken), Step("fine", fine)], interval=60,
                      lease_seconds=5)
    assert await sweeper.run_once()
    state = await leases.state(SWEEP)
    assert state is not None
    assert state.last_result == "broken: failed (see logs); fine: done"


async def test_stopping_hands_the_lease_over_at_once(leases: SweepLeases) -> None:
    async def fine(fence: Fence) -> str:
        return "done"

    first = Sweeper(leases, [Step("fine", fine)], interval=0.1, lease_seconds=600)
    task = asyncio.create_task(first.run_forever())
    while first.passes == 0:
        await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    second = Sweeper(leases, [Step("fine", fine)], interval=0.1, lease_seconds=600)
    await asyncio.sleep(0.1)  # its interval since the first's last pass
    assert await second.run_once()  # not after 600 s

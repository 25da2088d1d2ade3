"""The retention sweep across real processes: two `pinbot serve` on one PostgreSQL database.

Both run a sweeper every second and compete for the one sweep lease. Every expired pin is
unpinned at the service exactly once (DELETEs counted per pin at the emulator); and when the
process holding the lease is SIGKILLed mid-pass, the other takes the pass over once the lease
lapses and finishes it. The emulators run in this process.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from bot.jobs.sweeper import SWEEP
from bot.store import Ledger, PinRecord
from bot.store.ledger import utcnow
from bot.store.models import PinRow
from bot.store.sweeps import SweepLeases
from bot.w3ipfs import W3IPFSClient
from pinbot.emulators.slack import SlackEmulator
from pinbot.emulators.w3ipfs import W3IPFSEmulator
from tests.conftest import API_KEY, FAST_RETRY, SECRET_KEY
from tests.databases import fresh_database
from tests.e2e.test_scale_out import Cluster, process_env

CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
#: 300 unpins a minute: one every 0.2 s, so a pass of 20 pins lasts long enough to be cut.
RATE = "300"


@pytest.fixture
async def replicas(w3ipfs: W3IPFSEmulator, tmp_path: Path
                   ) -> AsyncIterator[tuple[list[Cluster], str]]:
    """Two `pinbot serve` replicas sharing a fresh PostgreSQL database (no Redis)."""
    slack = SlackEmulator()
    await slack.start()
    made: list[Cluster] = []
    try:
        async with fresh_database("postgres", tmp_path) as db_url:
            for name in ("serve-a", "serve-b"):
                env = process_env(slack, w3ipfs, PINBOT_DATABASE_URL=db_url,
                                  PINBOT_SWEEP_INTERVAL="1", PINBOT_API_RATE=RATE)
                cluster = Cluster(env, tmp_path, slack, w3ipfs)
                made.append(cluster)
                await cluster.start(name, "serve")
            await asyncio.gather(*(c.wait_ready(workers=0) for c in made))
            yield made, db_url
    finally:
        for cluster in made:
            await cluster.stop()
        await slack.stop()


async def until(check: Callable[[], Any], within: float,
                what: str | Callable[[], str]) -> Any:
    """Poll `check`; on failure say `what` (a callable is read then: a log's tail at the end)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within}s: {what() if callable(what) else what}")


async def expired_pins(ledger: Ledger, w3ipfs: W3IPFSEmulator, team: str, count: int,
                       tag: str) -> list[PinRecord]:
    """`count` pins of `team` made under a 1-minute policy that ran out a second ago."""
    async with W3IPFSClient(w3ipfs.base_url, API_KEY, SECRET_KEY, retry=FAST_RETRY) as client:
        pins = await asyncio.gather(*(client.pin_by_hash(CID, name=f"{tag}-{i:02d}")
                                      for i in range(count)))
    records = []
    for pin in pins:
        claim = await ledger.claim(team, f"cid:{pin.id}", name=pin.name or "",
                                   channel_id="C0GENERAL", user_id="UALICE", source="cid")
        records.append(await ledger.complete(claim.record.id, pin, verified=None))
    async with ledger.engine.begin() as conn:  # all at once, so the sweepers see them together
        await conn.execute(update(PinRow).where(PinRow.id.in_([r.id for r in records]))
                           .values(retention_seconds=60,
                                   expires_at=utcnow() - timedelta(seconds=1)))
    return records


def deletes(w3ipfs: W3IPFSEmulator, records: list[PinRecord]) -> Counter[str]:
    ids = {r.pin_id for r in records}
    return Counter(pin_id for r in w3ipfs.api_requests("DELETE", "/pinning/unpin/")
                   if (pin_id := r.path.rsplit("/", 1)[1]) in ids)


async def all_retired(ledger: Ledger, records: list[PinRecord]) -> bool:
    rows = [await ledger.by_row_id(r.id) for r in records]
    return all(r is not None and r.state == "unpinned" and r.unpin_reason == "retention"
               for r in rows)


@pytest.mark.slow
async def test_two_replicas_unpin_each_expired_pin_once_even_when_the_sweeper_dies(
    replicas: tuple[list[Cluster], str], w3ipfs: W3IPFSEmulator,
) -> None:
    clusters, db_url = replicas
    team = clusters[0].slack.team_id
    ledger = await Ledger.open(db_url)
    try:
        # Both replicas sweep every second: each pin is unpinned by exactly one of them.
        first = await expired_pins(ledger, w3ipfs, team, 10, "first")
        await until(lambda: all_retired(ledger, first), 20, lambda: "the first pins swept: "
                    + clusters[0].log_tail("serve-a") + clusters[1].log_tail("serve-b"))
        await asyncio.sleep(2.5)  # more passes, by either replica: nothing is unpinned again
        assert deletes(w3ipfs, first) == Counter({r.pin_id: 1 for r in first})
        assert not any(p["pinned"] for p in w3ipfs.all_pins())

        # The replica holding the sweep's lease is killed mid-pass.
        second = await expired_pins(ledger, w3ipfs, team, 20, "second")

        async def under_way() -> bool:
            return sum(deletes(w3ipfs, second).values()) >= 5

        await until(under_way, 20, "the second pass under way")
        state = await SweepLeases(ledger).state(SWEEP)
        assert state is not None and state.lease_owner is not None
        pid = int(state.lease_owner.rsplit(":", 2)[1])
        (holder,) = [(c, name) for c in clusters for name, p in c.procs.items() if p.pid == pid]
        cluster, name = holder
        cluster.procs[name].send_signal(signal.SIGKILL)
        await cluster.procs[name].wait()
        killed_at = time.monotonic()
        survivor = next(c for c in clusters if c is not cluster)
        await until(lambda: all_retired(ledger, second), 20,
                    lambda: "the survivor finished the pass: " + survivor.log_tail(
                        next(iter(survivor.procs))))
        # The lease (2 s at a 1 s interval) lapses, then ~15 unpins at 5 a second.
        assert time.monotonic() - killed_at < 15
        assert not any(p["pinned"] for p in w3ipfs.all_pins())
        counted = deletes(w3ipfs, second)
        assert set(counted) == {r.pin_id for r in second}
        # At most the one unpin in flight at the kill is sent again (the service answers it
        # the same way); the ledger records each pin's end once.
        assert sum(counted.values()) <= len(second) + 1, counted
    finally:
        await ledger.close()

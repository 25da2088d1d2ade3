"""The sweep in a Redis deployment: `pinbot serve` and two `pinbot worker`s, real processes.

Every process runs a sweeper and competes for the one lease: the deployment sweeps once per
PINBOT_SWEEP_INTERVAL between them (not once per process), and a worker sweeps too, so the
sweep goes on when `serve` is stopped.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.jobs.sweeper import SWEEP
from bot.store import Ledger
from bot.store.sweeps import SweepLeases
from tests.e2e import test_scale_out
from tests.e2e.test_scale_out import Cluster

#: serve, workers, Redis and PostgreSQL, as in test_scale_out.
cluster = test_scale_out.cluster


async def passes(leases: SweepLeases, seconds: float) -> list[tuple[float, int]]:
    """The passes started in the next `seconds`: (start, pid of the process that ran it)."""
    seen: dict[float, int] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = await leases.state(SWEEP)
        if state is not None and state.last_started_at and state.lease_owner:
            seen.setdefault(state.last_started_at.timestamp(),
                            int(state.lease_owner.rsplit(":", 2)[1]))
        await asyncio.sleep(0.05)
    return sorted(seen.items())


@pytest.mark.slow
async def test_serve_and_two_workers_sweep_once_per_interval(
    cluster: Callable[..., Any],
) -> None:
    c: Cluster = await cluster(PINBOT_SWEEP_INTERVAL="1")
    await c.start("serve", "serve")
    await c.start("worker-1", "worker")
    await c.start("worker-2", "worker")
    await c.wait_ready(workers=2)
    ledger = await Ledger.open(c.env["PINBOT_DATABASE_URL"])
    try:
        leases = SweepLeases(ledger)
        seen = await passes(leases, 6)
        starts = [t for t, _ in seen]
        # Three processes tick every second; the deployment sweeps about once a second.
        assert 3 <= len(starts) <= 8, seen
        assert all(b - a >= 0.9 for a, b in itertools.pairwise(starts)), seen

        # serve stops: a worker goes on sweeping.
        c.procs["serve"].send_signal(signal.SIGTERM)
        await c.procs["serve"].wait()
        pids = {c.procs[n].pid for n in ("worker-1", "worker-2")}
        later = await passes(leases, 5)
        assert len(later) >= 2 and all(pid in pids for _, pid in later[1:]), later
    finally:
        await ledger.close()

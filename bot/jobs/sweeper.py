"""The deployment-wide sweep: every PINBOT_SWEEP_INTERVAL, one process runs its steps.

Every `serve` and `worker` process runs a `Sweeper`; they compete for one lease row
(bot.store.sweeps), so exactly one of them sweeps at a time, across replicas and workers. The
holder renews the lease between items (`Fence.check`), and a holder that stalls past its lease
stops at the next check (`SweepLost`), because another process has taken over. A sweeper killed
mid-pass leaves the lease to lapse; the next holder runs the pass again, and every step is
written to be idempotent (a pin already unpinned, a notice already posted, is skipped).

Steps (retention, notices, audit) are use cases handed in by the wiring; each returns a short
summary for the log and the sweep row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ..store import LedgerUnavailable
from ..store.sweeps import SweepLeases
from .owners import new_owner, retire

log = logging.getLogger(__name__)

SWEEP = "sweep"


class SweepLost(Exception):
    """Another process holds the sweep's lease now: stop this pass at once."""


class Fence:
    """Handed to each step: `await fence.check()` between items keeps (or proves) the lease."""

    def __init__(self, leases: SweepLeases, owner: str, lease_seconds: float) -> None:
        self._leases = leases
        self._owner = owner
        self._lease_seconds = lease_seconds
        self._renewed = time.monotonic()

    async def check(self) -> None:
        """Renew the lease when a third of it has passed; raise `SweepLost` if it is gone."""
        if time.monotonic() - self._renewed < self._lease_seconds / 3:
            return
        if not await self._leases.acquire(SWEEP, self._owner, self._lease_seconds):
            raise SweepLost
        self._renewed = time.monotonic()


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    run: Callable[[Fence], Awaitable[str]]


class Sweeper:
    def __init__(self, leases: SweepLeases, steps: Sequence[Step], *, interval: float,
                 lease_seconds: float) -> None:
        self.leases = leases
        self.steps = list(steps)
        self.interval = interval
        #: The lease outlives a pass's quiet moments; at least 2 s so tests' 1 s sweeps work.
        self.lease_seconds = max(2.0, lease_seconds)
        self.owner = new_owner()
        self.passes = 0

    async def run_forever(self) -> None:
        """Try to sweep every `interval` seconds until cancelled; give the lease up at the end."""
        try:
            while True:
                started = time.monotonic()
                try:
                    await self.run_once()
                except LedgerUnavailable as exc:
                    log.warning("sweep skipped, database unreachable: %s", exc)
                except Exception:
                    log.exception("sweep failed")
                await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.leases.release(SWEEP, self.owner))
            retire(self.owner)

    async def run_once(self) -> bool:
        """One pass if this process wins the lease; False when another process holds it."""
        if not await self.leases.acquire(SWEEP, self.owner, self.lease_seconds):
            return False
        await self.leases.started(SWEEP, self.owner)
        fence = Fence(self.leases, self.owner, self.lease_seconds)
        results = []
        for step in self.steps:
            try:
                results.append(f"{step.name}: {await step.run(fence)}")
            except SweepLost:
                log.warning("sweep: another process took the sweep over during %s", step.name)
                return False
            except LedgerUnavailable:
                raise
            except Exception:
                log.exception("sweep step %s failed", step.name)
                results.append(f"{step.name}: failed (see logs)")
        summary = "; ".join(results) or "nothing to do"
        self.passes += 1
        # DEBUG: a pass every few minutes is routine; what it changed is logged by each step
        # (one INFO line per pin unpinned or corrected), and the summary is in the sweep row.
        log.debug("sweep: %s", summary)
        await self.leases.finished(SWEEP, self.owner, summary)
        return True

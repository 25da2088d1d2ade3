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
#: At shutdown a pass stops at its next `fence.check()`; one still busy after this many
#: seconds (a slow service call) is cancelled.
STOP_GRACE = 5.0


class SweepLost(Exception):
    """Another process holds the sweep's lease now: stop this pass at once."""


class SweepStopped(SweepLost):
    """This process is shutting down: the pass stops between two items."""


class Fence:
    """Handed to each step: `await fence.check()` between items keeps (or proves) the lease."""

    def __init__(self, leases: SweepLeases, owner: str, lease_seconds: float,
                 stopping: Callable[[], bool] = lambda: False) -> None:
        self._leases = leases
        self._owner = owner
        self._lease_seconds = lease_seconds
        self._stopping = stopping
        self._renewed = time.monotonic()

    async def check(self) -> None:
        """Renew the lease when a third of it has passed; raise `SweepLost` if it is gone
        (`SweepStopped` when this process is shutting down)."""
        if self._stopping():
            raise SweepStopped
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
        self._stopping = False

    async def run_forever(self) -> None:
        """Try to sweep every `interval` seconds until cancelled; give the lease up at the end.

        Cancelled mid-pass, the pass is not cut mid-item: it stops at its next `fence.check()`
        (within `STOP_GRACE`). A cancel landing inside a database write can leave the
        connection holding SQLite's lock, and the lease's release would then wait 30 s.
        """
        try:
            while True:
                started = time.monotonic()
                current = asyncio.ensure_future(self._pass())
                try:
                    await asyncio.shield(current)
                except asyncio.CancelledError:
                    await self._wind_down(current)
                    raise
                await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.leases.release(SWEEP, self.owner))
            retire(self.owner)

    async def _pass(self) -> None:
        try:
            await self.run_once()
        except LedgerUnavailable as exc:
            log.warning("sweep skipped, database unreachable: %s", exc)
        except Exception:
            log.exception("sweep failed")

    async def _wind_down(self, current: asyncio.Future[None]) -> None:
        self._stopping = True
        _, pending = await asyncio.wait({current}, timeout=STOP_GRACE)
        for task in pending:
            task.cancel()
        await asyncio.gather(current, return_exceptions=True)

    async def run_once(self) -> bool:
        """One pass if this process wins the lease; False when another process holds it."""
        # Not while a pass that finished started less than an interval ago (by any process):
        # every process ticks every interval, but the deployment sweeps once per interval.
        if not await self.leases.acquire(SWEEP, self.owner, self.lease_seconds,
                                         idle_for=self.interval * 0.95):
            return False
        await self.leases.started(SWEEP, self.owner)
        fence = Fence(self.leases, self.owner, self.lease_seconds, lambda: self._stopping)
        results = []
        for step in self.steps:
            try:
                results.append(f"{step.name}: {await step.run(fence)}")
            except SweepStopped:
                log.info("sweep: stopped during %s (shutting down)", step.name)
                return False
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

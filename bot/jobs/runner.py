"""The job runner: leases due job records and runs them, in any process, after any crash.

One runner per process (`pinbot serve` without Redis, and every `pinbot worker`). It polls the
job table (and wakes at once when this process creates a job or a queue message arrives),
leases what is due, renews its leases while the work runs, and gives them back when it is done.
Upload work runs in `PINBOT_CONCURRENCY` slots; checks (status follow-up, waiting for another
request's upload) run in a separate small pool, so waiting never holds an upload slot.

A job this runner loses (another process took it over after a stall) is cancelled here, and
its writes are fenced on the lease anyway (`JobStore.save`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from ..store import LedgerUnavailable
from ..store.ledger import utcnow
from . import owners
from .records import CHECK_STATES, UPLOAD_STATES, Job, JobStore, LeaseLost

log = logging.getLogger(__name__)

#: How often a runner deletes job records that ended long ago (seconds).
PRUNE_EVERY = 600.0


@dataclass(frozen=True, slots=True)
class Next:
    """Where a job goes after a run: its next state, and how long until it is looked at."""

    state: str
    delay: float = 0.0


class Lease:
    """What a running job holds: the store and its owner id, so its writes are fenced."""

    def __init__(self, store: JobStore, owner: str, job: Job) -> None:
        self.store = store
        self.owner = owner
        self.job = job
        #: The state the job was in when this run leased it: a run that starts mid-upload
        #: is a resume (after a crash, a lost lease or a retry) and must look before it acts.
        self.started_in = job.state

    async def save(self, **values: object) -> Job:
        self.job = await self.store.save(self.job, self.owner, **values)
        return self.job


#: Runs one step of a job; returns where it goes next. Reports to users itself.
Handler = Callable[[Lease], Awaitable[Next]]


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        handler: Handler,
        *,
        concurrency: int,
        lease_seconds: float,
        checks: int = 16,
        poll_interval: float = 1.0,
        keep_finished: float = 7 * 24 * 3600,
    ) -> None:
        self.store = store
        self.handler = handler
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.keep_finished = keep_finished
        self._pruned_at = float("-inf")
        self.owner = owners.new_owner()
        self._upload_slots = concurrency
        self._check_slots = checks
        self._running: dict[int, asyncio.Task[None]] = {}
        self._kinds: dict[int, str] = {}
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._closing = False

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        if self._loops:
            return
        self._loops = [
            asyncio.get_running_loop().create_task(self._poll(), name="jobs: poll"),
            asyncio.get_running_loop().create_task(self._heartbeat(), name="jobs: heartbeat"),
        ]

    def kick(self) -> None:
        """A job was just created (or is due): look now instead of at the next poll."""
        self._wake.set()

    @property
    def running(self) -> int:
        return len(self._running)

    async def aclose(self, grace: float = 30.0) -> None:
        """Stop taking work; let running jobs finish for `grace` seconds, then hand them back
        (leases dropped, so another process resumes them at once)."""
        self._closing = True
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self._running:
            _, pending = await asyncio.wait(list(self._running.values()), timeout=grace)
            ids = [i for i, t in self._running.items() if t in pending]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            with contextlib.suppress(LedgerUnavailable):
                await self.store.drop_lease(ids, self.owner)
        owners.retire(self.owner)

    async def join(self, within: float = 30.0, horizon: float = 2.0) -> None:
        """Wait until nothing runs here and no job is due within `horizon` seconds."""
        async with asyncio.timeout(within):
            quiet = 0
            while quiet < 2:
                busy = bool(self._running) or await self.store.next_due_within(horizon)
                quiet = 0 if busy else quiet + 1
                self.kick()
                await asyncio.sleep(0.05)

    # -- running -------------------------------------------------------------------------

    async def run_by_id(self, job_id: int) -> bool:
        """Run this job now if it is due and free (a queue message for it arrived)."""
        if self._closing or job_id in self._running:
            return False
        job = await self.store.lease_one(job_id, self.owner, self.lease_seconds, owners.is_dead)
        if job is None:
            return False
        self._spawn(job)
        await asyncio.gather(self._running.get(job.id) or _done(), return_exceptions=True)
        return True

    def _free(self, states: tuple[str, ...], total: int) -> int:
        kinds = UPLOAD_STATES if states == UPLOAD_STATES else CHECK_STATES
        return total - sum(1 for s in self._kinds.values() if s in kinds)

    async def _poll(self) -> None:
        while True:
            try:
                for states, total in ((UPLOAD_STATES, self._upload_slots),
                                      (CHECK_STATES, self._check_slots)):
                    free = self._free(states, total)
                    if free > 0:
                        for job in await self.store.lease(
                            self.owner, states, free, self.lease_seconds, owners.is_dead
                        ):
                            self._spawn(job)
                await self._prune()
            except LedgerUnavailable as exc:
                log.warning("job table unreachable, retrying: %s", exc)
            except Exception:
                log.exception("job poll failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                # Jitter keeps replicas from polling in lockstep.
                await asyncio.wait_for(self._wake.wait(),
                                       self.poll_interval * random.uniform(0.8, 1.2))

    async def _prune(self) -> None:
        """Now and then, forget jobs that ended more than `keep_finished` seconds ago."""
        now = time.monotonic()
        if now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        removed = await self.store.prune(utcnow() - timedelta(seconds=self.keep_finished))
        if removed:
            log.info("pruned %d finished job record(s)", removed)

    def _spawn(self, job: Job) -> None:
        if job.id in self._running:
            return
        task = asyncio.get_running_loop().create_task(self._run(job), name=f"job {job.id}")
        self._running[job.id] = task
        self._kinds[job.id] = job.state

    async def _run(self, job: Job) -> None:
        lease = Lease(self.store, self.owner, job)
        try:
            step = await self.handler(lease)
            await self.store.release(lease.job, self.owner, state=step.state, delay=step.delay)
        except LeaseLost:
            log.warning("job %d was taken over by another process; stopped here", job.id)
        except asyncio.CancelledError:
            log.info("job %d interrupted; another run will resume it", job.id)
        except LedgerUnavailable as exc:
            # Nothing can be written now: the lease lapses and the job is retried then.
            log.warning("job %d paused, database unreachable: %s", job.id, exc)
        except Exception:
            log.exception("job %d failed unexpectedly", job.id)
            with contextlib.suppress(LedgerUnavailable, LeaseLost):
                await self.store.release(lease.job, self.owner, state="failed",
                                         error="unexpected error (see logs)")
        finally:
            self._running.pop(job.id, None)
            self._kinds.pop(job.id, None)
            self.kick()  # a slot is free

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(max(0.2, self.lease_seconds / 3))
            if not self._running:
                continue
            try:
                held = await self.store.renew(self.owner, list(self._running), self.lease_seconds)
            except LedgerUnavailable as exc:
                log.warning("could not renew job leases: %s", exc)
                continue
            for job_id, task in list(self._running.items()):
                if job_id not in held and not task.done():
                    log.warning("lost the lease of job %d; stopping it here", job_id)
                    task.cancel()


async def _done() -> None:
    return None

"""The job runner (bot/jobs/runner.py) with a real JobStore on a temporary SQLite database.

The database is the runner's boundary and cheap to make; only the handlers (the use cases)
are stand-ins, so each test sees what an operator would: which jobs ran, how many at once,
what state they were left in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from bot.jobs import UPLOAD_STATES, JobRunner, JobStore, Lease, LeaseLost, Next, PinRequest
from bot.jobs.runner import Handler
from bot.store import Ledger, upgrade
from bot.store.ledger import utcnow
from bot.store.models import JobRow


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    opened = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    await upgrade(opened.engine)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def store(ledger: Ledger) -> JobStore:
    return JobStore(ledger)


Make = Callable[..., JobRunner]


@pytest.fixture
async def make_runner(store: JobStore) -> AsyncIterator[Make]:
    """Started runners, closed at the end of the test whatever happened."""
    made: list[JobRunner] = []

    def make(handler: Handler, **options: Any) -> JobRunner:
        settings: dict[str, Any] = {"concurrency": 2, "lease_seconds": 30.0,
                                    "poll_interval": 0.05, **options}
        runner = JobRunner(store, handler, **settings)
        runner.start()
        made.append(runner)
        return runner

    yield make
    for runner in made:
        await runner.aclose(grace=0.1)


class Jobs:
    """Job records as a test makes and reads them (rows edited directly to set a scene)."""

    def __init__(self, store: JobStore, ledger: Ledger) -> None:
        self.store = store
        self.ledger = ledger

    async def new(self, n: int, *, state: str = "queued") -> int:
        request = PinRequest("share", "T1", "C1", "U1", file_id=f"F{n}")
        job, _ = await self.store.create(request, f"share:Ev{n}")
        if state != "queued":
            await self.set(job.id, state=state)
        return job.id

    async def set(self, job_id: int, **values: Any) -> None:
        async with self.ledger.sessions.begin() as session:
            await session.execute(update(JobRow).where(JobRow.id == job_id).values(**values))

    async def state(self, job_id: int) -> str:
        job = await self.store.get(job_id)
        assert job is not None
        return job.state


@pytest.fixture
def jobs(store: JobStore, ledger: Ledger) -> Jobs:
    return Jobs(store, ledger)


async def until(check: Callable[[], Awaitable[bool] | bool], within: float = 5.0) -> None:
    """Wait until `check()` holds; fail the test if it does not within `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.02)


@pytest.fixture
def gate() -> Iterator[asyncio.Event]:
    event = asyncio.Event()
    yield event
    event.set()


async def test_uploads_use_at_most_concurrency_slots_while_checks_still_run(
    jobs: Jobs, make_runner: Make, gate: asyncio.Event,
) -> None:
    """PINBOT_CONCURRENCY=2, five uploads that take long: two run, three wait for a slot;
    meanwhile three scheduled checks (waiting for another upload) run at once, because
    waiting never holds an upload slot."""
    uploads_now, most = 0, 0
    checked: list[int] = []

    async def handler(lease: Lease) -> Next:
        nonlocal uploads_now, most
        if lease.job.state in UPLOAD_STATES:
            uploads_now += 1
            most = max(most, uploads_now)
            try:
                await gate.wait()
            finally:
                uploads_now -= 1
        else:
            checked.append(lease.job.id)
        return Next("done")

    uploads = [await jobs.new(i) for i in range(5)]
    checks = [await jobs.new(10 + i, state="waiting") for i in range(3)]
    runner = make_runner(handler, concurrency=2, checks=4)
    await until(lambda: sorted(checked) == checks)
    await asyncio.sleep(0.3)  # several polls with free check slots: still two uploads
    assert (uploads_now, most) == (2, 2)
    assert runner.running == 2
    assert [await jobs.state(j) for j in uploads].count("queued") == 5
    gate.set()
    await runner.join(within=10)
    assert most == 2
    assert {await jobs.state(j) for j in uploads + checks} == {"done"}


async def test_a_scheduled_step_is_not_rerun_before_its_delay(
    jobs: Jobs, make_runner: Make,
) -> None:
    """An upload done, the service still "pinning": the status check comes after the delay
    (not in a tight loop against the service), in a check slot."""
    runs: list[tuple[str, float]] = []

    async def handler(lease: Lease) -> Next:
        runs.append((lease.job.state, time.monotonic()))
        return Next("uploaded", 1.0) if lease.job.state == "queued" else Next("done")

    job_id = await jobs.new(1)
    runner = make_runner(handler)
    await until(lambda: len(runs) == 1)
    await asyncio.sleep(0.6)
    assert len(runs) == 1  # twelve polls so far: none ran it early
    assert await jobs.state(job_id) == "uploaded"
    await runner.join(within=5)
    assert [state for state, _ in runs] == ["queued", "uploaded"]
    assert runs[1][1] - runs[0][1] >= 0.95
    assert await jobs.state(job_id) == "done"


async def test_a_handler_bug_fails_its_job_and_the_runner_goes_on(
    jobs: Jobs, make_runner: Make, caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[int] = []
    broken = await jobs.new(1)

    async def handler(lease: Lease) -> Next:
        ran.append(lease.job.id)
        if lease.job.id == broken:
            raise KeyError("a bug")
        return Next("done")

    fine = [await jobs.new(2 + i) for i in range(3)]
    runner = make_runner(handler, concurrency=1)
    await runner.join(within=5)
    job = await jobs.store.get(broken)
    assert job is not None
    assert (job.state, job.error, job.lease_owner) == ("failed", "unexpected error (see logs)",
                                                      None)
    assert {await jobs.state(j) for j in fine} == {"done"}
    assert sorted(ran) == sorted([broken, *fine])  # the failed job is not run again
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and f"job {broken} " in errors[0].getMessage()
    # The trace goes to the log, for the operator (already scrubbed by pinbot's redaction).
    assert "KeyError: 'a bug'" in (errors[0].exc_text or "")


async def test_a_stolen_lease_cancels_the_job_here_and_fences_its_writes(
    jobs: Jobs, make_runner: Make,
) -> None:
    """This process stalled and another took the job over: the heartbeat notices, the job is
    stopped here, and a write it still tries is refused (the newer run's record stands)."""
    started = asyncio.Event()
    late_write: list[BaseException] = []

    async def handler(lease: Lease) -> Next:
        await lease.save(state="uploading", attempts=1)
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            try:
                await lease.save(state="failed", error="stale run", attempts=7)
            except LeaseLost as exc:
                late_write.append(exc)
            raise
        return Next("done")

    job_id = await jobs.new(1)
    runner = make_runner(handler, lease_seconds=0.6)  # heartbeat every 0.2 s
    await asyncio.wait_for(started.wait(), 5)
    await jobs.set(job_id, lease_owner="otherhost:9:thief",
                  lease_until=utcnow() + timedelta(hours=1))
    await until(lambda: runner.running == 0, within=3)
    assert len(late_write) == 1
    job = await jobs.store.get(job_id)
    assert job is not None
    assert (job.state, job.attempts, job.error, job.lease_owner) == (
        "uploading", 1, None, "otherhost:9:thief")


async def test_aclose_hands_running_jobs_back_for_another_process(
    jobs: Jobs, make_runner: Make,
) -> None:
    """A clean shutdown (deploy): what finishes within the grace finishes; what does not is
    handed back as it stands (lease dropped, state kept), and the next runner resumes it at
    once instead of after PINBOT_JOB_LEASE."""
    started: set[int] = set()
    resumed: list[tuple[int, str, int]] = []
    slow = await jobs.new(1)
    quick = await jobs.new(2)

    async def first(lease: Lease) -> Next:
        started.add(lease.job.id)
        if lease.job.id == quick:
            await asyncio.sleep(0.1)
            return Next("done")
        await lease.save(state="uploading", attempts=1, ambiguous=True)
        await asyncio.sleep(60)
        return Next("done")

    async def second(lease: Lease) -> Next:
        resumed.append((lease.job.id, lease.started_in, lease.job.attempts))
        return Next("done")

    runner = make_runner(first, lease_seconds=300)
    await until(lambda: started == {slow, quick})
    await runner.aclose(grace=0.5)
    assert await jobs.state(quick) == "done"  # finished within the grace
    job = await jobs.store.get(slow)
    assert job is not None
    assert (job.state, job.attempts, job.ambiguous) == ("uploading", 1, True)
    assert job.lease_owner is None and job.lease_until is None
    t0 = time.monotonic()
    make_runner(second, poll_interval=30)
    await until(lambda: len(resumed) == 1, within=2)
    assert time.monotonic() - t0 < 2
    # The resumed run knows it starts mid-upload, so it looks for the earlier attempt first.
    assert resumed == [(slow, "uploading", 1)]


async def test_kick_starts_work_without_waiting_for_the_poll(
    jobs: Jobs, make_runner: Make,
) -> None:
    """A share's job starts at once, not at the next poll (PINBOT's poll is a safety net)."""
    ran = asyncio.Event()

    async def handler(lease: Lease) -> Next:
        ran.set()
        return Next("done")

    runner = make_runner(handler, poll_interval=30)
    await asyncio.sleep(0.3)  # the first poll has come and gone: the next is 24-36 s away
    await jobs.new(1)
    t0 = time.monotonic()
    runner.kick()
    await asyncio.wait_for(ran.wait(), 2)
    assert time.monotonic() - t0 < 1


async def test_join_waits_for_running_and_scheduled_work(
    jobs: Jobs, make_runner: Make,
) -> None:
    steps: list[str] = []

    async def handler(lease: Lease) -> Next:
        await asyncio.sleep(0.2)
        steps.append(lease.job.state)
        return Next("uploaded", 0.5) if lease.job.state == "queued" else Next("done")

    job_id = await jobs.new(1)
    runner = make_runner(handler)
    await runner.join(within=5)
    assert steps == ["queued", "uploaded"]  # the check due 0.5 s later was waited for
    assert await jobs.state(job_id) == "done"


async def test_join_gives_up_on_work_that_never_settles(
    jobs: Jobs, make_runner: Make,
) -> None:
    async def handler(lease: Lease) -> Next:
        return Next("uploaded", 0.2)  # a pin the service keeps "pinning"

    await jobs.new(1)
    runner = make_runner(handler)
    with pytest.raises(TimeoutError):
        await runner.join(within=1)


async def test_run_by_id_runs_a_free_job_and_leaves_a_held_one(
    jobs: Jobs, make_runner: Make,
) -> None:
    """The queue's path (a message names the job): it runs the job if nobody alive holds
    it, and never a job running in another process."""
    ran: list[int] = []

    async def handler(lease: Lease) -> Next:
        ran.append(lease.job.id)
        return Next("done")

    runner = make_runner(handler, poll_interval=30)
    await asyncio.sleep(0.3)  # past the first poll: from here only run_by_id runs jobs
    free = await jobs.new(1)
    held = await jobs.new(2)
    await jobs.set(held, lease_owner="otherhost:9:busy",
                   lease_until=utcnow() + timedelta(hours=1))
    assert await runner.run_by_id(held) is False
    assert await runner.run_by_id(free) is True  # returns once the step has run
    assert ran == [free]
    assert await jobs.state(free) == "done"
    assert await jobs.state(held) == "queued"
    assert await runner.run_by_id(free) is False  # done: nothing to run again

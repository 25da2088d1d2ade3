"""Job records' guarantees (bot/jobs/records.py), on SQLite and on the machine's PostgreSQL.

The lease is what makes a pin exactly-once across processes and crashes: a job runs in at
most one live process at a time, a dead process's job is resumed, and a process that lost its
lease cannot overwrite the newer run's progress. Each test attacks one of those promises on a
real, freshly migrated database.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.jobs import (
    ACTIVE_STATES,
    CHECK_STATES,
    UPLOAD_STATES,
    JobStore,
    LeaseLost,
    PinRequest,
    owners,
)
from bot.store import Ledger
from bot.store.ledger import utcnow
from bot.store.models import JobRow

pytestmark = pytest.mark.usefixtures("clean_env")

#: An owner on another host: nothing here can tell whether it lives, so only expiry frees it.
ELSEWHERE = "otherhost:123:abc"


@pytest.fixture
def store(ledger: Ledger) -> JobStore:
    return JobStore(ledger)


def share_request(file_id: str = "F1", team: str = "T1") -> PinRequest:
    return PinRequest("share", team, "C1", "U1", file_id=file_id, event_time=1_700_000_000.5)


async def row_of(ledger: Ledger, job_id: int) -> JobRow:
    async with ledger.sessions() as session:
        row: JobRow | None = await session.scalar(select(JobRow).where(JobRow.id == job_id))
    assert row is not None
    return row


async def set_row(ledger: Ledger, job_id: int, **values: Any) -> None:
    async with ledger.sessions.begin() as session:
        await session.execute(update(JobRow).where(JobRow.id == job_id).values(**values))


def dead_local_owner() -> str:
    """The owner id a process on this host had, after that process exited."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    pid = int(child.stdout)
    assert pid != os.getpid()
    return f"{owners.HOST}:{pid}:x"


async def test_create_is_idempotent_on_the_request_key(store: JobStore) -> None:
    """A Slack retry or a re-delivered queue message is the same job: one upload, one card."""
    first, created = await store.create(share_request(), "share:Ev1", pin_key="file:F1")
    again, created_again = await store.create(share_request(), "share:Ev1", pin_key="file:F1")
    assert created and not created_again
    assert again.id == first.id and again.upload_key == first.upload_key
    other, created_other = await store.create(share_request(), "share:Ev2", pin_key="file:F1")
    assert created_other and other.id != first.id
    assert other.upload_key != first.upload_key  # each job's upload is found by its own key
    # The key is per workspace: another team's event with the same id is another job.
    theirs, created_theirs = await store.create(share_request(team="T2"), "share:Ev1")
    assert created_theirs and theirs.id not in (first.id, other.id)
    assert first.state == "queued" and first.attempts == 0 and not first.ambiguous
    assert first.request == share_request()


async def test_ten_racing_leasers_never_share_a_job(store: JobStore, ledger: Ledger) -> None:
    """Ten processes polling at the same moment: every job leased by exactly one of them."""
    ids = {(await store.create(share_request(f"F{i}"), f"share:Ev{i}"))[0].id for i in range(5)}
    leasers = [owners.new_owner() for _ in range(10)]
    try:
        results = await asyncio.gather(*(
            store.lease(owner, ACTIVE_STATES, 5, 60, owners.is_dead) for owner in leasers))
    finally:
        for owner in leasers:
            owners.retire(owner)
    leased = [job.id for jobs in results for job in jobs]
    assert sorted(leased) == sorted(ids)  # each job once, none lost
    for owner, jobs in zip(leasers, results, strict=True):
        for job in jobs:
            assert job.lease_owner == owner
            assert (await row_of(ledger, job.id)).lease_owner == owner


async def test_a_live_lease_elsewhere_is_taken_only_after_it_expires(store: JobStore) -> None:
    job, _ = await store.create(share_request(), "share:Ev1")
    [held] = await store.lease(ELSEWHERE, UPLOAD_STATES, 1, 1.0, owners.is_dead)
    assert held.id == job.id
    me = owners.new_owner()
    try:
        assert await store.lease(me, UPLOAD_STATES, 1, 60, owners.is_dead) == []
        assert await store.lease_one(job.id, me, 60, owners.is_dead) is None
        await asyncio.sleep(1.2)
        [taken] = await store.lease(me, UPLOAD_STATES, 1, 60, owners.is_dead)
    finally:
        owners.retire(me)
    assert taken.id == job.id and taken.lease_owner == me
    assert taken.lease_until is not None and taken.lease_until > utcnow() + timedelta(seconds=50)


async def test_a_dead_local_owner_s_lease_is_taken_at_once(store: JobStore) -> None:
    """SIGKILL, OOM: the process is gone, so its hour-long lease is not waited out."""
    job, _ = await store.create(share_request(), "share:Ev1")
    dead = dead_local_owner()
    assert await store.lease(dead, UPLOAD_STATES, 1, 3600)
    me = owners.new_owner()
    try:
        [taken] = await store.lease(me, UPLOAD_STATES, 1, 60, owners.is_dead)
    finally:
        owners.retire(me)
    assert taken.id == job.id and taken.lease_owner == me


async def test_lease_one_takes_a_dead_owner_s_job_too(store: JobStore) -> None:
    """The queue's path (a message names the job) resumes a crashed worker's job at once."""
    job, _ = await store.create(share_request(), "share:Ev1")
    await store.lease(dead_local_owner(), UPLOAD_STATES, 1, 3600)
    me = owners.new_owner()
    try:
        taken = await store.lease_one(job.id, me, 60, owners.is_dead)
    finally:
        owners.retire(me)
    assert taken is not None and taken.lease_owner == me


async def test_a_retired_runner_of_this_process_is_dead_a_live_one_is_not(
    store: JobStore, ledger: Ledger,
) -> None:
    """Same pid: a closed runner (or an earlier incarnation reusing the pid) is dead; a
    runner still open in this process is alive and keeps its job."""
    first, _ = await store.create(share_request("F1"), "share:Ev1")
    second, _ = await store.create(share_request("F2"), "share:Ev2")
    retired, live = owners.new_owner(), owners.new_owner()
    me = owners.new_owner()
    try:
        assert await store.lease_one(first.id, retired, 3600)
        assert await store.lease_one(second.id, live, 3600)
        owners.retire(retired)
        taken = await store.lease(me, UPLOAD_STATES, 2, 60, owners.is_dead)
    finally:
        for owner in (live, me):
            owners.retire(owner)
    assert [job.id for job in taken] == [first.id]
    assert (await row_of(ledger, second.id)).lease_owner == live


async def test_save_after_a_takeover_raises_and_changes_nothing(store: JobStore) -> None:
    """A stalled process that lost its lease cannot overwrite the newer run's progress."""
    job, _ = await store.create(share_request(), "share:Ev1")
    [stalled] = await store.lease("otherhost:1:old", UPLOAD_STATES, 1, 0.5)
    await asyncio.sleep(0.7)
    [newer] = await store.lease("otherhost:2:new", UPLOAD_STATES, 1, 60)
    newer = await store.save(newer, "otherhost:2:new", state="uploading", attempts=1,
                             result={"pin": "p-new"})
    with pytest.raises(LeaseLost):
        await store.save(stalled, "otherhost:1:old", state="failed", attempts=9,
                         error="stale", result={"pin": "p-old"})
    with pytest.raises(LeaseLost):
        await store.release(stalled, "otherhost:1:old", state="done")
    after = await store.get(job.id)
    assert after is not None
    assert (after.state, after.attempts, after.error, after.result) == (
        "uploading", 1, None, {"pin": "p-new"})
    assert after.lease_owner == "otherhost:2:new"


async def test_renew_returns_only_the_leases_still_held(store: JobStore, ledger: Ledger) -> None:
    a, _ = await store.create(share_request("F1"), "share:Ev1")
    b, _ = await store.create(share_request("F2"), "share:Ev2")
    c, _ = await store.create(share_request("F3"), "share:Ev3")
    mine = "otherhost:1:me"
    await store.lease(mine, UPLOAD_STATES, 3, 1.0)
    thief_until = utcnow() + timedelta(seconds=5)
    await set_row(ledger, b.id, lease_owner="otherhost:2:thief",  # taken over meanwhile
                  lease_until=thief_until)
    await store.drop_lease([c.id], mine)
    held = await store.renew(mine, [a.id, b.id, c.id], 60)
    assert held == {a.id}
    renewed = await store.get(a.id)
    assert renewed is not None and renewed.lease_until is not None
    assert renewed.lease_until > utcnow() + timedelta(seconds=50)  # extended, not only told
    # Renewing touches nobody else's lease: b stays the thief's, on the thief's clock.
    theirs = await store.get(b.id)
    assert theirs is not None and theirs.lease_owner == "otherhost:2:thief"
    assert theirs.lease_until is not None
    assert abs((theirs.lease_until - thief_until).total_seconds()) < 0.01
    assert (await row_of(ledger, c.id)).lease_owner is None
    assert await store.renew(mine, [], 60) == set()


async def test_release_sets_the_next_state_and_frees_the_lease(
    store: JobStore, ledger: Ledger,
) -> None:
    job, _ = await store.create(share_request(), "share:Ev1")
    [leased] = await store.lease("otherhost:1:a", UPLOAD_STATES, 1, 3600)
    released = await store.release(leased, "otherhost:1:a", state="uploaded", delay=30,
                                   result={"pin": "p-1"})
    assert released.state == "uploaded" and released.result == {"pin": "p-1"}
    assert released.lease_owner is None and released.lease_until is None
    assert released.run_after is not None
    assert released.run_after > utcnow() + timedelta(seconds=25)
    # Not due for 30 s: nobody leases it meanwhile, although its lease is free.
    assert await store.lease("otherhost:2:b", CHECK_STATES, 5, 60) == []
    assert await store.lease_one(job.id, "otherhost:2:b", 60) is None
    await set_row(ledger, job.id, run_after=utcnow() - timedelta(seconds=1))
    [again] = await store.lease("otherhost:2:b", CHECK_STATES, 5, 60)
    assert again.id == job.id and again.state == "uploaded"


async def test_jobs_not_yet_due_are_not_leased(store: JobStore, ledger: Ledger) -> None:
    later, _ = await store.create(share_request("F1"), "share:Ev1", delay=30)
    now, _ = await store.create(share_request("F2"), "share:Ev2")
    leased = await store.lease("otherhost:1:a", ACTIVE_STATES, 10, 60)
    assert [job.id for job in leased] == [now.id]
    assert await store.lease_one(later.id, "otherhost:1:a", 60) is None
    assert (await row_of(ledger, later.id)).lease_owner is None


async def test_final_states_are_never_leased(store: JobStore, ledger: Ledger) -> None:
    done, _ = await store.create(share_request("F1"), "share:Ev1")
    failed, _ = await store.create(share_request("F2"), "share:Ev2")
    await set_row(ledger, done.id, state="done")
    await set_row(ledger, failed.id, state="failed")
    assert await store.lease("otherhost:1:a", ACTIVE_STATES, 10, 60) == []
    assert await store.lease_one(done.id, "otherhost:1:a", 60) is None


async def test_drop_lease_frees_the_job_at_once(store: JobStore) -> None:
    """A clean shutdown mid-job: another process resumes it now, not after the lease."""
    job, _ = await store.create(share_request(), "share:Ev1")
    [leased] = await store.lease("otherhost:1:a", UPLOAD_STATES, 1, 3600)
    await store.save(leased, "otherhost:1:a", state="uploading", attempts=1, ambiguous=True)
    await store.drop_lease([job.id], "otherhost:2:not-the-owner")  # not theirs to drop
    assert await store.lease("otherhost:3:c", UPLOAD_STATES, 1, 60) == []
    await store.drop_lease([job.id], "otherhost:1:a")
    [resumed] = await store.lease("otherhost:3:c", UPLOAD_STATES, 1, 60)
    # State and progress kept: the resumed run knows it must look for the earlier attempt.
    assert (resumed.id, resumed.state, resumed.attempts, resumed.ambiguous) == (
        job.id, "uploading", 1, True)


async def test_counts_are_per_active_state(store: JobStore, ledger: Ledger) -> None:
    assert await store.counts() == {}
    ids = [(await store.create(share_request(f"F{i}"), f"share:Ev{i}"))[0].id
           for i in range(6)]
    for job_id, state in zip(ids, ["queued", "uploading", "uploading", "waiting", "done",
                                   "failed"], strict=True):
        await set_row(ledger, job_id, state=state)
    assert await store.counts() == {"queued": 1, "uploading": 2, "waiting": 1}


async def test_next_due_within_sees_scheduled_and_running_jobs(
    store: JobStore, ledger: Ledger,
) -> None:
    """What `join()` and the worker's idle check rely on."""
    assert not await store.next_due_within(2)
    job, _ = await store.create(share_request(), "share:Ev1", delay=30)
    assert not await store.next_due_within(2)
    assert await store.next_due_within(60)
    await set_row(ledger, job.id, lease_owner="otherhost:1:a")  # running somewhere
    assert await store.next_due_within(2)
    await set_row(ledger, job.id, state="done")
    assert not await store.next_due_within(60)


async def test_free_jobs_behind_many_leased_ones_are_still_leased(
    store: JobStore, ledger: Ledger,
) -> None:
    """Twenty older jobs run in other live processes; a process with one free slot still
    finds the newer job nobody holds (it must not give up after the oldest few rows)."""
    for i in range(20):
        job, _ = await store.create(share_request(f"F{i}"), f"share:Ev{i}")
        await set_row(ledger, job.id, lease_owner=f"otherhost:{i}:busy",
                      lease_until=utcnow() + timedelta(hours=1),
                      run_after=utcnow() - timedelta(minutes=10))
    waiting, _ = await store.create(share_request("Fnew"), "share:EvNew")
    leased = await store.lease("otherhost:99:free", UPLOAD_STATES, 1, 60, owners.is_dead)
    assert [job.id for job in leased] == [waiting.id]


async def test_prune_forgets_only_jobs_that_ended_long_ago(store: JobStore, ledger: Ledger) -> None:
    """The table does not grow forever, and pruning never touches live or recent work."""
    ids = [(await store.create(share_request(f"F{i}"), f"share:Ev{i}"))[0].id for i in range(5)]
    old = utcnow() - timedelta(days=30)
    await set_row(ledger, ids[0], state="done", updated_at=old)
    await set_row(ledger, ids[1], state="failed", updated_at=old)
    await set_row(ledger, ids[2], state="uploading", updated_at=old)  # long upload: kept
    await set_row(ledger, ids[3], state="done")  # ended just now: kept
    assert await store.prune(utcnow() - timedelta(days=7)) == 2
    async with ledger.sessions() as session:
        left = set((await session.scalars(select(JobRow.id))).all())
    assert left == {ids[2], ids[3], ids[4]}
    # A Slack retry of a pruned request is a new job again (only after the retention).
    assert (await store.create(share_request("F0"), "share:Ev0"))[1]

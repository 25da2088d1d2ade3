"""Durable job records: one per pin request, leased by the process that runs it.

The record is the truth about a request: what was asked (`PinRequest`), how far it got
(`state`), the Slack message that shows it (the card), the upload key that makes its upload
idempotent, and who runs it now. A lease is an owner and a deadline, renewed while the job
runs; every write a job makes is fenced on its lease, so a process that lost its lease (it
stalled, another took over) cannot overwrite the newer run's progress.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..store import Ledger, LedgerUnavailable
from ..store.ledger import DB_ERRORS, aware, reason, utcnow
from ..store.models import JobRow

log = logging.getLogger(__name__)

Kind = Literal["share", "reaction", "shortcut", "folder", "cid", "catchup"]
KINDS: tuple[Kind, ...] = ("share", "reaction", "shortcut", "folder", "cid", "catchup")

#: queued → uploading → uploaded → done | failed; `waiting` is a request that waits for
#: another request's upload of the same content (a scheduled check, no upload slot).
UPLOAD_STATES = ("queued", "uploading")
CHECK_STATES = ("waiting", "uploaded")
ACTIVE_STATES = UPLOAD_STATES + CHECK_STATES
FINAL_STATES = ("done", "failed")


#: What a job row that pinbot did not write itself makes `Job.of` raise (bad JSON, a field
#: of another release, JSON of the wrong shape).
UNREADABLE = (ValueError, TypeError, KeyError, AttributeError)


class LeaseLost(Exception):
    """Another process took this job over (this one stalled past its lease): stop at once."""


@dataclass(frozen=True, slots=True)
class PinRequest:
    """What somebody asked for, as the job needs it after any restart."""

    kind: Kind
    team_id: str
    channel_id: str
    user_id: str
    file_id: str = ""
    #: "Pin as folder": the message's files.
    file_ids: tuple[str, ...] = ()
    message_ts: str | None = None
    thread_ts: str | None = None
    #: When Slack says the event happened (epoch seconds): a stale backlog is skipped.
    event_time: float | None = None
    cid: str = ""
    name: str | None = None
    #: `/pin CID` answers through the command's response_url (ephemeral, 30 minutes).
    response_url: str | None = None

    @property
    def explicit(self) -> bool:
        """Somebody asked for this very pin (not an automatic share): always answer them."""
        return self.kind in ("reaction", "shortcut", "cid", "folder")

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> PinRequest:
        data = json.loads(text)
        data["file_ids"] = tuple(data.get("file_ids") or ())
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    team_id: str
    kind: Kind
    request_key: str
    state: str
    request: PinRequest
    pin_key: str | None
    pin_row_id: int | None
    card_channel: str | None
    card_ts: str | None
    attempts: int
    upload_key: str
    ambiguous: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    run_after: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, row: JobRow) -> Job:
        if row.kind not in KINDS:
            raise ValueError(f"unknown job kind {row.kind[:16]!r}")
        return cls(
            id=row.id, team_id=row.team_id, kind=row.kind,
            request_key=row.request_key, state=row.state,
            request=PinRequest.from_json(row.request), pin_key=row.pin_key,
            pin_row_id=row.pin_row_id, card_channel=row.card_channel, card_ts=row.card_ts,
            attempts=row.attempts, upload_key=row.upload_key, ambiguous=row.ambiguous,
            result=json.loads(row.result) if row.result else {}, error=row.error,
            lease_owner=row.lease_owner, lease_until=aware(row.lease_until),
            run_after=aware(row.run_after), created_at=aware(row.created_at),
            updated_at=aware(row.updated_at),
        )

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


#: Decides whether a lease held by `owner` may be taken over although it has not expired
#: (its process is known to be dead). Expired leases are always taken over.
OwnerIsDead = Callable[[str], bool]


def _never(owner: str) -> bool:
    return False


class JobStore:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @property
    def _session(self) -> Any:
        return self._ledger.sessions

    async def create(
        self, request: PinRequest, request_key: str, *, pin_key: str | None = None,
        delay: float = 0.0,
    ) -> tuple[Job, bool]:
        """The job for this request, and whether this call created it (idempotent)."""
        now = utcnow()
        row = JobRow(
            team_id=request.team_id, kind=request.kind, request_key=request_key[:255],
            state="queued", request=request.to_json(), attempts=0, pin_key=pin_key,
            upload_key=uuid.uuid4().hex, ambiguous=False,
            run_after=now + timedelta(seconds=delay), created_at=now, updated_at=now,
        )
        try:
            async with self._session.begin() as session:
                session.add(row)
            return Job.of(row), True
        except IntegrityError:
            pass
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        existing = await self._one(select(JobRow).where(
            JobRow.team_id == request.team_id, JobRow.request_key == request_key[:255]))
        if existing is None:  # deleted in between: extremely unlikely; treat as a duplicate
            raise LedgerUnavailable("job row vanished while being created")
        return existing, False

    async def get(self, job_id: int) -> Job | None:
        return await self._one(select(JobRow).where(JobRow.id == job_id))

    async def for_pin_key(self, team_id: str, pin_key: str) -> list[Job]:
        return await self._many(select(JobRow).where(
            JobRow.team_id == team_id, JobRow.pin_key == pin_key).order_by(JobRow.id))

    async def for_file(self, team_id: str, file_id: str) -> bool:
        """Whether any job was ever made for this Slack file (catch-up skips those)."""
        found = await self._one(select(JobRow).where(
            JobRow.team_id == team_id, JobRow.pin_key == f"file:{file_id}").limit(1))
        return found is not None

    async def due(self, states: Sequence[str], limit: int) -> list[Job]:
        """Jobs in `states` whose time has come, oldest first (leased or not)."""
        now = utcnow()
        return await self._many(
            select(JobRow)
            .where(JobRow.state.in_(states), JobRow.run_after <= now)
            .order_by(JobRow.run_after, JobRow.id)
            .limit(limit)
        )

    async def lease(
        self, owner: str, states: Sequence[str], limit: int, seconds: float,
        owner_is_dead: OwnerIsDead = _never,
    ) -> list[Job]:
        """Lease up to `limit` due jobs that nobody (alive) holds. Compare-and-set per row."""
        if limit <= 0:
            return []
        now = utcnow()
        # Only rows this owner may take: free, lapsed, or held by an owner known dead. (Jobs
        # running elsewhere are due too, and oldest first; fetching them would hide the free
        # ones behind them, and a process with a free slot would find no work.)
        dead = [] if owner_is_dead is _never else [
            o for o in await self._live_owners(states, now, owner) if owner_is_dead(o)]
        takeable = or_(JobRow.lease_owner.is_(None), JobRow.lease_until <= now,
                       JobRow.lease_owner.in_(dead))
        leased: list[Job] = []
        for job in await self._many(
            select(JobRow)
            .where(JobRow.state.in_(states), JobRow.run_after <= now, takeable)
            .order_by(JobRow.run_after, JobRow.id)
            .limit(limit * 4)
        ):
            if len(leased) >= limit:
                break
            if not self._free(job, now, owner, owner_is_dead):
                continue
            taken = await self._take(job, owner, now, seconds)
            if taken is not None:
                leased.append(taken)
        return leased

    async def _live_owners(self, states: Sequence[str], now: datetime, owner: str
                           ) -> list[str]:
        """Other owners holding unexpired leases in `states` (one per process, so few)."""
        try:
            async with self._session() as session:
                found = (await session.scalars(
                    select(JobRow.lease_owner).distinct()
                    .where(JobRow.state.in_(states), JobRow.lease_until > now,
                           JobRow.lease_owner.is_not(None), JobRow.lease_owner != owner)
                )).all()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return [str(o) for o in found]

    async def lease_one(
        self, job_id: int, owner: str, seconds: float, owner_is_dead: OwnerIsDead = _never
    ) -> Job | None:
        job = await self.get(job_id)
        now = utcnow()
        if job is None or not job.active or job.run_after is None or job.run_after > now:
            return None
        if not self._free(job, now, owner, owner_is_dead):
            return None
        return await self._take(job, owner, now, seconds)

    @staticmethod
    def _free(job: Job, now: datetime, owner: str, owner_is_dead: OwnerIsDead) -> bool:
        if job.lease_owner is None or job.lease_until is None or job.lease_until <= now:
            return True
        return job.lease_owner != owner and owner_is_dead(job.lease_owner)

    async def _take(self, job: Job, owner: str, now: datetime, seconds: float) -> Job | None:
        """Compare-and-set: the lease is still as observed (free, lapsed, or the dead owner's)."""
        if job.lease_owner is None:
            observed: Any = JobRow.lease_owner.is_(None)
        elif job.lease_until is not None and job.lease_until <= now:
            observed = and_(JobRow.lease_owner == job.lease_owner, JobRow.lease_until <= now)
        else:  # a live-looking lease whose owner is known dead
            observed = JobRow.lease_owner == job.lease_owner
        try:
            async with self._session.begin() as session:
                result = await session.execute(
                    update(JobRow)
                    .where(JobRow.id == job.id, JobRow.state == job.state, observed)
                    .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds),
                            updated_at=now)
                )
                if _rowcount(result) != 1:
                    return None
                row = await session.get(JobRow, job.id, populate_existing=True)
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return Job.of(row) if row is not None else None

    async def renew(self, owner: str, job_ids: Iterable[int], seconds: float) -> set[int]:
        """Extend this owner's leases; the ids it still holds (a missing one was taken over)."""
        ids = list(job_ids)
        if not ids:
            return set()
        now = utcnow()
        try:
            async with self._session.begin() as session:
                await session.execute(
                    update(JobRow)
                    .where(JobRow.id.in_(ids), JobRow.lease_owner == owner)
                    .values(lease_until=now + timedelta(seconds=seconds))
                )
                held = (await session.scalars(
                    select(JobRow.id).where(JobRow.id.in_(ids), JobRow.lease_owner == owner)
                )).all()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return set(held)

    async def save(self, job: Job, owner: str, **values: Any) -> Job:
        """Write progress of a job this owner holds; `LeaseLost` if it no longer does."""
        if "result" in values and isinstance(values["result"], dict):
            values["result"] = json.dumps(values["result"], separators=(",", ":"))
        values["updated_at"] = utcnow()
        try:
            async with self._session.begin() as session:
                result = await session.execute(
                    update(JobRow).where(JobRow.id == job.id, JobRow.lease_owner == owner)
                    .values(**values)
                )
                if _rowcount(result) != 1:
                    raise LeaseLost(f"job {job.id} is no longer held by this process")
                row = await session.get(JobRow, job.id, populate_existing=True)
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        assert row is not None
        return Job.of(row)

    async def release(
        self, job: Job, owner: str, *, state: str, delay: float = 0.0, **values: Any
    ) -> Job:
        """End this run: the job's next state (and when to look again), lease given back."""
        return await self.save(
            job, owner, state=state, lease_owner=None, lease_until=None,
            run_after=utcnow() + timedelta(seconds=delay), **values,
        )

    async def drop_lease(self, job_ids: Iterable[int], owner: str) -> None:
        """Give leases back without changing state (a clean shutdown mid-job): another
        process resumes these jobs at once instead of waiting for the lease to lapse."""
        ids = list(job_ids)
        if not ids:
            return
        try:
            async with self._session.begin() as session:
                await session.execute(
                    update(JobRow).where(JobRow.id.in_(ids), JobRow.lease_owner == owner)
                    .values(lease_owner=None, lease_until=None, updated_at=utcnow())
                )
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None

    async def prune(self, finished_before: datetime) -> int:
        """Delete jobs that ended before this time (their pins stay in the ledger).

        A finished job is still useful for a while: its request key turns a late Slack retry
        into a no-op, and catch-up skips files that have a job. Both look back at most
        `PINBOT_MAX_EVENT_AGE`; the caller keeps jobs at least that long.
        """
        try:
            async with self._session.begin() as session:
                result = await session.execute(
                    delete(JobRow).where(JobRow.state.in_(FINAL_STATES),
                                         JobRow.updated_at < finished_before))
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return _rowcount(result)

    async def counts(self) -> dict[str, int]:
        """Jobs per active state (for /healthz, /metrics and tests waiting for quiet)."""
        try:
            async with self._session() as session:
                rows = (await session.execute(
                    select(JobRow.state, func.count(JobRow.id))
                    .where(JobRow.state.in_(ACTIVE_STATES)).group_by(JobRow.state)
                )).all()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return {str(state): int(n) for state, n in rows}

    async def next_due_within(self, seconds: float) -> bool:
        """Whether an active job is due now or within `seconds` (scheduled checks included)."""
        horizon = utcnow() + timedelta(seconds=seconds)
        found = await self._one(
            select(JobRow).where(JobRow.state.in_(ACTIVE_STATES),
                                 or_(JobRow.run_after <= horizon,
                                     and_(JobRow.lease_owner.is_not(None))))
            .limit(1)
        )
        return found is not None

    async def _one(self, query: Any) -> Job | None:
        jobs = await self._many(query)
        return jobs[0] if jobs else None

    async def _many(self, query: Any) -> list[Job]:
        try:
            async with self._session() as session:
                rows = (await session.scalars(query)).all()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        jobs: list[Job] = []
        unreadable: list[int] = []
        for row in rows:
            try:
                jobs.append(Job.of(row))
            except UNREADABLE as exc:
                # One such row (hand-edited, truncated, written by a newer release) must not
                # stop every poll: it would sort first forever and no job would run again.
                log.warning("job %d set aside: unreadable job record (%s)", row.id,
                            type(exc).__name__)
                unreadable.append(row.id)
        if unreadable:
            await self._set_aside(unreadable)
        return jobs

    async def _set_aside(self, job_ids: list[int]) -> None:
        """Fail unreadable rows so no poll or lookup meets them again (kept for the admins)."""
        try:
            async with self._session.begin() as session:
                await session.execute(
                    update(JobRow).where(JobRow.id.in_(job_ids)).values(
                        state="failed", lease_owner=None, lease_until=None,
                        error="unreadable job record; set aside", updated_at=utcnow()))
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None


def with_result(job: Job, **values: Any) -> dict[str, Any]:
    """The job's result merged with new values (results are small JSON objects)."""
    return {**job.result, **values}


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


__all__ = [
    "ACTIVE_STATES", "CHECK_STATES", "FINAL_STATES", "KINDS", "UPLOAD_STATES", "Job",
    "JobStore", "Kind", "LeaseLost", "OwnerIsDead", "PinRequest", "with_result",
]

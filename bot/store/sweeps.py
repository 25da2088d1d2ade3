"""The sweep's lease: exactly one process in the deployment sweeps at a time.

Like a job's lease (bot.jobs.records): taken with a compare-and-set on the row, renewed while
the sweep runs, and taken over by anyone once it lapses, so a sweeper killed mid-pass is
replaced within one lease and two replicas never sweep together. Every write a sweep makes
on pins is idempotent besides, so a pass cut short is simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from .ledger import DB_ERRORS, Ledger, LedgerUnavailable, aware, reason, utcnow
from .models import SweepRow


@dataclass(frozen=True, slots=True)
class SweepState:
    name: str
    lease_owner: str | None
    lease_until: datetime | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_result: str | None


class SweepLeases:
    def __init__(self, ledger: Ledger) -> None:
        self._session = ledger.sessions

    async def acquire(self, name: str, owner: str, seconds: float, *,
                      idle_for: float | None = None) -> bool:
        """Take (or keep) the lease on `name` for `seconds`; False while another holds it.

        `idle_for` (starting a pass): also False when a pass finished less than that many
        seconds after it started, so N replicas sweep once per interval between them, not N
        times. A pass that never finished (its process died or stopped) does not count.
        """
        now = utcnow()
        until = now + timedelta(seconds=seconds)
        try:
            async with self._session.begin() as session:
                if await session.get(SweepRow, name) is None:
                    session.add(SweepRow(name=name))
        except IntegrityError:
            pass  # created by another process at the same moment
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        due = [] if idle_for is None else [or_(
            SweepRow.last_started_at.is_(None), SweepRow.last_finished_at.is_(None),
            SweepRow.last_finished_at < SweepRow.last_started_at,
            SweepRow.last_started_at < now - timedelta(seconds=idle_for),
        )]
        try:
            async with self._session.begin() as session:
                result = await session.execute(
                    update(SweepRow)
                    .where(SweepRow.name == name, *due)
                    .where(or_(SweepRow.lease_owner.is_(None), SweepRow.lease_owner == owner,
                               SweepRow.lease_until.is_(None), SweepRow.lease_until < now))
                    .values(lease_owner=owner, lease_until=until)
                )
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def started(self, name: str, owner: str) -> bool:
        """Record the start of a pass; False when the lease is no longer ours."""
        return await self._fenced(name, owner, last_started_at=utcnow())

    async def finished(self, name: str, owner: str, result: str) -> bool:
        """Record a pass's outcome (a one-line summary) and keep the lease until it lapses."""
        return await self._fenced(name, owner, last_finished_at=utcnow(),
                                  last_result=result[:2000])

    async def release(self, name: str, owner: str) -> None:
        """Give the lease up at shutdown so another process need not wait for it to lapse."""
        await self._fenced(name, owner, lease_owner=None, lease_until=None)

    async def state(self, name: str) -> SweepState | None:
        try:
            async with self._session() as session:
                row = await session.get(SweepRow, name)
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        if row is None:
            return None
        return SweepState(row.name, row.lease_owner, aware(row.lease_until),
                          aware(row.last_started_at), aware(row.last_finished_at),
                          row.last_result)

    async def _fenced(self, name: str, owner: str, **values: object) -> bool:
        try:
            async with self._session.begin() as session:
                result = await session.execute(
                    update(SweepRow)
                    .where(SweepRow.name == name, SweepRow.lease_owner == owner)
                    .values(**values)
                )
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return int(getattr(result, "rowcount", 0) or 0) == 1

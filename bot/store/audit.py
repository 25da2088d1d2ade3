"""The audit's queries: which pins to compare with the service, and what it found.

Two readers: `pinbot audit` walks one workspace at a time, every row, read-only; the sweep
walks every workspace's rows (it is deployment-wide), the least recently checked first, a
bounded number per pass. Every write is keyed by the row's id and is a compare-and-set on its
state, so a pin a person unpinned meanwhile (or that another sweeper, after a lost lease,
already corrected) is left alone, and its card is told once. Per-workspace queries filter on
`team_id` first: one workspace's numbers never include another's pins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from .ledger import DB_ERRORS, Ledger, LedgerUnavailable, PinRecord, reason, utcnow
from .models import PinRow

#: Rows read per query.
BATCH = 200
#: The status recorded for a pin the service no longer knows (404): it tells "gone" from
#: "unpinned at the service" in `/pins audit`, and is never shown on a card (unpinned cards
#: say "unpinned", whatever the status).
GONE = "GONE"
#: Service statuses that mean "still pinning" (`bot.w3ipfs.models.normalise_status`).
PINNING_WORDS = ("pinning", "pending", "queued", "processing", "in_progress")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Where a sweep's walk stopped: (last check, row id) of the last row seen.
Cursor = tuple[datetime, int]


def cursor(record: PinRecord) -> Cursor:
    return record.checked_at or _EPOCH, record.id


@dataclass(frozen=True, slots=True)
class DriftCounts:
    """One workspace's audit, as the ledger remembers it (for `/pins audit`)."""

    pinned: int
    #: Pinned rows compared with the service lately (by the audit, or a listing in Slack).
    checked: int
    never_checked: int
    #: Drift found lately, by kind: unpinned, gone, failed; and stuck (now).
    counts: dict[str, int] = field(default_factory=dict)
    #: The most recent drift rows, newest first, with their kind.
    examples: list[tuple[str, PinRecord]] = field(default_factory=list)


def _last_check() -> Any:
    """When a row was last compared; never-checked rows sort first, as if at the epoch."""
    return func.coalesce(PinRow.checked_at, _EPOCH)


def _to_check(pending_before: datetime) -> Any:
    """Rows the audit compares: pinned at the service, and claims pending far too long."""
    return or_(and_(PinRow.state == "pinned", PinRow.pin_id.is_not(None)),
               and_(PinRow.state == "pending", PinRow.updated_at < pending_before))


def _stuck(stuck_before: datetime) -> Any:
    return or_(
        and_(PinRow.state == "pinned", func.lower(PinRow.status).in_(PINNING_WORDS),
             PinRow.created_at < stuck_before),
        and_(PinRow.state == "pending", PinRow.updated_at < stuck_before))


class AuditStore:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._session = ledger.sessions

    # -- reading: `pinbot audit` -------------------------------------------------------------

    async def teams(self) -> list[str]:
        """Every workspace with pins to compare."""
        try:
            async with self._session() as session:
                rows = (await session.scalars(
                    select(PinRow.team_id).where(PinRow.state.in_(("pinned", "pending")))
                    .distinct().order_by(PinRow.team_id))).all()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return [str(r) for r in rows]

    async def count(self, team_id: str, pending_before: datetime) -> int:
        try:
            async with self._session() as session:
                total = await session.scalar(
                    select(func.count(PinRow.id))
                    .where(PinRow.team_id == team_id, _to_check(pending_before)))
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return int(total or 0)

    async def team_rows(self, team_id: str, pending_before: datetime, *, after: int = 0,
                        limit: int = BATCH) -> list[PinRecord]:
        """One workspace's rows to compare, in id order from after `after` (keyset paging)."""
        return await self._select(
            [PinRow.team_id == team_id, _to_check(pending_before), PinRow.id > after],
            [PinRow.id], limit)

    # -- reading: the sweep ------------------------------------------------------------------

    async def due(self, *, checked_before: datetime, pending_before: datetime,
                  after: Cursor | None = None, limit: int = BATCH) -> list[PinRecord]:
        """Rows of any workspace not compared since `checked_before`, least recently checked
        first. `after` continues past rows a pass left alone (a workspace not installed, or
        whose service failed), so they do not fill every batch of the pass."""
        conditions = [
            _to_check(pending_before),
            or_(PinRow.checked_at.is_(None), PinRow.checked_at < checked_before),
        ]
        if after is not None:
            last, row_id = after
            conditions.append(or_(_last_check() > last,
                                  and_(_last_check() == last, PinRow.id > row_id)))
        return await self._select(conditions, [_last_check(), PinRow.id], limit)

    async def _select(self, where: Sequence[Any], order: Sequence[Any],
                      limit: int) -> list[PinRecord]:
        try:
            async with self._session() as session:
                rows = (await session.scalars(
                    select(PinRow).where(*where).order_by(*order).limit(limit))).all()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return [PinRecord.of(r) for r in rows]

    # -- writing: the sweep's corrections ----------------------------------------------------

    async def checked(self, row_id: int, status: str | None) -> None:
        """No drift (or only "still pinning"): record the service's status and when."""
        now = utcnow()
        await self._set(row_id, [PinRow.state == "pinned"],
                        {"status": _status(status), "checked_at": now})

    async def unpinned(self, row_id: int, status: str, when: datetime) -> PinRecord | None:
        """Unpinned (or gone) at the service: the row says so; None if its end was recorded
        first by someone else (who then owns the card)."""
        now = utcnow()
        return await self._set(row_id, [PinRow.state == "pinned"], {
            "state": "unpinned", "status": _status(status), "unpinned_at": when,
            "unpinned_by": None, "unpin_reason": "service", "updated_at": now,
            "checked_at": now,
        })

    async def failed(self, row_id: int, status: str | None, error: str) -> PinRecord | None:
        """Failed at the service: recorded as a failed pin (sharing the file again pins it
        again, as for a pin that failed while its job watched)."""
        now = utcnow()
        return await self._set(row_id, [PinRow.state == "pinned"], {
            "state": "failed", "status": _status(status), "error": error[:2000],
            "updated_at": now, "checked_at": now,
        })

    async def abandoned(self, row_id: int, pending_before: datetime,
                        error: str) -> PinRecord | None:
        """A claim pending far too long: failed, so the file can be pinned again. A job that
        still finishes it later records its pin over this (`Ledger.complete`)."""
        now = utcnow()
        return await self._set(
            row_id, [PinRow.state == "pending", PinRow.updated_at < pending_before],
            {"state": "failed", "error": error[:2000], "updated_at": now, "checked_at": now})

    async def _set(self, row_id: int, where: Sequence[Any],
                   values: dict[str, Any]) -> PinRecord | None:
        return await self._ledger.update_if(row_id, where, values)

    # -- `/pins audit` -----------------------------------------------------------------------

    async def summary(self, team_id: str, *, checked_since: datetime, drift_since: datetime,
                      stuck_before: datetime, examples: int = 5) -> DriftCounts:
        """One workspace's numbers: pins compared with the service since `checked_since`,
        drift found since `drift_since` by kind (and pins stuck now), a few recent examples."""
        since = drift_since
        team = PinRow.team_id == team_id
        live = and_(team, PinRow.state == "pinned", PinRow.pin_id.is_not(None))
        by_service = and_(team, PinRow.state == "unpinned", PinRow.unpin_reason == "service",
                          PinRow.unpinned_at >= since)
        kinds: dict[str, Any] = {
            "unpinned": and_(by_service, or_(PinRow.status.is_(None), PinRow.status != GONE)),
            "gone": and_(by_service, PinRow.status == GONE),
            "failed": and_(team, PinRow.state == "failed", PinRow.pin_id.is_not(None),
                           PinRow.updated_at >= since),
            "stuck": and_(team, _stuck(stuck_before)),
        }
        try:
            async with self._session() as session:
                pinned, checked, never = (await session.execute(select(
                    func.count(PinRow.id),
                    func.count(PinRow.id).filter(PinRow.checked_at >= checked_since),
                    func.count(PinRow.id).filter(PinRow.checked_at.is_(None)),
                ).where(live))).one()
                counts = {}
                recent: list[tuple[str, PinRecord]] = []
                for kind, condition in kinds.items():
                    counts[kind] = int(await session.scalar(
                        select(func.count(PinRow.id)).where(condition)) or 0)
                    rows = (await session.scalars(
                        select(PinRow).where(condition)
                        .order_by(PinRow.updated_at.desc(), PinRow.id.desc())
                        .limit(examples))).all()
                    recent += [(kind, PinRecord.of(r)) for r in rows]
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        recent.sort(key=lambda item: item[1].updated_at, reverse=True)
        return DriftCounts(int(pinned or 0), int(checked or 0), int(never or 0), counts,
                           recent[:examples])


def _status(status: str | None) -> str | None:
    return status[:64] if status else status

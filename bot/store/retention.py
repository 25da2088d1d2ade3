"""The retention sweep's queries: pins past their expiry, pins due a 24-hour notice.

These run across every workspace (the sweep is deployment-wide), so each row they return carries
its own `team_id` and every write is keyed by the row's id: nothing here can touch another
workspace's pin by name. Each write is a conditional update (compare-and-set on the row's
state), so a pin kept, unpinned or already noticed meanwhile — by a person, or by a second
sweeper after a lease was lost — is left alone, and a pass cut short is simply run again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, false, or_, select

from .ledger import DB_ERRORS, Ledger, LedgerUnavailable, PinRecord, reason, utcnow
from .models import PinRow

#: Rows read per query: a pass walks the due pins in batches of this many.
BATCH = 100
#: Notices go out this long before a pin expires, and only under policies at least
#: `NOTICE_MIN_RETENTION` long (a 1-hour policy would notice every pin at once).
NOTICE_AHEAD = timedelta(hours=24)
NOTICE_MIN_RETENTION = 2 * 86400

#: Where a batch stopped: (expires_at, row id) of the last row seen.
Cursor = tuple[datetime, int]


class RetentionStore:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._session = ledger.sessions

    async def due(self, now: datetime, *, after: Cursor | None = None,
                  limit: int = BATCH) -> list[PinRecord]:
        """Pins of any workspace whose retention has run out, oldest expiry first.

        `after` continues below the last batch, so rows a pass leaves (a workspace that is
        down) do not come back in every batch of the same pass.
        """
        return await self._batch([PinRow.expires_at <= now], after, limit)

    async def due_notice(self, now: datetime, *, after: Cursor | None = None,
                         limit: int = BATCH) -> list[PinRecord]:
        """Pins under a policy of 2 days or more that expire within 24 h and were not told."""
        return await self._batch([
            PinRow.expires_at > now, PinRow.expires_at <= now + NOTICE_AHEAD,
            PinRow.retention_seconds >= NOTICE_MIN_RETENTION, PinRow.noticed_at.is_(None),
        ], after, limit)

    async def claim_unpin(self, row_id: int, now: datetime) -> PinRecord | None:
        """Take the pin for its retention unpin, just before the service is asked: None once
        it was kept, unpinned or given a later expiry meanwhile.

        The hold (`unpin_reason` "retention" on a row still pinned) is what a Keep pressed
        while the service is answering sees: it is told the pin is being unpinned, instead of
        "Kept" for a pin that is gone a moment later. A hold left by a sweeper that died is
        taken again by the next pass (the pin is still due); `release_unpin` lets it go when
        the service failed.
        """
        return await self._set(row_id, [*_live(), PinRow.expires_at <= now],
                               {"unpin_reason": "retention"})

    async def release_unpin(self, row_id: int) -> None:
        """The service did not unpin it: the pin waits for the next pass, and may be kept."""
        await self._set(row_id, [PinRow.state == "pinned", PinRow.unpin_reason == "retention"],
                        {"unpin_reason": None})

    async def mark_expired(self, row_id: int) -> PinRecord | None:
        """Record the retention unpin; the updated row, or None when another writer (a person's
        unpin, another sweeper) recorded this pin's end first — then it owns the card too."""
        now = utcnow()
        return await self._set(row_id, [PinRow.state == "pinned"], {
            "state": "unpinned", "unpinned_at": now, "unpinned_by": None, "updated_at": now,
            "checked_at": now, "unpin_reason": "retention",
        })

    async def claim_notice(self, row_id: int) -> PinRecord | None:
        """Take the right to post this pin's notice (noticed_at: null -> now); None if taken,
        kept or unpinned meanwhile."""
        return await self._set(row_id, [*_live(), PinRow.noticed_at.is_(None)],
                               {"noticed_at": utcnow()})

    async def release_notice(self, row_id: int) -> None:
        """The notice could not be posted: let the next sweep try again."""
        await self._set(row_id, [PinRow.noticed_at.is_not(None)], {"noticed_at": None})

    async def _batch(self, where: Sequence[Any], after: Cursor | None,
                     limit: int) -> list[PinRecord]:
        conditions = [*_live(), *where]
        if after is not None:
            expires, row_id = after
            conditions.append(or_(PinRow.expires_at > expires,
                                  and_(PinRow.expires_at == expires, PinRow.id > row_id)))
        try:
            async with self._session() as session:
                rows = (await session.scalars(
                    select(PinRow).where(*conditions)
                    .order_by(PinRow.expires_at, PinRow.id).limit(limit)
                )).all()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return [PinRecord.of(r) for r in rows]

    async def _set(self, row_id: int, where: Sequence[Any],
                   values: dict[str, Any]) -> PinRecord | None:
        return await self._ledger.update_if(row_id, where, values)


def cursor(record: PinRecord) -> Cursor:
    assert record.expires_at is not None
    return record.expires_at, record.id


def _live() -> list[Any]:
    """Pinned, at the service, not exempt, with an expiry."""
    return [PinRow.state == "pinned", PinRow.pin_id.is_not(None), PinRow.kept == false(),
            PinRow.expires_at.is_not(None)]

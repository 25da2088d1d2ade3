"""Admins' and owners' changes to pins' expiry: a policy applied to existing pins, retention
turned off, a pin kept or unkept.

`Ledger.claim` stamps each new pin's expiry; this module changes stamps afterwards, always
scoped by `team_id` (a pin id of another workspace matches nothing here) and only on rows that
are still pinned, so a pin unpinned meanwhile is never given an expiry again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, false, func, or_, select, true, update

from .ledger import DB_ERRORS, Ledger, LedgerUnavailable, PinRecord, aware, reason, utcnow
from .models import PinRow

#: Rows stamped per statement by `apply`: bounded batches, one transaction.
STAMP_BATCH = 500


@dataclass(frozen=True, slots=True)
class Touched:
    """What a retention change reaches in one channel."""

    #: Pinned, not kept: the pins a policy applies to.
    pins: int
    size: int
    #: Of those, the ones already past the duration (unpinned at the next sweep).
    due: int
    #: Kept pins in the channel, which no policy touches.
    kept: int


class Expiries:
    def __init__(self, ledger: Ledger) -> None:
        self._session = ledger.sessions

    async def preview(self, team_id: str, channel_id: str, seconds: int) -> Touched:
        """How many of the channel's pins a `seconds` policy would reach, and how many of them
        are already older than that."""
        cutoff = utcnow() - timedelta(seconds=seconds)
        live = [PinRow.team_id == team_id, PinRow.channel_id == channel_id,
                PinRow.state == "pinned"]
        try:
            async with self._session() as session:
                pins, size, due = (await session.execute(
                    select(func.count(PinRow.id), func.coalesce(func.sum(PinRow.size), 0),
                           func.coalesce(func.sum(case((PinRow.created_at <= cutoff, 1),
                                                       else_=0)), 0))
                    .where(*live, PinRow.kept == false())
                )).one()
                kept = await session.scalar(
                    select(func.count(PinRow.id)).where(*live, PinRow.kept == true()))
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return Touched(int(pins or 0), int(size or 0), int(due or 0), int(kept or 0))

    async def apply(self, team_id: str, channel_id: str, seconds: int) -> int:
        """Stamp `created_at + seconds` on the channel's pinned, not-kept pins (and clear the
        notice of those whose expiry moves, so the new expiry gets its own; a pin given the
        expiry it already had, by a second Confirm or the same policy applied again, is not
        told twice). The number stamped."""
        table = PinRow.metadata.tables[PinRow.__tablename__]
        expires = bindparam("expires", type_=table.c.expires_at.type)
        stamp = (update(table)
                 .where(table.c.id == bindparam("row_id"), table.c.state == "pinned",
                        table.c.kept == false())
                 .values(expires_at=expires, retention_seconds=seconds,
                         noticed_at=case((table.c.expires_at == expires, table.c.noticed_at),
                                         else_=None),
                         unpin_reason=None))
        try:
            async with self._session.begin() as session:
                rows = (await session.execute(
                    select(PinRow.id, PinRow.created_at).where(
                        PinRow.team_id == team_id, PinRow.channel_id == channel_id,
                        PinRow.state == "pinned", PinRow.kept == false())
                )).all()
                params = [{"row_id": row_id, "expires": _expiry(created, seconds)}
                          for row_id, created in rows]
                stamped = 0
                connection = await session.connection()
                for start in range(0, len(params), STAMP_BATCH):
                    batch = params[start:start + STAMP_BATCH]
                    await connection.execute(stamp, batch)
                    # Counted, not the driver's rowcount: asyncpg's executemany gives none.
                    stamped += int(await session.scalar(select(func.count(PinRow.id)).where(
                        PinRow.id.in_([p["row_id"] for p in batch]),
                        PinRow.retention_seconds == seconds, PinRow.state == "pinned",
                        PinRow.kept == false())) or 0)
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return stamped

    async def clear(self, team_id: str, channel_id: str) -> tuple[int, int]:
        """Retention off: the channel's pins lose their pending expiry (kept ones too, so an
        unkeep later does not bring an old expiry back). (cleared, of which already due)."""
        now = utcnow()
        where = [PinRow.team_id == team_id, PinRow.channel_id == channel_id,
                 PinRow.state.in_(("pending", "pinned")), PinRow.expires_at.is_not(None)]
        try:
            async with self._session.begin() as session:
                due = await session.scalar(select(func.count(PinRow.id)).where(
                    *where, PinRow.kept == false(), PinRow.expires_at <= now))
                result = await session.execute(
                    update(PinRow).where(*where)
                    .values(expires_at=None, retention_seconds=None, noticed_at=None,
                            unpin_reason=None))
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return _rowcount(result), int(due or 0)

    async def set_kept(self, team_id: str, pin_id: str, kept: bool,
                       by_user: str | None) -> tuple[bool, PinRecord | None]:
        """Keep (or unkeep) a pinned pin of this team. (changed, the row as it is now): a pin
        already in that state is left as it was (its `kept_by` too); None when the team has
        no pinned pin with that id."""
        where: list[Any] = [PinRow.team_id == team_id, PinRow.pin_id == pin_id,
                            PinRow.state == "pinned"]
        change: list[Any] = [PinRow.kept == (not kept)]
        if kept:
            change.append(keepable(utcnow()))
        try:
            async with self._session.begin() as session:
                result = await session.execute(
                    update(PinRow).where(*where, *change)
                    .values(kept=kept, kept_by=by_user if kept else None, updated_at=utcnow(),
                            # Unkept: its expiry stands again, and so does the 24-hour notice.
                            noticed_at=PinRow.noticed_at if kept else None))
                row = await session.scalar(
                    select(PinRow).where(*where).execution_options(populate_existing=True))
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return _rowcount(result) > 0, PinRecord.of(row) if row is not None else None


def keepable(now: datetime) -> Any:
    """Not held by the sweep for its retention unpin (bot.store.retention.claim_unpin): once
    it is, the service is being asked and it is too late to keep the pin. A hold whose expiry
    was cleared or moved later does not count. (NULL-safe: most rows have no reason.)"""
    return or_(PinRow.unpin_reason.is_(None), PinRow.unpin_reason != "retention",
               PinRow.expires_at.is_(None), PinRow.expires_at > now)


def _expiry(created_at: datetime, seconds: int) -> datetime:
    created = aware(created_at)
    assert created is not None
    return created + timedelta(seconds=seconds)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)

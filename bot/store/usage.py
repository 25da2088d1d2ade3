"""What a person or a channel has pinned lately: the ledger side of quotas.

A quota counts the bytes pinbot uploaded for this workspace in the last 30 days: rows of the
person (or the channel) that are pinned, or pending (an upload running or about to run
reserves its size). Failed pins never took space and unpinned ones gave it back, so neither
counts; nor do `/pin CID` pins (`cid:` keys): pinbot learns their size only once the service
has pinned them, so no quota could be checked before, and counting them afterwards would refuse
files for pins that were never checked.

Every query is scoped by `team_id`: one workspace's pins never count against another's quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from .ledger import DB_ERRORS, Ledger, LedgerUnavailable, aware, reason, utcnow
from .models import PinRow

#: Rows that hold space: an upload under way (pending) or done (pinned).
HOLDING = ("pending", "pinned")


@dataclass(frozen=True, slots=True)
class Counted:
    """One pin counted against a quota: when its 30 days started, and its bytes."""

    row_id: int
    created_at: datetime
    size: int


class Usage:
    def __init__(self, ledger: Ledger) -> None:
        self._session = ledger.sessions

    async def counted(self, team_id: str, since: datetime, *, user_id: str | None = None,
                      channel_id: str | None = None,
                      claimed_before: tuple[datetime, int] | None = None,
                      excluding_row: int | None = None) -> list[Counted]:
        """The pins counted against one quota, oldest first.

        `claimed_before` (a claim's time and row id) keeps only rows claimed before that one:
        of two files checked at once, the earlier claim is the one that gets the space. Claim
        time, not row id, orders them: a failed file claimed again reuses its old, lower row
        but is claimed now (its `created_at` restarts), so by row id a takeover and a new
        claim racing it could each count the other and both be refused.
        """
        where = _where(team_id, since, user_id, channel_id)
        if claimed_before is not None:
            at, row_id = claimed_before
            where.append(or_(PinRow.created_at < at,
                             and_(PinRow.created_at == at, PinRow.id <= row_id)))
        if excluding_row is not None:
            where.append(PinRow.id != excluding_row)
        try:
            async with self._session() as session:
                rows = (await session.execute(
                    select(PinRow.id, PinRow.created_at, PinRow.size).where(*where)
                    .order_by(PinRow.created_at, PinRow.id)
                )).all()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return [Counted(int(row_id), aware(created) or utcnow(), int(size or 0))
                for row_id, created, size in rows]

    async def used(self, team_id: str, since: datetime, *, user_id: str | None = None,
                   channel_id: str | None = None) -> int:
        """Bytes counted against a person's (or a channel's) quota since `since`."""
        try:
            async with self._session() as session:
                total = await session.scalar(
                    select(func.coalesce(func.sum(PinRow.size), 0))
                    .where(*_where(team_id, since, user_id, channel_id)))
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return int(total or 0)


def _where(team_id: str, since: datetime, user_id: str | None,
           channel_id: str | None) -> list[Any]:
    if (user_id is None) == (channel_id is None):
        raise ValueError("a quota is a person's or a channel's: give exactly one")
    where: list[Any] = [
        PinRow.team_id == team_id, PinRow.state.in_(HOLDING), PinRow.created_at >= since,
        ~PinRow.key.startswith("cid:"),
    ]
    if user_id is not None:
        where.append(PinRow.user_id == user_id)
    else:
        where.append(PinRow.channel_id == channel_id)
    return where

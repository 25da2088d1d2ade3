"""A workspace's pinning at a glance, for its admins' App Home: this month's use and what
retention is about to unpin.

Each figure is one aggregate query (`GROUP BY` in the database, not rows summed here), scoped by
`team_id` so another workspace's pins never show, and written in SQL that SQLite and PostgreSQL
both run. "This month" is the calendar month in UTC, and counts every pin made in it that the
service pinned — still pinned or unpinned since: the account held it this month either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from .ledger import DB_ERRORS, Ledger, LedgerUnavailable, aware, reason, utcnow
from .models import PinRow

#: Rows whose pin the service made (pending and failed rows never held space).
PINNED_STATES = ("pinned", "unpinned")
#: How far ahead "due to expire" looks.
EXPIRY_HORIZON = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class UseRow:
    """One channel's or one person's share (`key` None: pins made outside any channel)."""

    key: str | None
    files: int
    bytes: int


@dataclass(frozen=True, slots=True)
class MonthUse:
    since: datetime
    files: int
    bytes: int
    top_channels: list[UseRow]
    top_users: list[UseRow]


@dataclass(frozen=True, slots=True)
class ExpiringPin:
    pin_id: str | None
    name: str
    channel_id: str | None
    expires_at: datetime
    size: int | None


@dataclass(frozen=True, slots=True)
class Expiring:
    """The first pins due (soonest first) and how many and how much are due in all."""

    pins: list[ExpiringPin]
    total: int
    bytes: int
    until: datetime


def month_start(now: datetime) -> datetime:
    """Midnight UTC on the first of `now`'s month (UTC)."""
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class WorkspaceStats:
    def __init__(self, ledger: Ledger) -> None:
        self._session = ledger.sessions

    async def month_use(self, team_id: str, *, top: int = 5,
                        now: datetime | None = None) -> MonthUse:
        """Files and bytes pinned this calendar month, and the top channels and people by
        bytes (ties: more files first, then by id, so the order is stable)."""
        since = month_start(now or utcnow())
        where = [PinRow.team_id == team_id, PinRow.created_at >= since,
                 PinRow.state.in_(PINNED_STATES), PinRow.pin_id.is_not(None)]
        size = func.coalesce(func.sum(PinRow.size), 0)
        count = func.count(PinRow.id)

        def top_by(column: Any) -> Any:
            return (select(column, count, size).where(*where).group_by(column)
                    .order_by(size.desc(), count.desc(), column).limit(top))

        try:
            async with self._session() as session:
                files, total = (await session.execute(select(count, size).where(*where))).one()
                channels = (await session.execute(top_by(PinRow.channel_id))).all()
                users = (await session.execute(top_by(PinRow.user_id))).all()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return MonthUse(since, int(files or 0), int(total or 0),
                        [UseRow(k, int(n), int(b)) for k, n, b in channels],
                        [UseRow(k, int(n), int(b)) for k, n, b in users])

    async def expiring(self, team_id: str, *, within: timedelta = EXPIRY_HORIZON,
                       limit: int = 10, now: datetime | None = None) -> Expiring:
        """Pins retention will unpin before `now + within`, soonest first (overdue ones that
        the next sweep takes are included: they are due now). Kept pins are not due."""
        until = (now or utcnow()) + within
        where = [PinRow.team_id == team_id, PinRow.state == "pinned",
                 PinRow.expires_at.is_not(None), PinRow.expires_at <= until,
                 PinRow.kept.is_not(True)]
        try:
            async with self._session() as session:
                rows = (await session.execute(
                    select(PinRow.pin_id, PinRow.name, PinRow.channel_id, PinRow.expires_at,
                           PinRow.size)
                    .where(*where).order_by(PinRow.expires_at, PinRow.id).limit(limit)
                )).all()
                total, size = (await session.execute(
                    select(func.count(PinRow.id), func.coalesce(func.sum(PinRow.size), 0))
                    .where(*where)
                )).one()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        pins = [ExpiringPin(pin_id, name or "", channel, aware(expires) or until, size)
                for pin_id, name, channel, expires, size in rows]
        return Expiring(pins, int(total or 0), int(size or 0), until)

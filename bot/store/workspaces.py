"""Per-workspace state: when pinbot first ran there, and the newest file event it has seen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from .ledger import DB_ERRORS, Ledger, LedgerUnavailable, aware, reason
from .models import WorkspaceStateRow


@dataclass(frozen=True, slots=True)
class WorkspaceState:
    team_id: str
    first_seen: datetime
    #: The newest file event seen (live traffic).
    watermark: datetime
    #: Every file shared up to here has been listed by catch-up (None: never listed yet).
    caught_up_to: datetime | None


class Watermarks:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def get_or_start(self, team_id: str, now: datetime) -> WorkspaceState:
        """The workspace's state; created (first start = `now`) when pinbot is new there."""
        sessions = self._ledger.sessions
        try:
            async with sessions() as session:
                row = await session.get(WorkspaceStateRow, team_id)
            if row is None:
                try:
                    async with sessions.begin() as session:
                        row = WorkspaceStateRow(team_id=team_id, first_seen=now, watermark=now)
                        session.add(row)
                except IntegrityError:  # another process started it at the same moment
                    async with sessions() as session:
                        row = await session.get(WorkspaceStateRow, team_id)
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        assert row is not None
        return WorkspaceState(row.team_id, aware(row.first_seen) or now,
                              aware(row.watermark) or now, aware(row.caught_up_at))

    async def caught_up(self, team_id: str, to: datetime) -> None:
        """Catch-up listed every file shared up to `to` (never moves back)."""
        try:
            async with self._ledger.sessions.begin() as session:
                row = await session.get(WorkspaceStateRow, team_id, with_for_update=True)
                if row is not None:
                    # Both made aware first: SQLite hands back naive datetimes.
                    reached = aware(row.caught_up_at) or aware(row.first_seen)
                    if reached is None or reached < to:
                        row.caught_up_at = to
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None

    async def advance(self, team_id: str, to: datetime) -> None:
        """Move the watermark forward (never back): events up to `to` have been seen."""
        await self.get_or_start(team_id, to)
        try:
            async with self._ledger.sessions.begin() as session:
                row = await session.get(WorkspaceStateRow, team_id, with_for_update=True)
                if row is not None and (aware(row.watermark) or to) < to:
                    row.watermark = to
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None

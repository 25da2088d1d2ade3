"""The ledger, read out whole for `pinbot export`: every row, in batches, oldest first.

Keyset paging on the row id (never OFFSET): each batch is one short query whatever the ledger's
size, memory stays at one batch, and rows added while an export runs cannot shift a page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import select

from .ledger import DB_ERRORS, Ledger, LedgerUnavailable, PinRecord, reason
from .models import PinRow

BATCH = 1000


class LedgerExport:
    def __init__(self, ledger: Ledger) -> None:
        self._session = ledger.sessions

    async def batches(self, *, team_id: str | None = None, since: datetime | None = None,
                      batch: int = BATCH) -> AsyncIterator[list[PinRecord]]:
        """Every row (pending, pinned, failed, unpinned, archived), optionally of one
        workspace and made at or after `since`, `batch` rows at a time."""
        where = []
        if team_id is not None:
            where.append(PinRow.team_id == team_id)
        if since is not None:
            where.append(PinRow.created_at >= since)
        after = 0
        while True:
            try:
                async with self._session() as session:
                    rows = (await session.scalars(
                        select(PinRow).where(*where, PinRow.id > after)
                        .order_by(PinRow.id).limit(batch))).all()
            except DB_ERRORS as exc:
                raise LedgerUnavailable(reason(exc)) from None
            if not rows:
                return
            yield [PinRecord.of(r) for r in rows]
            if len(rows) < batch:
                return
            after = rows[-1].id

"""App Home's admin figures from the ledger (bot/store/stats.py), on SQLite and PostgreSQL:
this month's use with its top channels and people, and pins due to expire — one workspace's
only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest

from bot.store import Ledger
from bot.store.models import PinRow
from bot.store.stats import UseRow, WorkspaceStats, month_start

pytestmark = pytest.mark.usefixtures("clean_env")

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
_ids = count(1)


async def add(ledger: Ledger, team: str = "T1", *, created: datetime = NOW,
              **values: Any) -> None:
    n = next(_ids)
    fields: dict[str, Any] = {"state": "pinned", "pin_id": f"pin-{n}", "name": f"f{n}.bin",
                              "size": 100, "channel_id": "C1", "user_id": "U1"}
    fields.update(values)
    async with ledger.sessions.begin() as session:
        session.add(PinRow(team_id=team, key=f"file:F{n}", created_at=created,
                           updated_at=created, **fields))


def test_month_start_is_the_first_at_midnight_utc() -> None:
    assert month_start(NOW) == datetime(2026, 11, 1, tzinfo=UTC)


async def test_month_use_counts_this_months_pins_of_this_team(ledger: Ledger) -> None:
    await add(ledger, size=1000, channel_id="CBIG", user_id="UBIG")
    await add(ledger, size=500, channel_id="CBIG", user_id="USMALL")
    await add(ledger, size=700, channel_id="COTHER", user_id="UBIG", state="unpinned")
    await add(ledger, size=None, channel_id=None, user_id="USMALL")  # /pin CID, size unknown
    for ignored in (
        {"created": datetime(2026, 10, 31, 23, 59, tzinfo=UTC)},  # last month
        {"state": "failed", "pin_id": None}, {"state": "pending", "pin_id": None},
        {"team": "T2", "size": 10**9, "channel_id": "CBIG"},  # another workspace
    ):
        await add(ledger, **ignored)
    use = await WorkspaceStats(ledger).month_use("T1", now=NOW)
    assert (use.since, use.files, use.bytes) == (datetime(2026, 11, 1, tzinfo=UTC), 4, 2200)
    assert use.top_channels == [UseRow("CBIG", 2, 1500), UseRow("COTHER", 1, 700),
                                UseRow(None, 1, 0)]
    assert use.top_users == [UseRow("UBIG", 2, 1700), UseRow("USMALL", 2, 500)]
    empty = await WorkspaceStats(ledger).month_use("T3", now=NOW)
    assert (empty.files, empty.bytes, empty.top_channels, empty.top_users) == (0, 0, [], [])


async def test_top_lists_stop_at_five(ledger: Ledger) -> None:
    for i in range(8):
        await add(ledger, size=100 * (i + 1), channel_id=f"C{i}", user_id=f"U{i}")
    use = await WorkspaceStats(ledger).month_use("T1", now=NOW)
    assert [r.key for r in use.top_channels] == ["C7", "C6", "C5", "C4", "C3"]
    assert [r.key for r in use.top_users] == ["U7", "U6", "U5", "U4", "U3"]


async def test_expiring_soonest_first_without_kept_or_other_teams(ledger: Ledger) -> None:
    soon = NOW + timedelta(hours=1)
    for i in range(12):
        await add(ledger, name=f"due-{i:02}", expires_at=soon + timedelta(hours=i), size=10)
    await add(ledger, name="overdue", expires_at=NOW - timedelta(minutes=5), size=10)
    for ignored in (
        {"name": "kept", "expires_at": soon, "kept": True, "kept_by": "U1"},
        {"name": "later", "expires_at": NOW + timedelta(days=8)},
        {"name": "forever", "expires_at": None},
        {"name": "gone", "expires_at": soon, "state": "unpinned"},
        {"name": "theirs", "expires_at": soon, "team": "T2"},
    ):
        await add(ledger, **ignored)
    due = await WorkspaceStats(ledger).expiring("T1", now=NOW)
    assert (due.total, due.bytes, due.until) == (13, 130, NOW + timedelta(days=7))
    assert [p.name for p in due.pins] == ["overdue"] + [f"due-{i:02}" for i in range(9)]
    assert due.pins[1].expires_at == soon and due.pins[1].channel_id == "C1"
    assert (await WorkspaceStats(ledger).expiring("T3", now=NOW)).total == 0

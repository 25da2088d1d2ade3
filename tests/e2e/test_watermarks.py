"""Per-workspace catch-up state (bot/store/workspaces.py) on SQLite and PostgreSQL.

`first_seen` is what keeps catch-up from pinning a channel's history, so it is set once and
never moves; the watermark and how far catch-up got only move forward, or a pass would
list (and a restart re-pin) what was already handled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.store import Ledger, upgrade
from bot.store.workspaces import Watermarks

pytestmark = pytest.mark.usefixtures("clean_env")

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def marks(database_url: str) -> AsyncIterator[Watermarks]:
    ledger = await Ledger.open(database_url)
    await upgrade(ledger.engine)
    try:
        yield Watermarks(ledger)
    finally:
        await ledger.close()


async def test_the_first_start_is_recorded_once(marks: Watermarks) -> None:
    first = await marks.get_or_start("T1", T0)
    assert (first.first_seen, first.watermark, first.caught_up_to) == (T0, T0, None)
    again = await marks.get_or_start("T1", T0 + timedelta(days=3))
    assert again.first_seen == T0  # a restart is not a first start
    other = await marks.get_or_start("T2", T0 + timedelta(days=3))
    assert other.first_seen == T0 + timedelta(days=3)


async def test_racing_first_starts_agree_on_one(marks: Watermarks) -> None:
    """Two replicas starting together: one first start, both see it, neither fails."""
    states = await asyncio.gather(*(
        marks.get_or_start("T1", T0 + timedelta(seconds=i)) for i in range(8)))
    assert len({s.first_seen for s in states}) == 1


async def test_catch_up_progress_only_moves_forward(marks: Watermarks) -> None:
    await marks.get_or_start("T1", T0)
    await marks.caught_up("T1", T0 + timedelta(hours=1))
    state = await marks.get_or_start("T1", T0)
    assert state.caught_up_to == T0 + timedelta(hours=1)
    await marks.caught_up("T1", T0 + timedelta(minutes=30))  # a slower replica's pass
    state = await marks.get_or_start("T1", T0)
    assert state.caught_up_to == T0 + timedelta(hours=1)
    await marks.caught_up("T1", T0 + timedelta(hours=2))
    assert (await marks.get_or_start("T1", T0)).caught_up_to == T0 + timedelta(hours=2)


async def test_catch_up_never_records_progress_before_the_first_start(
    marks: Watermarks,
) -> None:
    await marks.get_or_start("T1", T0)
    await marks.caught_up("T1", T0 - timedelta(hours=1))
    assert (await marks.get_or_start("T1", T0)).caught_up_to is None


async def test_the_watermark_only_moves_forward(marks: Watermarks) -> None:
    await marks.advance("T1", T0)  # the first event ever also records the first start
    await marks.advance("T1", T0 + timedelta(minutes=5))
    await marks.advance("T1", T0 + timedelta(minutes=1))  # a late, out-of-order event
    state = await marks.get_or_start("T1", T0 + timedelta(days=1))
    assert (state.first_seen, state.watermark) == (T0, T0 + timedelta(minutes=5))

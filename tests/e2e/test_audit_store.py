"""The audit's queries and the way it asks the service, on real databases and the emulator.

Promises attacked: the sweep takes the least recently checked pins first, never one checked
within its interval, and walks past rows it leaves alone; writes are compare-and-set (a pin
unpinned meanwhile is not touched, and is reported once); `/pins audit`'s numbers are the
asking workspace's only; the CLI lists a whole account only when that costs fewer requests,
and asks again about anything the listing shows as drift; the export streams every row.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.cid import cid_v1_of
from bot.pacing import RateLimiter
from bot.pins import audit
from bot.pins.audit import FromListing, PerPin, view_for
from bot.store import Ledger
from bot.store.audit import GONE, AuditStore
from bot.store.export import LedgerExport
from bot.store.ledger import utcnow
from bot.store.models import PinRow
from bot.w3ipfs import Pin, PinState, W3IPFSClient
from pinbot.emulators.w3ipfs import W3IPFSEmulator
from tests.unit.test_cid import VECTORS

pytestmark = pytest.mark.usefixtures("clean_env")


async def pinned(ledger: Ledger, team: str, n: int, *, status: str = "DONE") -> list[int]:
    ids = []
    for i in range(n):
        claim = await ledger.claim(team, f"file:{team}{i}", name=f"{team}-{i}.txt", size=10)
        await ledger.complete(claim.record.id, Pin(id=f"{team.lower()}-pin-{i}", cid=f"c{i}",
                                                   pinned=True, status=status), verified=True)
        ids.append(claim.record.id)
    return ids


async def test_sweep_order_window_cursor_and_compare_and_set(ledger: Ledger) -> None:
    store = AuditStore(ledger)
    a = await pinned(ledger, "T0A", 4)
    b = await pinned(ledger, "T0B", 2)
    now = utcnow()
    async with ledger.engine.begin() as conn:
        for age, row in zip((50, 10, 30, 40), a, strict=True):  # minutes since last checked
            await conn.execute(update(PinRow).where(PinRow.id == row)
                               .values(checked_at=now - timedelta(minutes=age)))
        await conn.execute(update(PinRow).where(PinRow.id == b[0]).values(checked_at=None))
    stale = await ledger.claim("T0B", "file:stale", name="stale.bin")
    async with ledger.engine.begin() as conn:
        await conn.execute(update(PinRow).where(PinRow.id == stale.record.id)
                           .values(updated_at=now - timedelta(days=2)))
    due = await store.due(checked_before=now - timedelta(minutes=20),
                          pending_before=now - timedelta(days=1))
    # Never checked first (the stale claim, b0), then the oldest check; a[1] (10 min) and
    # b[1] (just completed) are within the window.
    assert [r.id for r in due[:2]] == sorted([stale.record.id, b[0]])
    assert [r.id for r in due[2:]] == [a[0], a[3], a[2]]
    from_cursor = await store.due(checked_before=now - timedelta(minutes=20),
                                  pending_before=now - timedelta(days=1),
                                  after=(due[2].checked_at or now, due[2].id))
    assert [r.id for r in from_cursor] == [a[3], a[2]]

    first = await store.unpinned(a[0], GONE, now)
    assert first is not None and first.state == "unpinned" and first.unpin_reason == "service"
    assert await store.unpinned(a[0], GONE, now) is None  # once: the card is told once
    assert await store.failed(a[0], "FAILED", "x") is None  # not pinned any more
    assert await store.failed(a[3], "FAILED", "reported FAILED") is not None
    assert await store.abandoned(stale.record.id, now - timedelta(days=1), "never") is not None
    assert await store.abandoned(stale.record.id, now - timedelta(days=1), "never") is None

    counts = await store.summary("T0A", checked_since=now - timedelta(hours=1),
                                 drift_since=now - timedelta(days=30),
                                 stuck_before=now - timedelta(days=1))
    assert counts.counts == {"unpinned": 0, "gone": 1, "failed": 1, "stuck": 0}
    assert counts.pinned == 2 and {k for k, _ in counts.examples} == {"gone", "failed"}
    other = await store.summary("T0B", checked_since=now - timedelta(hours=1),
                                drift_since=now - timedelta(days=30),
                                stuck_before=now - timedelta(days=1))
    assert other.counts["gone"] == 0 and other.pinned == 2 and other.never_checked == 1
    assert all(r.team_id == "T0B" for _, r in other.examples)


async def test_team_rows_page_by_id_and_export_streams_every_row(ledger: Ledger) -> None:
    store = AuditStore(ledger)
    rows = await pinned(ledger, "T0A", 5)
    await pinned(ledger, "T0B", 1)
    await ledger.mark_unpinned("T0A", "t0a-pin-0", "U1", "user")
    now = utcnow()
    assert await store.teams() == ["T0A", "T0B"]
    assert await store.count("T0A", now) == 4
    page = await store.team_rows("T0A", now, limit=2)
    rest = await store.team_rows("T0A", now, after=page[-1].id)
    assert [r.id for r in page + rest] == rows[1:]
    batches = [b async for b in LedgerExport(ledger).batches(batch=2)]
    assert [len(b) for b in batches] == [2, 2, 2]
    assert [len(b) async for b in LedgerExport(ledger).batches(team_id="T0A", batch=2)] == [
        2, 2, 1]
    assert [b async for b in LedgerExport(ledger).batches(since=now + timedelta(hours=1))] == []


async def test_listing_only_when_cheaper_and_drift_asked_again(
    w3ipfs: W3IPFSEmulator, client: W3IPFSClient,
) -> None:
    pins = [await client.pin_by_hash(cid, name=f"p{i}") for i, (_, cid, *_) in
            enumerate(VECTORS[:3])]
    await client.unpin(pins[2].id)
    limiter = RateLimiter(60_000)
    w3ipfs.requests.clear()
    single = await view_for(client, limiter, 1)  # 1 pin to ask about: 1 GET, no listing
    assert type(single) is PerPin and not w3ipfs.requests
    listing = await view_for(client, limiter, 3)
    assert isinstance(listing, FromListing) and len(listing.listed) == 3
    assert len(w3ipfs.api_requests("GET", "/pinning/pins")) == 2  # the probe, one page
    seen = await listing.seen(pins[0].id)
    assert seen is not None and seen.state is PinState.PINNED
    assert not w3ipfs.api_requests("GET", f"/pinning/{pins[0].id}")  # from the listing
    gone = await listing.seen(pins[2].id)
    assert gone is not None and gone.state is PinState.UNPINNED
    assert len(w3ipfs.api_requests("GET", f"/pinning/{pins[2].id}")) == 1  # asked again
    assert await listing.seen("0f0f0f0f-unknown-pin") is None


async def test_a_service_ignoring_offset_does_not_make_the_listing_endless(
    w3ipfs: W3IPFSEmulator, client: W3IPFSClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every page the same: the listing stops at the first page that adds nothing new
    (not after totals / page requests, which a wrong total makes endless), and the pins it
    never showed are asked about one by one."""
    monkeypatch.setattr(audit, "LIST_PAGE", 2)
    pins = [await client.pin_by_hash(cid_v1_of(f"pin {i}".encode()), name=f"p{i}")
            for i in range(9)]
    w3ipfs.ignore_offset = True
    w3ipfs.requests.clear()
    listing = await asyncio.wait_for(view_for(client, RateLimiter(60_000), 9), timeout=10)
    assert isinstance(listing, FromListing)
    assert len(w3ipfs.api_requests("GET", "/pinning/pins")) == 3  # the probe, two pages
    last = await listing.seen(pins[-1].id)
    assert last is not None and last.state is PinState.PINNED
    assert len(w3ipfs.api_requests("GET", f"/pinning/{pins[-1].id}")) == 1

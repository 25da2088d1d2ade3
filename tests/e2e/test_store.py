"""Migrations and the ledger's guarantees, on SQLite and on the machine's PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.store import Ledger, LedgerUnavailable, SchemaError, current_revision, upgrade
from bot.store.migrate import head_revision
from bot.w3ipfs import Pin

pytestmark = pytest.mark.usefixtures("clean_env")


async def test_migrate_from_empty(database_url: str) -> None:
    ledger = await Ledger.open(database_url)
    try:
        assert await current_revision(ledger.engine) is None
        assert await upgrade(ledger.engine) == head_revision()
        assert await upgrade(ledger.engine) == head_revision()  # idempotent
        claim = await ledger.claim("T1", "file:F1", name="a.txt", size=3, user_id="U1")
        assert claim.won
    finally:
        await ledger.close()


async def test_migrate_from_previous_revision_keeps_data(database_url: str) -> None:
    ledger = await Ledger.open(database_url)
    try:
        await upgrade(ledger.engine, "0001")
        async with ledger.engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO pins (team_id, key, state, pin_id, cid, name, size, user_id, "
                "channel_id, created_at, updated_at) VALUES ('T1', 'file:F1', 'pinned', 'p-1', "
                "'bafyold', 'old.txt', 10, 'U1', 'C1', :now, :now)"
            ), {"now": datetime(2026, 1, 1, tzinfo=UTC)})
        assert await upgrade(ledger.engine) == head_revision()
        record = await ledger.by_pin_id("T1", "p-1")
        assert record is not None and record.name == "old.txt" and record.user_id == "U1"
        assert record.checked_at is None  # the column the new revision added
        assert await ledger.first_delivery("Ev1", "T1")  # the table it added
    finally:
        await ledger.close()


async def test_newer_database_refuses_to_start(database_url: str) -> None:
    ledger = await Ledger.open(database_url)
    try:
        await upgrade(ledger.engine)
        async with ledger.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaError, match="newer than this pinbot"):
            await upgrade(ledger.engine)
    finally:
        await ledger.close()


async def test_claims_are_exclusive_under_concurrency(database_url: str) -> None:
    ledgers = [await Ledger.open(database_url) for _ in range(3)]
    try:
        await upgrade(ledgers[0].engine)
        claims = await asyncio.gather(*(
            ledger.claim("T1", "file:RACE", name="r", channel_id=f"C{i}")
            for i, ledger in enumerate(ledgers * 4)
        ))
        assert sum(c.won for c in claims) == 1
        winner = next(c for c in claims if c.won)
        await ledgers[0].fail(winner.record.id, "upload failed")
        retry = await asyncio.gather(*(lg.claim("T1", "file:RACE", name="r") for lg in ledgers))
        assert sum(c.won for c in retry) == 1  # a failed pin is claimable again, once
        other_team = await ledgers[1].claim("T2", "file:RACE", name="r")
        assert other_team.won  # keys are per team
    finally:
        for ledger in ledgers:
            await ledger.close()


async def test_events_are_remembered_for_a_day(database_url: str) -> None:
    ledger = await Ledger.open(database_url)
    try:
        await upgrade(ledger.engine)
        assert await ledger.first_delivery("Ev1", "T1")
        assert not await ledger.first_delivery("Ev1", "T1")
        async with ledger.engine.begin() as conn:
            await conn.execute(text("UPDATE seen_events SET seen_at = :t"),
                               {"t": datetime.now(UTC) - timedelta(days=1, minutes=1)})
        ledger._pruned_at = None  # as if the last prune was long ago
        assert await ledger.first_delivery("Ev2", "T1")  # prunes what is older than a day
        assert await ledger.first_delivery("Ev1", "T1")  # so a day-old id is new again
    finally:
        await ledger.close()


async def test_complete_and_page(database_url: str) -> None:
    ledger = await Ledger.open(database_url)
    try:
        await upgrade(ledger.engine)
        for i, user in enumerate(["U1", "U1", "U2"]):
            claim = await ledger.claim("T1", f"file:F{i}", name=f"n{i}", user_id=user,
                                       channel_id="C1")
            await ledger.complete(claim.record.id, Pin(id=f"p{i}", cid=f"bafy{i}", size=i + 1,
                                                       pinned=True, status="DONE"),
                                  verified=True)
        rows, count, size = await ledger.page("T1", user_id="U1", sort="size", descending=False)
        assert [r.pin_id for r in rows] == ["p0", "p1"] and (count, size) == (2, 3)
        await ledger.mark_unpinned("T1", "p1", "U9")
        rows, count, _ = await ledger.page("T1", status="unpinned")
        assert [r.unpinned_by for r in rows] == ["U9"] and count == 1
        assert (await ledger.page("T2"))[1] == 0  # other teams see nothing
    finally:
        await ledger.close()


async def test_unreachable_database_is_one_clear_error() -> None:
    with pytest.raises(LedgerUnavailable, match="cannot open the database"):
        await Ledger.open("postgresql+asyncpg://nobody@127.0.0.1:1/none")


async def run_pinbot(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pinbot", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def base_env() -> dict[str, str]:
    root = Path(__file__).resolve().parents[2]
    ours = ("W3IPFS_", "SLACK_", "PINBOT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(PYTHONPATH=str(root), W3IPFS_API_KEY="k", W3IPFS_SECRET_KEY="s",
               SLACK_BOT_TOKEN="xoxb-x", SLACK_SIGNING_SECRET="sig",
               W3IPFS_API_URL="http://127.0.0.1:9/api", PINBOT_PORT="0")
    return env


async def test_db_upgrade_command(database_url: str, tmp_path: Path) -> None:
    env = {**base_env(), "PINBOT_DATABASE_URL": database_url}
    code, out, err = await run_pinbot("db", "upgrade", env=env, cwd=tmp_path)
    assert code == 0, err
    assert f"revision {head_revision()}" in out


async def test_serve_with_unreachable_database_fails_in_one_line(tmp_path: Path) -> None:
    env = {**base_env(), "PINBOT_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/x"}
    for args in (("serve",), ("db", "upgrade")):
        code, _, err = await run_pinbot(*args, env=env, cwd=tmp_path)
        assert code == 3
        assert err.count("\n") == 1 and "cannot open the database" in err
        assert "Traceback" not in err


async def test_replicas_starting_together_migrate_once(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("several processes share one database only on PostgreSQL")
    ledgers = [await Ledger.open(database_url) for _ in range(4)]
    try:
        revisions = await asyncio.wait_for(
            asyncio.gather(*(upgrade(lg.engine) for lg in ledgers)), 30
        )
        assert revisions == [head_revision()] * 4
    finally:
        for lg in ledgers:
            await lg.close()

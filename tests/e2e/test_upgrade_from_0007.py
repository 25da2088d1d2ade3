"""A ledger written by an earlier release (schema 0007), upgraded to this one (0009).

An operator upgrades pinbot and turns PINBOT_RETENTION on with it. The rows already there have
no source, no thread and no expiry, and `kept` comes from the migration's server default.
Promises attacked: every reader of issue 13 takes them as they are (`/pins`, App Home for an
admin and for a member, `/pin keep` and `/pin unkeep`, `pinbot export` with an empty source,
`pinbot audit`); the sweep unpins none of them (a policy applies to pins made after it); a
row without an account (0009) is audited and unpinned at the workspace's account as before; and
the schema goes back down to 0007 and up again with the rows intact. SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import DateTime, column, insert, table, text
from sqlalchemy.engine import Connection

from bot.blocks import UNPIN_CONFIRM
from bot.store import Ledger, current_revision, upgrade
from bot.store.migrate import alembic_config, head_revision
from bot.w3ipfs import Pin, W3IPFSClient
from pinbot.emulators.w3ipfs import W3IPFSEmulator
from tests.conftest import API_KEY, FAST_RETRY, SECRET_KEY
from tests.e2e.conftest import BotFactory
from tests.e2e.test_audit import env_for
from tests.e2e.test_cli import pinbot
from tests.e2e.test_commands import find_action, responded
from tests.e2e.test_home_admin import open_home
from tests.e2e.test_retention_commands import say
from tests.e2e.test_retention_sweep import passes
from tests.e2e.test_shared_files import text_of
from tests.unit.test_cid import VECTORS

TEAM = "T0TEST"  # the Slack emulator's workspace
ADMIN = "UADMIN"
LONG_AGO = datetime.now(UTC) - timedelta(days=60)
_COLUMNS = ("key", "state", "pin_id", "cid", "name", "size", "channel_id", "user_id",
            "slack_file_id", "message_ts", "reply_ts", "unpinned_at")


#: The pins table as 0007 had it (the columns written here), not as the models say now.
OLD_PINS = table("pins", *(column(c, DateTime(timezone=True) if c.endswith("_at") else None)
                            for c in (*_COLUMNS, "team_id", "status", "created_at",
                                      "updated_at")))


def _row(*values: Any) -> dict[str, Any]:
    return dict(zip(_COLUMNS, values, strict=True))


async def old_ledger(database_url: str, w3ipfs: W3IPFSEmulator) -> dict[str, str]:
    """Schema 0007 holding what that release wrote: a shared file's pin, a `/pin CID` pin
    (pinned at the service), an unpinned and a failed row, all 60 days old."""
    async with W3IPFSClient(w3ipfs.base_url, API_KEY, SECRET_KEY, retry=FAST_RETRY) as client:
        shared = await client.pin_by_hash(VECTORS[0][1], name="old-report.pdf")
        by_cid = await client.pin_by_hash(VECTORS[1][1], name="old-cid")
    rows = [
        _row("file:F0OLD1", "pinned", shared.id, shared.cid, "old-report.pdf", 1234,
             "C0GENERAL", "UALICE", "F0OLD1", "1700000000.000100", "1700000000.000200", None),
        _row(f"cid:{by_cid.cid}", "pinned", by_cid.id, by_cid.cid, "old-cid", None, None,
             "UALICE", None, None, None, None),
        _row("file:F0OLD3", "unpinned", "old-gone-pin", "bafyold", "old-unpinned.txt", 10,
             "C0GENERAL", "UALICE", "F0OLD3", None, None, LONG_AGO + timedelta(days=1)),
        _row("file:F0OLD4", "failed", None, None, "old-failed.txt", 10, "C0GENERAL",
             "UALICE", "F0OLD4", None, None, None),
    ]
    ledger = await Ledger.open(database_url)
    try:
        assert await upgrade(ledger.engine, "0007") == "0007"
        async with ledger.engine.begin() as conn:
            for row in rows:
                await conn.execute(insert(OLD_PINS).values(
                    team_id=TEAM, status="DONE", created_at=LONG_AGO, updated_at=LONG_AGO, **row))
    finally:
        await ledger.close()
    return {"shared": shared.id, "cid": by_cid.id}


async def test_old_rows_work_everywhere_and_no_retention_reaches_them(
    make_bot: BotFactory, w3ipfs: W3IPFSEmulator, database_url: str, tmp_path: Path,
) -> None:
    ids = await old_ledger(database_url, w3ipfs)
    # Upgraded with a workspace default far shorter than the old pins' age.
    bot = await make_bot(PINBOT_RETENTION="1h", PINBOT_SWEEP_INTERVAL="1s",
                         PINBOT_ADMIN_USERS=ADMIN, PINBOT_API_RATE="6000")
    assert bot.slack.team_id == TEAM and await current_revision(
        bot.services.ledger.engine) == head_revision()
    bot.slack.add_user("UALICE")
    await passes(bot, 2)
    assert all(pin["pinned"] for pin in w3ipfs.all_pins())
    assert not w3ipfs.api_requests("DELETE")
    for pin_id in ids.values():
        record = await bot.services.ledger.by_pin_id(TEAM, pin_id)
        assert record is not None and record.state == "pinned" and record.expires_at is None
        assert record.kept is False and record.source is None and record.thread_ts is None
        assert record.account is None  # made before 0009: its account is not known

    listed = await bot.driver.command("/pins", "mine", user="UALICE")
    assert listed.response.status_code == 200
    admin_home = await open_home(bot, ADMIN, TEAM)
    assert "Workspace use this month" in admin_home and "old-report.pdf" in admin_home
    assert "unavailable" not in admin_home
    member_home = await open_home(bot, "UALICE", TEAM)
    assert "old-cid" in member_home and "Workspace use this month" not in member_home

    kept = text_of(await say(bot, f"keep {ids['shared']}", user="UALICE"))
    assert "Kept *old-report.pdf*" in kept, kept
    unkept = text_of(await say(bot, f"unkeep {ids['shared']}", user="UALICE"))
    assert "no longer kept" in unkept and "no expiry" in unkept, unkept

    env = env_for(bot, database_url)
    exported = await pinbot("export", env=env, cwd=tmp_path)
    assert exported.code == 0, exported.err
    rows = list(csv.DictReader(io.StringIO(exported.out)))
    assert sorted(r["name"] for r in rows) == ["old-cid", "old-failed.txt", "old-report.pdf",
                                               "old-unpinned.txt"]
    assert {r["source"] for r in rows} == {""} and {r["kept"] for r in rows} == {"false"}
    as_json = await pinbot("export", "--format", "json", env=env, cwd=tmp_path)
    assert as_json.code == 0 and {r["source"] for r in json.loads(as_json.out)} == {None}
    audited = await pinbot("audit", env=env, cwd=tmp_path)
    assert audited.code == 0, audited.out + audited.err
    assert "checked 2 pins in 1 workspace: no drift" in audited.out
    assert "no longer configured" not in audited.out

    # A row without an account unpins as before: at the workspace's account (here the env's).
    sent = await bot.driver.command("/unpin", ids["cid"], user="UALICE")
    (confirm,) = await responded(bot, sent.response_url)
    assert "Unpin this pin?" in text_of(confirm), text_of(confirm)
    button = find_action(confirm, UNPIN_CONFIRM)
    clicked = await bot.driver.action(UNPIN_CONFIRM, value=button["value"], user="UALICE")
    (result,) = await responded(bot, clicked.response_url)
    assert "Unpinned" in text_of(result)
    assert [p["pinned"] for p in w3ipfs.all_pins() if p["id"] == ids["cid"]] == [False]
    unpinned = await bot.services.ledger.by_pin_id(TEAM, ids["cid"])
    assert unpinned is not None and (unpinned.state, unpinned.account) == ("unpinned", None)


def _downgrade(connection: Connection, target: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, target)


async def test_0008_goes_down_to_0007_and_up_again(w3ipfs: W3IPFSEmulator,
                                                   database_url: str) -> None:
    ids = await old_ledger(database_url, w3ipfs)
    ledger = await Ledger.open(database_url)
    try:
        await upgrade(ledger.engine)
        claim = await ledger.claim(TEAM, "file:FNEW", name="new.txt", size=3, user_id="U1",
                                   channel_id="C1", source="share", thread_ts="1.2")
        assert claim.won
        stamped = await ledger.complete(claim.record.id, Pin(id="new-pin", cid="bafynew",
                                                             status="pinned", pinned=True),
                                        verified=None, account="0123456789abcdef")
        assert stamped.account == "0123456789abcdef"
        async with ledger.engine.begin() as conn:
            await conn.run_sync(_downgrade, "0007")
        assert await current_revision(ledger.engine) == "0007"
        async with ledger.engine.connect() as conn:
            names = (await conn.execute(text("SELECT name FROM pins"))).scalars().all()
        assert sorted(names) == ["new.txt", "old-cid", "old-failed.txt", "old-report.pdf",
                                 "old-unpinned.txt"]
        assert await upgrade(ledger.engine) == head_revision()
        record = await ledger.by_pin_id(TEAM, ids["shared"])
        assert record is not None and record.state == "pinned" and not record.kept
        again = await ledger.by_pin_id(TEAM, "new-pin")  # 0009's column went down and up
        assert again is not None and again.state == "pinned" and again.account is None
    finally:
        await ledger.close()

"""Attacks on the job pipeline's security claims (issue 11), tried over the wire.

Each test plays one adversary against the real app and the project's emulators — a member
forging a button value, somebody reading the logs at DEBUG, another workspace's pin carrying
this workspace's upload key — and fails on the code before its fix.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bot import logs
from bot.cid import cid_v1_of
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_commands import find_action, responded
from tests.e2e.test_oauth import ACCOUNTS, FERNET, install, use_own_account
from tests.e2e.test_secrets_in_logs import everything_at_debug
from tests.e2e.test_shared_files import text_of
from tests.unit.test_cid import VECTORS

__all__ = ["everything_at_debug"]  # the fixture, used by name


async def test_forged_folder_choice_cannot_reach_another_channels_message(
    make_bot: BotFactory,
) -> None:
    """A member in #general edits the "Pin as folder" / "Pin each file" button value to name a
    message in a private channel they cannot read: pinbot must not publish its files on IPFS."""
    bot = await make_bot(PINBOT_AUTO_PIN="off")
    secret = [bot.slack.add_file(n, d, channel="C0SECRET") for n, d in
              (("payroll.csv", b"salaries"), ("plan.txt", b"layoffs"))]
    secret_ts = bot.slack.add_message_with_files(secret, channel="C0SECRET")
    mine = [bot.slack.add_file(n, d) for n, d in (("x.txt", b"x"), ("y.txt", b"y"))]
    my_ts = bot.slack.add_message_with_files(mine)
    sent = await bot.driver.message_shortcut("pin_to_ipfs", "C0GENERAL", my_ts,
                                             user="UMALLORY")
    (question,) = await responded(bot, sent.response_url)
    for action_id in ("pin_as_folder", "pin_each_file"):
        value = json.loads(find_action(question, action_id)["value"])
        forged = json.dumps({**value, "c": "C0SECRET", "ts": secret_ts})
        click = await bot.driver.action(action_id, value=forged, user="UMALLORY",
                                        channel="C0GENERAL")
        (reply,) = await responded(bot, click.response_url)
        assert "nothing was pinned" in text_of(reply)
    await bot.idle()
    assert bot.w3ipfs.all_pins() == []
    assert bot.slack.thread("C0SECRET", secret_ts) == []
    # Control: the value pinbot wrote still works.
    click = await bot.driver.action("pin_as_folder",
                                    value=find_action(question, "pin_as_folder")["value"],
                                    user="UMALLORY", channel="C0GENERAL")
    await responded(bot, click.response_url)
    await bot.idle()
    assert len(bot.w3ipfs.all_pins()) == 1


async def test_response_urls_never_reach_a_log_line(
    everything_at_debug: pytest.LogCaptureFixture, bot: Bot,
) -> None:
    """Whoever reads the logs (DEBUG included) must not get a `response_url`: for 30 minutes
    it posts as pinbot to the person who asked. `/pin CID` keeps it in its job record (the
    database's statement log echoes it), and slack_sdk's webhook client logs the URL it
    posts to; a button's payload carries one too."""
    pinned = await bot.driver.command("/pin", f"{VECTORS[0][1]} greeting.txt")
    (card,) = await responded(bot, pinned.response_url)
    listed = await bot.driver.command("/pins", "")
    await responded(bot, listed.response_url)
    clicked = await bot.driver.action("pin_as_folder", value="{}")
    await responded(bot, clicked.response_url)
    await bot.idle()
    urls = [str(s.response_url) for s in (pinned, listed, clicked)]
    forms = {form for url in urls for form in (url, quote(url, safe=""), url.rsplit("/", 1)[1])}
    leaks = [(r.name, r.getMessage()[:200]) for r in everything_at_debug.records
             if any(form in r.getMessage() for form in forms)]
    assert not leaks
    assert "Pinned greeting.txt" in text_of(card)  # the URL itself still works
    # Slack's own shape, wherever it turns up (a traceback, another library's line).
    hook = "https://hooks.slack.com/commands/T0TEST/1234567890/AbCdEfGhIjKlMnOp"
    assert "AbCdEfGhIjKlMnOp" not in logs.scrub(f"POST {hook} failed")


async def test_own_keys_unreadable_never_pins_into_the_shared_account(
    make_bot: BotFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    """A workspace set keys of its own; the database blips just as its job asks which account
    to use. Falling back to the environment's shared account would put the workspace's file
    where it cannot list or unpin it (and the operator can read it). The job must wait, then
    pin into the workspace's own account."""
    bot = await make_bot(SLACK_BOT_TOKEN="", SLACK_CLIENT_ID="111.222",
                         SLACK_CLIENT_SECRET="oauth-client-secret-71ab",
                         PINBOT_ENCRYPTION_KEY=FERNET, PINBOT_JOB_LEASE="2s")
    bot.w3ipfs.accounts.update(dict(ACCOUNTS.values()))
    await install(bot, "TALPHA")
    await use_own_account(bot, "TALPHA")
    keys = bot.services.accounts.keys
    working = keys._session
    keys._session = async_sessionmaker(
        create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    fake = bot.slack.add_file("own-account-only.txt", b"never in the shared account")
    await bot.driver.file_shared(fake, team="TALPHA")
    await bot.eventually(lambda: any("unreadable" in r.getMessage()
                                     for r in caplog.records), timeout=15)
    await asyncio.sleep(1.5)  # time enough for an upload that would not wait
    assert bot.w3ipfs.all_pins() == []  # the environment's account
    keys._session = working
    await bot.idle(timeout=20)
    assert bot.w3ipfs.all_pins() == []
    assert [p["cid"] for p in bot.w3ipfs.all_pins(ACCOUNTS["TALPHA"][0])] == [
        cid_v1_of(b"never in the shared account")]


async def test_a_pin_marked_for_another_workspace_is_never_adopted(
    make_bot: BotFactory,
) -> None:
    """An upload's answer is lost, so the job looks its pin up by upload key. A pin on the
    (shared) account carrying that key but another workspace's mark — planted by whoever
    learned the key — must not become this workspace's pin: its card would show foreign
    content as this file, and the other workspace could unpin it."""
    bot = await make_bot(W3IPFS_UPLOAD_TIMEOUT="1.5")
    bot.w3ipfs.inject("hang", path="/pinning/", method="POST", hang_seconds=3)
    fake = bot.slack.add_file("mine.txt", b"my real bytes")
    await bot.driver.file_shared(fake)
    await bot.eventually(lambda: bot.w3ipfs.api_requests("POST", "/pinning/"))
    (job,) = await bot.services.job_store.for_pin_key(bot.slack.team_id, f"file:{fake.id}")
    planted = await bot.services.w3ipfs.pin_file(
        b"someone else's bytes", "mine.txt", metadata={"slack_team": "TBETA"},
        upload_key=job.upload_key)
    await bot.idle()
    (card,) = bot.slack.thread(fake.channel, fake.ts)
    assert cid_v1_of(b"my real bytes") in text_of(card) and planted.cid not in text_of(card)
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}")
    assert record is not None and record.pin_id != planted.id
    assert record.cid == cid_v1_of(b"my real bytes")


async def test_the_same_file_in_two_workspaces_is_two_pins_and_no_pointer(
    make_bot: BotFactory,
) -> None:
    """One Slack file reaches two workspaces on the shared account (a Slack Connect channel):
    each workspace's claim on `file:<id>` is its own, so B pins its own copy and its card
    never points at A's channel, A's card or A's pin."""
    bot = await make_bot(SLACK_BOT_TOKEN="", SLACK_CLIENT_ID="111.222",
                         SLACK_CLIENT_SECRET="oauth-client-secret-71ab",
                         PINBOT_ENCRYPTION_KEY=FERNET)
    for team in ("TALPHA", "TBETA"):
        await install(bot, team)
    fake = bot.slack.add_file("connect.txt", b"in two workspaces", channel="C0ALPHA")
    await bot.driver.file_shared(fake, team="TALPHA")
    await bot.idle()
    (a_card,) = bot.slack.thread("C0ALPHA", fake.ts)
    a_pin = await bot.services.ledger.get("TALPHA", f"file:{fake.id}")
    assert a_pin is not None and a_pin.pin_id
    b_ts = bot.slack.share_again(fake, "C0BETA")
    await bot.driver.file_shared(fake, team="TBETA", channel="C0BETA")
    await bot.idle()
    b_pin = await bot.services.ledger.get("TBETA", f"file:{fake.id}")
    assert b_pin is not None and b_pin.pin_id and b_pin.pin_id != a_pin.pin_id
    told_b = json.dumps([c.args for c in bot.slack.calls if c.args.get("_team") == "TBETA"])
    assert "C0BETA" in told_b  # B's own calls are the ones read here
    assert "C0ALPHA" not in told_b and a_pin.pin_id not in told_b
    assert str(a_card["ts"]).replace(".", "") not in told_b  # no permalink to A's card
    assert any(cid_v1_of(b"in two workspaces") in text_of(m)
               for m in bot.slack.thread("C0BETA", b_ts))

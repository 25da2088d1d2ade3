"""Quotas end to end: refused from files.info's size before any download, on each entry point.

Sizes are decimal, as quotas are set: a 1 MB quota holds one 600 KB file, not two.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bot.quotas import Quotas
from bot.store import Ledger, upgrade
from bot.store.policies import ChannelPolicies
from bot.store.usage import Usage
from pinbot.emulators.slack import FakeFile
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_commands import responded
from tests.e2e.test_home import open_home
from tests.e2e.test_reaction_shortcut import reaction
from tests.e2e.test_shared_files import text_of

KB = 1000
MB = 1000 * KB
#: Most of these tests check pinbot's own logic, the same on either database: SQLite only.
#: The race (and the ledger-level ordering) run on PostgreSQL too.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def downloads_of(bot: Bot, fake: FakeFile) -> int:
    return sum(1 for d in bot.slack.downloads if fake.id in d["path"])


def uploads(bot: Bot) -> int:
    return len(bot.w3ipfs.api_requests("POST", "/pinning/"))


def refusals(bot: Bot, user: str) -> list[dict[str, Any]]:
    return [m for m in bot.slack.ephemeral
            if m.get("user") == user and "was not pinned" in text_of(m)]


async def share(bot: Bot, name: str, size: int, user: str = "UALICE") -> FakeFile:
    fake = bot.slack.add_file(name, size=size, user=user)
    await bot.driver.file_shared(fake)
    await bot.idle()
    return fake


@sqlite_only
async def test_user_quota_refuses_the_second_share_before_any_download(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(PINBOT_QUOTA_USER_MB="1")
    first = await share(bot, "first.bin", 600 * KB)
    assert len(bot.w3ipfs.all_pins()) == 1 and downloads_of(bot, first) == 1
    second = await share(bot, "report.pdf", 600 * KB)
    assert downloads_of(bot, second) == 0
    assert uploads(bot) == 1 and len(bot.w3ipfs.all_pins()) == 1
    (refusal,) = refusals(bot, "UALICE")
    assert refusal.get("thread_ts") == second.ts  # in the file's thread, to the person
    text = text_of(refusal)
    assert ("*report.pdf* (600 KB) was not pinned: you have used 600 KB of your 1 MB for "
            "30 days. Space frees up on <!date^") in text
    assert "/pins mine" in text
    assert bot.slack.thread(second.channel, second.ts) == []  # no card for a refused file
    # Another person has a quota of their own.
    other = await share(bot, "bob.bin", 600 * KB, user="UBOB")
    assert downloads_of(bot, other) == 1 and len(bot.w3ipfs.all_pins()) == 2
    # App Home shows each person's use.
    home = json.dumps(await open_home(bot, "UALICE"))
    assert "You have used *600 KB* of your 1 MB for 30 days" in home


@sqlite_only
async def test_user_quota_through_a_reaction_and_space_given_back_by_an_unpin(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(PINBOT_QUOTA_USER_MB="1", PINBOT_AUTO_PIN="off")
    first = bot.slack.add_file("first.bin", size=600 * KB, user="UCAROL")
    second = bot.slack.add_file("second.bin", size=600 * KB, user="UCAROL")
    await bot.driver.event(reaction(first.channel, first.ts, user="UBOB"))
    await bot.idle()
    assert len(bot.w3ipfs.all_pins()) == 1
    await bot.driver.event(reaction(second.channel, second.ts, user="UBOB"))
    await bot.idle()
    # Counted against whoever asked for the pin.
    (refusal,) = refusals(bot, "UBOB")
    assert "you have used 600 KB of your 1 MB" in text_of(refusal)
    assert downloads_of(bot, second) == 0 and uploads(bot) == 1
    # An unpinned pin gives its space back: the same file is pinned when asked again (its
    # failed claim is taken over, and counted as the newest).
    pin_id = bot.w3ipfs.all_pins()[0]["id"]
    await bot.services.ledger.mark_unpinned(bot.slack.team_id, pin_id, "UBOB", "user")
    await bot.driver.event(reaction(second.channel, second.ts, user="UBOB"))
    await bot.idle()
    assert downloads_of(bot, second) == 1 and uploads(bot) == 2
    assert len(refusals(bot, "UBOB")) == 1


@sqlite_only
async def test_channel_quota_set_by_an_admin_shown_to_anyone(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN")
    bot.slack.add_user("UALICE")
    refused = await bot.driver.command("/pin", "quota 1MB", user="UALICE")
    (answer,) = await responded(bot, refused.response_url)
    assert "Only admins" in text_of(answer)
    sent = await bot.driver.command("/pin", "quota 1MB", user="UADMIN")
    (answer,) = await responded(bot, sent.response_url)
    assert "<#C0GENERAL>'s quota is now *1 MB* per 30 days" in text_of(answer)
    await share(bot, "alice.bin", 600 * KB, user="UALICE")
    bob = await share(bot, "bob.bin", 600 * KB, user="UBOB")  # the channel's, not Bob's
    assert downloads_of(bot, bob) == 0 and len(bot.w3ipfs.all_pins()) == 1
    (refusal,) = refusals(bot, "UBOB")
    assert ("<#C0GENERAL> has used 600 KB of its 1 MB for 30 days (the channel's quota)"
            in text_of(refusal))
    shown = await bot.driver.command("/pin", "quota", user="UBOB")
    (answer,) = await responded(bot, shown.response_url)
    assert "<#C0GENERAL>'s quota is *1 MB* per 30 days; *600 KB* used" in text_of(answer)
    assert "You pinned *0 bytes*" in text_of(answer)
    off = await bot.driver.command("/pin", "quota off", user="UADMIN")
    (answer,) = await responded(bot, off.response_url)
    assert "no longer has a quota" in text_of(answer)
    await bot.driver.event(reaction(bob.channel, bob.ts, user="UBOB"))
    await bot.idle()
    assert downloads_of(bot, bob) == 1 and len(bot.w3ipfs.all_pins()) == 2


@sqlite_only
async def test_folder_counts_the_sum_of_its_files(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_QUOTA_USER_MB="1", PINBOT_AUTO_PIN="off")
    files = [bot.slack.add_file(f"part{i}.bin", size=400 * KB) for i in range(3)]
    ts = bot.slack.add_message_with_files(files)
    value = json.dumps({"c": "C0GENERAL", "ts": ts, "t": None})
    sent = await bot.driver.action("pin_as_folder", value=value, user="UALICE")
    await responded(bot, sent.response_url)
    await bot.idle()
    assert sum(downloads_of(bot, f) for f in files) == 0 and uploads(bot) == 0
    (refusal,) = refusals(bot, "UALICE")
    assert "3 files as folder" in text_of(refusal) and "(1.2 MB)" in text_of(refusal)
    assert "larger than your 1 MB" in text_of(refusal)


async def test_two_files_at_once_only_one_fits(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_QUOTA_USER_MB="1")
    fakes = [bot.slack.add_file(f"race{i}.bin", size=600 * KB) for i in range(2)]
    await asyncio.gather(*(bot.driver.file_shared(f) for f in fakes))
    await bot.idle()
    assert len(bot.w3ipfs.all_pins()) == 1 and uploads(bot) == 1
    assert sorted(downloads_of(bot, f) for f in fakes) == [0, 1]
    assert len(refusals(bot, "UALICE")) == 1


async def test_claims_are_counted_in_claim_order(database_url: str) -> None:
    """The earlier claim wins; a failed claim taken over again counts every earlier claim."""
    ledger = await Ledger.open(database_url)
    try:
        await upgrade(ledger.engine)
        quotas = Quotas(Usage(ledger), ChannelPolicies(ledger), 1 * MB)

        async def claim(key: str, size: int, team: str = "T1") -> Any:
            made = await ledger.claim(team, key, name=key, size=size, channel_id="C1",
                                      user_id="U1", source="share")
            assert made.won
            return made, await quotas.check(
                team, "U1", "C1", row_id=made.record.id, size=size, name=key,
                claimed_at=made.record.created_at)

        (a, a_refused), (b, b_refused) = [await claim("file:A", 600 * KB),
                                          await claim("file:B", 600 * KB)]
        assert a_refused is None  # B's pending claim came later: A does not count it
        assert b_refused is not None and b_refused.used == 600 * KB
        assert b_refused.frees_at is not None and b_refused.frees_at > a.record.created_at
        await ledger.fail(b.record.id, "over the user quota")
        _, c_refused = await claim("file:C", 300 * KB)
        assert c_refused is None  # B's failed claim gave its space back
        again, again_refused = await claim("file:B", 600 * KB)
        assert again.won and again.record.id == b.record.id  # the failed row, taken over
        assert again_refused is not None and again_refused.used == 900 * KB
        # Another workspace's pins never count; nor do /pin CID pins.
        _, elsewhere = await claim("file:A", 600 * KB, team="T2")
        assert elsewhere is None
        await ledger.claim("T1", "cid:bafy", name="x", size=50 * MB, user_id="U1",
                           channel_id="C1", source="cid")
        # A, C and B again (still pending here: a job would have marked it failed).
        assert (await quotas.user_use("T1", "U1")).used == 1500 * KB
    finally:
        await ledger.close()



async def test_a_retried_file_and_a_new_one_racing_are_never_both_refused(
        database_url: str) -> None:
    """A failed file claimed again keeps its old, lower row id; a new file claimed just after
    has a higher one. Both claims are pending when both are checked: the earlier claim (the
    retried file) gets the space, the later is refused — never both."""
    ledger = await Ledger.open(database_url)
    try:
        await upgrade(ledger.engine)
        quotas = Quotas(Usage(ledger), ChannelPolicies(ledger), 1 * MB)

        async def claim(key: str) -> Any:
            made = await ledger.claim("T1", key, name=key, size=600 * KB, channel_id="C1",
                                      user_id="U1", source="share")
            assert made.won
            return made

        old = await claim("file:OLD")
        await ledger.fail(old.record.id, "upload failed")
        retried, new = await claim("file:OLD"), await claim("file:NEW")
        assert retried.record.id < new.record.id  # the retried file's row is the older one
        outcomes = [await quotas.check("T1", "U1", "C1", row_id=c.record.id, size=600 * KB,
                                       name=c.record.name, claimed_at=c.record.created_at)
                    for c in (new, retried)]
        assert [o is None for o in outcomes] == [False, True]
    finally:
        await ledger.close()

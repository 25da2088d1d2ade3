"""`/pin retention` and `/pin keep` attacked end to end: a Confirm clicked twice (or the same
policy applied again later), `/pin keep` given a CID, durations out of range.

The real app against the emulators, its sweeper running every second where a notice matters.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.blocks import RETENTION_APPLY
from pinbot.emulators.slack import FakeFile
from tests.e2e.conftest import BotFactory
from tests.e2e.test_commands import find_action
from tests.e2e.test_retention_commands import click, say
from tests.e2e.test_retention_sweep import SWEEPING, change, passes, share, until
from tests.e2e.test_shared_files import text_of

#: Commands are pinbot's own logic, the same on either database: SQLite only, except where the
#: SQL itself is what is attacked.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_the_same_policy_applied_twice_does_not_notify_twice(
    make_bot: BotFactory,
) -> None:
    """Confirm pressed twice (or `--apply-to-existing` run again with the same duration)
    leaves each pin's expiry as it was, so the notice already posted is not posted again."""
    bot = await make_bot(**SWEEPING)
    fake, record = await share(bot, "notice-me.txt")
    await change(bot, record, created_at=record.created_at - timedelta(hours=47))
    preview = await say(bot, "retention 2d --apply-to-existing")
    confirm = find_action(preview, RETENTION_APPLY)["value"]
    assert "applied to the 1 pin" in text_of(await click(bot, RETENTION_APPLY, confirm))

    def notices(f: FakeFile) -> list[dict[str, Any]]:
        return [m for m in bot.slack.thread(f.channel, f.ts)
                if "will be unpinned on" in text_of(m)]

    async def posted() -> list[dict[str, Any]]:
        return notices(fake)

    await until(posted, "the notice in the file's thread")
    again = await click(bot, RETENTION_APPLY, confirm)  # the second click
    assert "applied to the 1 pin" in text_of(again)
    rerun = await say(bot, "retention 2d --apply-to-existing")  # and again, days later
    await click(bot, RETENTION_APPLY, find_action(rerun, RETENTION_APPLY)["value"])
    await passes(bot, 2)
    assert len(notices(fake)) == 1
    # A different duration is a new expiry: that one is told.
    shorter = await say(bot, "retention 47h30m --apply-to-existing")
    assert "not a duration" in text_of(shorter)  # one unit only
    longer = await say(bot, "retention 70h --apply-to-existing")
    await click(bot, RETENTION_APPLY, find_action(longer, RETENTION_APPLY)["value"])

    async def told_again() -> bool:
        return len(notices(fake)) == 2

    await until(told_again, "a notice for the new expiry")


@sqlite_only
async def test_keep_given_a_cid_points_at_the_pin_id(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN")
    _, record = await share(bot, "by-cid.txt")
    assert record.cid and record.pin_id
    answer = text_of(await say(bot, f"keep {record.cid}", user="UALICE"))
    assert "is a CID, not a pin id" in answer and f"`/pin keep {record.pin_id}`" in answer
    assert not (await bot.services.ledger.by_row_id(record.id)).kept  # type: ignore[union-attr]
    # Another workspace's pin of the CID is not this one's: nothing about it.
    elsewhere = text_of(await say(bot, f"keep {record.cid}", user="UALICE", team="T0OTHER"))
    assert "no pin of it is pinned in this workspace" in elsewhere
    assert record.pin_id not in elsewhere
    unknown = text_of(await say(bot, "keep bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2"
                                     "km2devei4", user="UALICE"))
    assert "is a CID, not a pin id" in unknown and "`/pins`" in unknown


@sqlite_only
async def test_a_retention_too_long_says_the_limit(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN")
    answer = text_of(await say(bot, "retention 99999d"))
    assert "at most 100 years" in answer
    assert await bot.services.policies.get(bot.slack.team_id, "C0GENERAL") is None

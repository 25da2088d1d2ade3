"""Attacks on retention: Keep racing the sweep's unpin, and what the person is told.

The sweep's pass is run by hand (the bot's own sweeper has made its start-up pass and waits
10 minutes), against the emulators, with the pinning service slow to answer the unpin.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.store.ledger import utcnow
from tests.e2e.conftest import BotFactory
from tests.e2e.test_retention_commands import say
from tests.e2e.test_retention_sweep import (
    ADMIN,
    _Unchecked,
    change,
    passes,
    pinned_at_service,
    row,
    set_retention,
    share,
    until,
)
from tests.e2e.test_shared_files import text_of
from tests.e2e.test_workspace_keys import FERNET, OTHER_KEY, OTHER_SECRET, setup_keys


async def test_keep_pressed_while_the_sweep_unpins_is_not_answered_kept(
    make_bot: BotFactory,
) -> None:
    """The sweep has already sent the unpin (the service is slow to answer) when the owner
    types `/pin keep`: the answer must not say "Kept" for a pin that is being unpinned, and
    the ledger must not end up both kept and unpinned."""
    bot = await make_bot(PINBOT_ADMIN_USERS=ADMIN, PINBOT_API_RATE="6000")
    await passes(bot, 1)
    await set_retention(bot, "C0GENERAL", "1h")
    _, record = await share(bot, "race.txt")
    await change(bot, record, expires_at=utcnow() - timedelta(seconds=1))
    unpin = f"/pinning/unpin/{record.pin_id}"
    bot.w3ipfs.inject("late", path=unpin, hang_seconds=1.5)  # done at once, answered late
    expire = bot.services.sweeper.steps[0]
    sweep = asyncio.create_task(expire.run(_Unchecked()))  # type: ignore[arg-type]

    async def sent() -> bool:
        return bool(bot.w3ipfs.api_requests("DELETE", unpin))

    await until(sent, "the sweep's unpin sent", within=10)
    answer = text_of(await say(bot, f"keep {record.pin_id}", user="UALICE"))
    assert await sweep == "1 unpinned"
    assert not pinned_at_service(bot, record.pin_id)
    assert "Kept *race.txt*" not in answer, answer
    assert "being unpinned" in answer, answer
    done = await row(bot, record)
    assert done.state == "unpinned" and done.unpin_reason == "retention" and not done.kept


async def test_a_failed_unpin_leaves_the_pin_keepable(make_bot: BotFactory) -> None:
    """The service refuses the sweep's unpin: the pin waits for the next pass and may still
    be kept (the sweep's hold on it is let go)."""
    bot = await make_bot(PINBOT_ADMIN_USERS=ADMIN, PINBOT_API_RATE="6000")
    await passes(bot, 1)
    await set_retention(bot, "C0GENERAL", "1h")
    _, record = await share(bot, "later.txt")
    await change(bot, record, expires_at=utcnow() - timedelta(seconds=1))
    bot.w3ipfs.inject("503", count=100, path=f"/pinning/unpin/{record.pin_id}")
    expire = bot.services.sweeper.steps[0]
    assert await expire.run(_Unchecked()) == "0 unpinned, 1 failed"  # type: ignore[arg-type]
    bot.w3ipfs.faults.clear()
    answer = text_of(await say(bot, f"keep {record.pin_id}", user="UALICE"))
    assert "Kept *later.txt*" in answer, answer
    assert await expire.run(_Unchecked()) == "0 unpinned"  # type: ignore[arg-type]
    assert pinned_at_service(bot, record.pin_id)
    kept = await row(bot, record)
    assert kept.state == "pinned" and kept.kept and kept.unpin_reason is None


async def test_a_pin_made_before_the_workspace_had_its_own_keys_is_unpinned_where_it_is(
    make_bot: BotFactory,
) -> None:
    """A pin made on the environment's account, then the workspace sets its own keys: the
    sweep must unpin it on the account that holds it (its own answers 404), not record it as
    unpinned while it stays pinned, and paid for, for good."""
    bot = await make_bot(PINBOT_ADMIN_USERS=ADMIN, PINBOT_API_RATE="6000",
                         PINBOT_ENCRYPTION_KEY=FERNET)
    bot.w3ipfs.accounts[OTHER_KEY] = OTHER_SECRET
    await passes(bot, 1)
    await set_retention(bot, "C0GENERAL", "1h")
    _, record = await share(bot, "before-keys.txt")
    saved = await setup_keys(bot)
    assert saved.body["response_action"] == "update"
    assert await bot.services.accounts.uses_own_keys(record.team_id)
    await change(bot, record, expires_at=utcnow() - timedelta(seconds=1))
    expire = bot.services.sweeper.steps[0]
    assert await expire.run(_Unchecked()) == "1 unpinned"  # type: ignore[arg-type]
    assert not pinned_at_service(bot, record.pin_id)
    done = await row(bot, record)
    assert done.state == "unpinned" and done.unpin_reason == "retention"

"""Retention applied by the sweep (bot/pins/expiry.py), end to end with second-scale policies.

The real app against the emulators, its sweeper running every second: an expired pin is
unpinned at the service, recorded as unpinned by retention, and its card says so; a kept pin
and a pin outside the policy survive; the 24-hour notice is posted once, in the file's thread,
and tried again when Slack refuses it; one workspace's failing service (or a workspace that
uninstalled pinbot) does not hold back the others. Real processes: test_retention_processes.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from bot import blocks
from bot.store import PinRecord
from bot.store.ledger import utcnow
from bot.store.models import PinRow
from pinbot.emulators.slack import FakeFile
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_commands import responded
from tests.e2e.test_retention_commands import say
from tests.e2e.test_shared_files import text_of

ADMIN = "UADMIN"
SWEEPING = {"PINBOT_SWEEP_INTERVAL": "1s", "PINBOT_ADMIN_USERS": ADMIN}


async def until(check: Callable[[], Awaitable[Any]], what: str, within: float = 15) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within}s: {what}")


async def set_retention(bot: Bot, channel: str, duration: str) -> None:
    """An admin types `/pin retention <duration>` in the channel."""
    answer = text_of(await say(bot, f"retention {duration}", channel=channel))
    assert "from now on are unpinned after" in answer, answer


async def share(bot: Bot, name: str, channel: str = "C0GENERAL") -> tuple[FakeFile, PinRecord]:
    fake = bot.slack.add_file(name, f"contents of {name}".encode(), channel=channel)
    await bot.driver.file_shared(fake)
    await bot.idle()
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}")
    assert record is not None and record.state == "pinned" and record.pin_id
    return fake, record


async def row(bot: Bot, record: PinRecord) -> PinRecord:
    found = await bot.services.ledger.by_row_id(record.id)
    assert found is not None
    return found


async def change(bot: Bot, record: PinRecord, **values: Any) -> None:
    async with bot.services.ledger.engine.begin() as conn:
        await conn.execute(update(PinRow).where(PinRow.id == record.id).values(**values))


def pinned_at_service(bot: Bot, pin_id: str | None) -> bool:
    (pin,) = [p for p in bot.w3ipfs.all_pins() if p["id"] == pin_id]
    return bool(pin["pinned"])


def deletes(bot: Bot, pin_id: str | None) -> int:
    return len(bot.w3ipfs.api_requests("DELETE", f"/pinning/unpin/{pin_id}"))


async def passes(bot: Bot, count: int) -> None:
    """Let the sweeper make `count` more passes."""
    target = bot.services.sweeper.passes + count
    await until(lambda: _at_least(bot, target), f"{count} more sweeps", within=10)


async def _at_least(bot: Bot, passes: int) -> bool:
    return bot.services.sweeper.passes >= passes


async def test_expired_pins_are_unpinned_once_and_their_cards_say_so(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(**SWEEPING)
    await set_retention(bot, "C0GENERAL", "1h")
    _, kept = await share(bot, "kept.txt")
    assert "Kept *kept.txt*" in text_of(await say(bot, f"keep {kept.pin_id}", user="UALICE"))
    await change(bot, kept, expires_at=utcnow() - timedelta(minutes=1))  # and long past it
    await set_retention(bot, "C0GENERAL", "5s")
    (fake, expiring), (_, elsewhere) = await asyncio.gather(
        share(bot, "expiring.txt"), share(bot, "elsewhere.txt", channel="C0RANDOM"))
    assert elsewhere.expires_at is None  # no policy there
    # Pinned first (share() saw it pinned): a loaded machine may already be past 5 s here.
    assert expiring.expires_at is not None
    assert 4 < (expiring.expires_at - expiring.created_at).total_seconds() <= 5

    async def unpinned() -> bool:
        return not pinned_at_service(bot, expiring.pin_id)

    await until(unpinned, "the expired pin unpinned at the service")
    done = await until(lambda: _unpinned_row(bot, expiring), "the ledger records it")
    assert done.unpin_reason == "retention" and done.unpinned_by is None
    # The card is edited after the ledger records the unpin: wait for it, too.

    async def card_edited() -> bool:
        (card,) = bot.slack.thread(fake.channel, fake.ts)
        return "Unpinned by the channel's 5-second retention policy" in text_of(card)

    await until(card_edited, "the card says the policy unpinned it")
    (card,) = bot.slack.thread(fake.channel, fake.ts)
    shown = text_of(card)
    assert blocks.UNPIN_BUTTON not in shown and blocks.KEEP_BUTTON not in shown
    assert "expiring.txt" in shown and expiring.pin_id in shown  # the same card, re-rendered
    edits = len(card["history"])
    await passes(bot, 2)  # later sweeps change nothing more
    assert deletes(bot, expiring.pin_id) == 1 and len(card["history"]) == edits
    assert pinned_at_service(bot, kept.pin_id) and (await row(bot, kept)).state == "pinned"
    assert pinned_at_service(bot, elsewhere.pin_id) and deletes(bot, elsewhere.pin_id) == 0
    state = await bot.services.sweeper.leases.state("sweep")
    assert state is not None and "retention:" in (state.last_result or "")


async def _unpinned_row(bot: Bot, record: PinRecord) -> PinRecord | None:
    found = await row(bot, record)
    return found if found.state == "unpinned" else None


async def test_the_notice_is_posted_once_in_the_thread_a_day_ahead(make_bot: BotFactory) -> None:
    bot = await make_bot(**SWEEPING)
    await set_retention(bot, "C0GENERAL", "2d")
    await set_retention(bot, "C0SHORT", "1d")  # under 2 days: no notices
    (fake, soon), (later_fake, _) = await asyncio.gather(
        share(bot, "soon.txt"), share(bot, "later.txt"))
    short_fake, short = await share(bot, "short.txt", channel="C0SHORT")
    in_an_hour = utcnow() + timedelta(hours=1)
    await change(bot, soon, expires_at=in_an_hour)
    await change(bot, short, expires_at=in_an_hour)

    def notices(f: FakeFile) -> list[dict[str, Any]]:
        return [m for m in bot.slack.thread(f.channel, f.ts)
                if "will be unpinned on" in text_of(m)]

    async def posted() -> list[dict[str, Any]]:
        return notices(fake)

    (notice,) = await until(posted, "the notice in the file's thread")
    shown = text_of(notice)
    assert "by this channel's 2-day policy" in shown and "soon.txt" in shown
    assert f"<!date^{int(in_an_hour.timestamp())}^" in shown
    keep = [e for b in notice["blocks"] for e in b.get("elements", [])
            if e.get("action_id") == blocks.KEEP_BUTTON]
    assert [k["value"] for k in keep] == [soon.pin_id]
    assert (await row(bot, soon)).noticed_at is not None
    await passes(bot, 2)
    assert len(notices(fake)) == 1  # once, across sweeps
    assert notices(later_fake) == [] and notices(short_fake) == []
    assert pinned_at_service(bot, soon.pin_id)  # a notice unpins nothing
    # Its Keep button keeps the pin: past its expiry, it is not unpinned.
    sent = await bot.driver.action(blocks.KEEP_BUTTON, value=keep[0]["value"], user="UALICE",
                                   message_ts=notice["ts"])
    assert "Kept *soon.txt*" in text_of((await responded(bot, sent.response_url))[0])
    await change(bot, soon, expires_at=utcnow() - timedelta(seconds=1))
    await passes(bot, 2)
    assert pinned_at_service(bot, soon.pin_id) and deletes(bot, soon.pin_id) == 0
    # Unkept a day before its expiry: the notice is due again, and told again.
    await change(bot, soon, expires_at=utcnow() + timedelta(hours=2))
    answer = text_of(await say(bot, f"unkeep {soon.pin_id}", user="UALICE"))
    assert "soon.txt" in answer, answer

    async def told_again() -> bool:
        return len(notices(fake)) == 2

    await until(told_again, "a second notice after unkeep")


async def test_a_refused_notice_is_tried_again(make_bot: BotFactory) -> None:
    bot = await make_bot(**SWEEPING)
    await set_retention(bot, "C0GENERAL", "7d")
    refused: list[str] = []

    def not_in_channel(args: dict[str, Any]) -> dict[str, Any]:
        refused.append(str(args.get("channel")))
        return {"ok": False, "error": "not_in_channel"}

    fake, soon = await share(bot, "soon.txt")
    bot.slack.api_chat_postMessage = not_in_channel  # type: ignore[method-assign]
    await change(bot, soon, expires_at=utcnow() + timedelta(hours=2))

    async def tried_and_released() -> bool:
        return bool(refused) and (await row(bot, soon)).noticed_at is None

    await until(tried_and_released, "a refused attempt, its claim released")
    del bot.slack.api_chat_postMessage  # Slack takes it again

    async def posted() -> bool:
        return any("will be unpinned on" in text_of(m)
                   for m in bot.slack.thread(fake.channel, fake.ts))

    await until(posted, "the notice once Slack takes it")
    assert "by this channel's 1-week policy" in text_of(bot.slack.thread(fake.channel,
                                                                          fake.ts)[-1])


async def test_passes_by_hand(make_bot: BotFactory) -> None:
    """Passes run by hand (the default interval: the bot's own sweeper stays idle)."""
    bot = await make_bot(PINBOT_ADMIN_USERS=ADMIN, PINBOT_API_RATE="6000")
    await passes(bot, 1)  # its pass at start is over: the next one is 10 minutes away
    await _one_workspace_failing_or_gone_does_not_hold_back_the_others(bot)
    await _a_pin_kept_after_the_batch_was_read_is_left_alone(bot)


async def _one_workspace_failing_or_gone_does_not_hold_back_the_others(bot: Bot) -> None:
    ledger, client = bot.services.ledger, bot.services.w3ipfs
    teams = {"T0DOWN": [], "T0GONE": [], "T0FINE": []}  # type: dict[str, list[PinRecord]]
    past = utcnow() - timedelta(seconds=5)
    for team, records in teams.items():
        for i in range(3):
            pin = await client.pin_by_hash(
                "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
                name=f"{team}-{i}")
            claim = await ledger.claim(team, f"cid:{pin.id}", name=pin.name or "",
                                       channel_id="C0X", user_id="UBOB")
            record = await ledger.complete(claim.record.id, pin, verified=None)
            await change(bot, record, expires_at=past, retention_seconds=60)
            records.append(record)
    for record in teams["T0DOWN"]:  # its account's service fails, whatever is retried
        bot.w3ipfs.inject("503", count=1000, path=f"/pinning/unpin/{record.pin_id}")
    slack = bot.services.slack
    installed = slack.workspace

    async def workspace(team_id: str) -> Any:
        return None if team_id == "T0GONE" else await installed(team_id)

    slack.workspace = workspace  # type: ignore[method-assign]
    expire = bot.services.sweeper.steps[0]
    fence = _Unchecked()
    assert await expire.run(fence) == "3 unpinned, 1 failed, 5 left"  # type: ignore[arg-type]
    assert [pinned_at_service(bot, r.pin_id) for r in teams["T0FINE"]] == [False] * 3
    assert all(pinned_at_service(bot, r.pin_id) for r in teams["T0DOWN"] + teams["T0GONE"])
    # One failed unpin per pass for the failing workspace, not one per pin.
    assert sum(deletes(bot, r.pin_id) for r in teams["T0DOWN"]) == 4  # 1 + 3 retries
    assert all(deletes(bot, r.pin_id) == 0 for r in teams["T0GONE"])
    bot.w3ipfs.faults.clear()  # the service is back: the next pass catches up
    assert await expire.run(fence) == "3 unpinned, 3 left"  # type: ignore[arg-type]
    assert not any(pinned_at_service(bot, r.pin_id) for r in teams["T0DOWN"])
    for record in teams["T0DOWN"] + teams["T0FINE"]:
        assert (await row(bot, record)).unpin_reason == "retention"


class _Unchecked:
    async def check(self) -> None:
        return None


async def _a_pin_kept_after_the_batch_was_read_is_left_alone(bot: Bot) -> None:
    """The row is re-read right before the unpin: a Keep pressed meanwhile wins."""
    await set_retention(bot, "C0GENERAL", "1h")
    _, first = await share(bot, "first.txt")
    _, second = await share(bot, "second.txt")
    past = utcnow() - timedelta(seconds=1)
    await change(bot, first, expires_at=past)
    await change(bot, second, expires_at=past)

    class KeepOnFirstCheck:
        """Keeps `second` as the pass checks its lease before the first unpin."""

        checked = 0

        async def check(self) -> None:
            self.checked += 1
            if self.checked == 1:
                await change(bot, second, kept=True, kept_by="UALICE")

    expire = bot.services.sweeper.steps[0]
    summary = await expire.run(KeepOnFirstCheck())  # type: ignore[arg-type]
    assert summary == "1 unpinned, 1 skipped, 3 left", summary  # T0GONE's are still left
    assert not pinned_at_service(bot, first.pin_id)
    assert pinned_at_service(bot, second.pin_id) and deletes(bot, second.pin_id) == 0


async def test_a_notice_for_a_file_shared_in_a_thread_goes_in_that_thread(
    make_bot: BotFactory,
) -> None:
    """A file shared as a reply: its card is in the thread (the parent's ts), and so must be
    its notice — never a reply's ts as thread_ts, which Slack does not thread under."""
    bot = await make_bot(**SWEEPING)
    await set_retention(bot, "C0GENERAL", "2d")
    parent = bot.slack.next_ts()
    fake = bot.slack.add_file("in-thread.txt", b"a reply's file", thread_ts=parent)
    await bot.driver.file_shared(fake)
    await bot.idle()
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}")
    assert record is not None and record.state == "pinned" and record.thread_ts == parent
    await change(bot, record, expires_at=utcnow() + timedelta(hours=1))

    async def posted() -> list[dict[str, Any]]:
        return [m for m in bot.slack.thread("C0GENERAL", parent)
                if "will be unpinned on" in text_of(m)]

    (notice,) = await until(posted, "the notice in the thread's parent")
    assert "in-thread.txt" in text_of(notice)

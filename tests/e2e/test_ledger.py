"""The pin ledger end to end: attribution, exactly-once, views, permissions, restarts, faults."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.blocks import ROW_MENU, UNPIN_CONFIRM
from bot.cid import cid_v1_of
from bot.pins import intake
from bot.pins import uploads as upload_step
from bot.store.ledger import create_engine, utcnow
from bot.store.models import PinRow
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_commands import find_action, responded
from tests.e2e.test_shared_files import text_of
from tests.unit.test_cid import VECTORS


async def share_and_wait(bot: Bot, name: str, data: bytes, **kwargs: Any) -> dict[str, Any]:
    fake = bot.slack.add_file(name, data, **kwargs)
    await bot.driver.file_shared(fake)
    await bot.idle()
    (reply,) = bot.slack.thread(fake.channel, fake.thread_ts or fake.ts)
    return reply


def uploads(bot: Bot) -> int:
    return len(bot.w3ipfs.api_requests("POST", "/pinning/"))


async def test_concurrent_deliveries_on_two_replicas_pin_once(make_bot: BotFactory) -> None:
    first = await make_bot()
    second = await make_bot()  # same database and services config: a second replica
    fake = first.slack.add_file("race.bin", b"r" * 200_000)
    second.slack.files[fake.id] = fake  # both replicas see the same Slack
    await asyncio.gather(
        first.driver.file_shared(fake, event_id="Ev0A"),
        second.driver.file_shared(fake, event_id="Ev0B"),
        first.driver.file_shared(fake, event_id="Ev0C"),
        second.driver.file_shared(fake, event_id="Ev0A"),  # a retry landing on the other one
    )
    await asyncio.gather(first.idle(), second.idle())
    assert uploads(first) == 1
    assert len(first.w3ipfs.all_pins()) == 1


async def test_same_event_on_two_replicas_is_processed_once(make_bot: BotFactory) -> None:
    first, second = await make_bot(), await make_bot()
    fake = first.slack.add_file("ev.bin", b"e" * 100)
    await first.driver.file_shared(fake, event_id="Ev0SAME")
    await second.driver.file_shared(fake, event_id="Ev0SAME", retry_num=1)
    await asyncio.gather(first.idle(), second.idle())
    assert len(first.slack.calls_to("files.info")) == 1  # the retry stopped at the event id


async def test_restart_keeps_the_ledger(make_bot: BotFactory) -> None:
    bot = await make_bot()
    fake = bot.slack.add_file("kept.pdf", b"%PDF kept")
    await bot.driver.file_shared(fake)
    await bot.idle()
    await bot.services.aclose()  # the process stops
    again = await make_bot()  # and starts with the same database
    again.slack.share_again(fake, "C0LATER")
    await again.driver.file_shared(fake, channel="C0LATER")
    await again.idle()
    assert uploads(again) == 1
    (pointer,) = again.slack.bot_messages("C0LATER")
    assert "Already pinned" in text_of(pointer) and cid_v1_of(b"%PDF kept") in text_of(pointer)
    sent = await again.driver.command("/pins", "mine", user="UALICE")
    (page,) = await responded(again, sent.response_url)
    assert "kept.pdf" in text_of(page)


async def test_failed_pin_can_be_retried_by_sharing_again(bot: Bot) -> None:
    bot.w3ipfs.inject("503", count=4, path="/pinning/", method="POST")  # every attempt
    fake = bot.slack.add_file("flaky.txt", b"flaky")
    await bot.driver.file_shared(fake)
    await bot.idle()
    assert "having trouble" in text_of(bot.slack.thread(fake.channel, fake.ts)[0])
    bot.slack.share_again(fake, "C0AGAIN")
    await bot.driver.file_shared(fake, channel="C0AGAIN")
    await bot.idle()
    (reply,) = bot.slack.bot_messages("C0AGAIN")
    assert cid_v1_of(b"flaky") in text_of(reply) and "Verified" in text_of(reply)
    assert len(bot.w3ipfs.all_pins()) == 1


async def test_pin_cid_twice_answers_with_the_existing_pin(bot: Bot) -> None:
    first = await bot.driver.command("/pin", f"{VECTORS[0][1]} hello.txt", user="UALICE")
    await responded(bot, first.response_url)
    second = await bot.driver.command("/pin", VECTORS[0][1], user="UBOB")
    (answer,) = await responded(bot, second.response_url)
    assert "already has this CID" in text_of(answer) and "<@UALICE>" in text_of(answer)
    assert len(bot.w3ipfs.api_requests("POST", "/pinning/pinByHash")) == 1


async def test_shared_file_cid_then_pin_cid_is_not_pinned_twice(bot: Bot) -> None:
    await share_and_wait(bot, "doc.txt", b"document")
    sent = await bot.driver.command("/pin", cid_v1_of(b"document"))
    (answer,) = await responded(bot, sent.response_url)
    assert "already has this CID" in text_of(answer)
    assert bot.w3ipfs.api_requests("POST", "/pinning/pinByHash") == []


async def test_pins_shows_who_pinned_where(bot: Bot) -> None:
    await share_and_wait(bot, "attributed.txt", b"who", user="UCAROL", channel="C0DESIGN")
    await bot.services.w3ipfs.pin_file(b"outside", "outside.txt")  # not through Slack
    sent = await bot.driver.command("/pins")
    (page,) = await responded(bot, sent.response_url)
    rows = {json.dumps(b) for b in page["blocks"]
            if b.get("accessory", {}).get("action_id") == ROW_MENU}
    attributed = next(r for r in rows if "attributed.txt" in r)
    outside = next(r for r in rows if "outside.txt" in r)
    assert "pinned by <@UCAROL> in <#C0DESIGN>" in attributed
    assert "pinned by" not in outside
    pin_id = next(p["id"] for p in bot.w3ipfs.all_pins()
                  if p["metadata"]["name"] == "outside.txt")
    details = await bot.driver.command("/pins", pin_id)
    (card,) = await responded(bot, details.response_url)
    assert "Pinned outside Slack" in text_of(card)


async def test_pin_removed_outside_slack_shows_as_unpinned(bot: Bot) -> None:
    await share_and_wait(bot, "gone.txt", b"soon gone")
    pin_id = bot.w3ipfs.all_pins()[0]["id"]
    await bot.services.w3ipfs.unpin(pin_id)  # e.g. from the W3IPFS dashboard, a while ago
    async with bot.services.ledger.engine.begin() as conn:
        await conn.execute(update(PinRow).values(checked_at=utcnow() - timedelta(minutes=2)))
    sent = await bot.driver.command("/pins", "mine")
    (page,) = await responded(bot, sent.response_url)
    row = next(json.dumps(b) for b in page["blocks"] if "gone.txt" in json.dumps(b))
    assert "unpinned" in row
    pinned_only = await bot.driver.command("/pins", "mine pinned")
    (empty,) = await responded(bot, pinned_only.response_url)
    assert "gone.txt" not in text_of(empty) and "0 pins" in text_of(empty)


async def test_api_listing_reconciles_the_ledger_at_once(bot: Bot) -> None:
    await share_and_wait(bot, "also-gone.txt", b"also gone")
    pin_id = bot.w3ipfs.all_pins()[0]["id"]
    await bot.services.w3ipfs.unpin(pin_id)  # just now, outside Slack
    everything = await bot.driver.command("/pins", "unpinned")
    (page,) = await responded(bot, everything.response_url)
    assert "also-gone.txt" in text_of(page)
    record = await bot.services.ledger.by_pin_id(bot.slack.team_id, pin_id)
    assert record is not None and record.state == "unpinned"


async def test_mine_and_here_views_with_filters_and_pages(bot: Bot) -> None:
    for i in range(12):
        await share_and_wait(bot, f"alice-{i:02d}.txt", f"alice {i}".encode() * (i + 1),
                             user="UALICE", channel="C0GENERAL")
    for i in range(3):
        await share_and_wait(bot, f"bob-{i}.txt", f"bob {i}".encode(), user="UBOB",
                             channel="C0RANDOM")
    mine = await bot.driver.command("/pins", "mine sort:size asc", user="UALICE")
    (page1,) = await responded(bot, mine.response_url)
    shown = text_of(page1)
    assert "12 pins" in shown and "bob-" not in shown and "alice-00.txt" in shown
    assert "by <@UALICE>" in shown
    nxt = find_action(page1, "pins_page_next")
    click = await bot.driver.action(nxt["action_id"], value=nxt["value"], user="UBOB")
    (page2,) = await responded(bot, click.response_url)
    assert "Showing 11 to 12 of 12" in text_of(page2) and "alice-11.txt" in text_of(page2)
    here = await bot.driver.command("/pins", "here", user="UALICE", channel="C0RANDOM")
    (channel_page,) = await responded(bot, here.response_url)
    assert "3 pins" in text_of(channel_page) and "alice-" not in text_of(channel_page)


async def test_permissions_owner_admin_other(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN")
    bot.slack.add_user("UOWNER")
    bot.slack.add_user("UOTHER")
    bot.slack.add_user("UWSADMIN", admin=True)
    ids = []
    for i, owner in enumerate(("UOWNER", "UOWNER", "UOWNER")):
        await share_and_wait(bot, f"owned-{i}.txt", f"owned {i}".encode(), user=owner)
    ids = [p["id"] for p in bot.w3ipfs.all_pins()]
    # Someone else: refused, told who can.
    sent = await bot.driver.command("/unpin", ids[0], user="UOTHER")
    (refusal,) = await responded(bot, sent.response_url)
    assert "Only <@UOWNER> (who pinned *owned-0.txt*) or an admin" in text_of(refusal)
    assert UNPIN_CONFIRM not in json.dumps(refusal)
    # A forged confirm click from them changes nothing either.
    forged = await bot.driver.action(UNPIN_CONFIRM, value=json.dumps([ids[0]]), user="UOTHER")
    (result,) = await responded(bot, forged.response_url)
    assert "Only <@UOWNER>" in text_of(result)
    assert all(p["pinned"] for p in bot.w3ipfs.all_pins())
    # The owner, a PINBOT_ADMIN_USERS admin, and a workspace admin may.
    for user, pin_id in zip(("UOWNER", "UADMIN", "UWSADMIN"), ids, strict=True):
        sent = await bot.driver.command("/unpin", pin_id, user=user)
        (confirm,) = await responded(bot, sent.response_url)
        button = find_action(confirm, UNPIN_CONFIRM)
        click = await bot.driver.action(UNPIN_CONFIRM, value=button["value"], user=user)
        (done,) = await responded(bot, click.response_url)
        assert "Unpinned" in text_of(done), user
    assert not any(p["pinned"] for p in bot.w3ipfs.all_pins())


async def test_pins_made_outside_slack_are_admin_only(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN")
    bot.slack.add_user("UALICE")
    pin = await bot.services.w3ipfs.pin_file(b"dashboard upload", "dash.txt")
    sent = await bot.driver.command("/unpin", pin.id, user="UALICE")
    (refusal,) = await responded(bot, sent.response_url)
    assert "pinned outside Slack, so only an admin can unpin it" in text_of(refusal)
    admin = await bot.driver.command("/unpin", pin.id, user="UADMIN")
    (confirm,) = await responded(bot, admin.response_url)
    assert UNPIN_CONFIRM in json.dumps(confirm)


@pytest.fixture
def quick_ledger_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(intake, "LEDGER_RETRY_DELAYS", (0.2, 0.2, 0.2, 0.5, 1, 2))
    monkeypatch.setattr(upload_step, "PERSIST_DELAYS", (0.2, 0.2, 0.2, 0.5, 1, 2, 2, 2))


def break_database(bot: Bot) -> Any:
    """Point the ledger at a port where no database listens; returns the way back."""
    ledger = bot.services.ledger
    working = ledger._session
    broken = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    ledger._session = async_sessionmaker(broken, expire_on_commit=False)

    def restore() -> None:
        ledger._session = working

    return restore


@pytest.mark.usefixtures("quick_ledger_retries")
async def test_database_down_before_pinning_then_back(bot: Bot) -> None:
    restore = break_database(bot)
    fake = bot.slack.add_file("patient.txt", b"waits for the db")
    await bot.driver.file_shared(fake)
    await bot.eventually(lambda: bot.slack.ephemeral)
    assert "cannot reach its database" in text_of(bot.slack.ephemeral[0])
    assert bot.w3ipfs.requests == []  # nothing uploaded without a claim
    await asyncio.sleep(0.5)
    restore()
    await bot.idle()
    (reply,) = bot.slack.thread(fake.channel, fake.ts)
    assert cid_v1_of(b"waits for the db") in text_of(reply)
    assert len(bot.w3ipfs.all_pins()) == 1


@pytest.mark.usefixtures("quick_ledger_retries")
async def test_database_down_after_upload_records_later(bot: Bot) -> None:
    bot.w3ipfs.throttle_upload = 2.0  # the database goes while the bytes stream
    data = b"recorded later" * 40_000
    fake = bot.slack.add_file("late.txt", data)
    await bot.driver.file_shared(fake)
    await bot.eventually(lambda: bot.w3ipfs.api_requests("POST", "/pinning/"))
    restore = break_database(bot)
    cid = cid_v1_of(data)
    # The pin exists: the card shows it (verified) at once, and says the list will follow.
    await bot.eventually(lambda: cid in text_of(bot.slack.bot_messages()[0]), timeout=20)
    shown = text_of(bot.slack.bot_messages()[0])
    assert "as soon as it is back" in shown and "Verified" in shown
    restore()
    await bot.idle()
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}")
    assert record is not None and record.state == "pinned" and record.cid == cid
    assert record.verified is True  # what only that run knew was kept, not lost to a lookup
    final = text_of(bot.slack.bot_messages()[0])
    assert "as soon as it is back" not in final and "Verified" in final
    assert len(bot.w3ipfs.all_pins()) == 1


async def test_pin_cid_with_database_down_pins_nothing(bot: Bot) -> None:
    break_database(bot)
    sent = await bot.driver.command("/pin", VECTORS[0][2])
    (answer,) = await responded(bot, sent.response_url)
    assert "cannot reach its database" in text_of(answer) and "Nothing was pinned" in text_of(
        answer)
    assert bot.w3ipfs.requests == []

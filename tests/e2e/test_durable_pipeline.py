"""The pin pipeline's promises when things go wrong: late answers, pins again after unpin,
waiting without holding upload slots, racing deliveries. Real app, emulators on the wire.

(Processes killed with SIGKILL and catch-up after downtime: tests/e2e/test_crash_recovery.py.)
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bot.cid import cid_v1_of
from bot.pins.share import PinSharedFile
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_commands import UNPIN_CONFIRM, find_action, responded
from tests.e2e.test_shared_files import reply_in_thread, share, text_of
from tests.unit.test_cid import VECTORS


async def unpin_by_command(bot: Bot, pin_id: str, user: str = "UALICE") -> None:
    sent = await bot.driver.command("/unpin", pin_id, user=user)
    (confirm,) = await responded(bot, sent.response_url)
    button = find_action(confirm, UNPIN_CONFIRM)
    click = await bot.driver.action(UNPIN_CONFIRM, value=button["value"], user=user)
    (done,) = await responded(bot, click.response_url)
    assert "Unpinned" in text_of(done)


async def test_stored_but_answered_after_the_timeout_is_one_pin(make_bot: BotFactory) -> None:
    """The service keeps the upload but answers after the client gave up: the job finds the
    pin by its upload key instead of uploading (and downloading) the file again."""
    bot = await make_bot(W3IPFS_UPLOAD_TIMEOUT="1")
    bot.w3ipfs.inject("late", path="/pinning/", method="POST", hang_seconds=4)
    data = b"kept, then answered too late\n" * 5000
    fake = bot.slack.add_file("late.csv", data)
    await share(bot, fake)
    (pin,) = bot.w3ipfs.all_pins()  # exactly one copy at the service
    assert len(bot.w3ipfs.api_requests("POST", "/pinning/")) == 1
    assert len(bot.slack.downloads) == 1  # and the file was not fetched from Slack again
    shown = text_of(reply_in_thread(bot, fake))
    assert pin["cid"] == cid_v1_of(data) and pin["cid"] in shown
    assert "Verified" in shown  # every byte went out before the answer was lost
    assert "found this pin by its upload key" in shown
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}")
    assert record is not None and record.state == "pinned" and record.pin_id == pin["id"]


async def test_a_service_that_never_answers_fails_within_the_documented_bound(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(W3IPFS_UPLOAD_TIMEOUT="0.5")
    bot.w3ipfs.inject("hang", count=100, path="/pinning/", method="POST", hang_seconds=30)
    fake = bot.slack.add_file("void.bin", b"into the void" * 100)
    started = time.monotonic()
    await share(bot, fake)
    # NO_ANSWER_ATTEMPTS (2) x W3IPFS_UPLOAD_TIMEOUT, plus small backoffs in tests.
    assert time.monotonic() - started < 2 * 0.5 + 5
    assert len(bot.w3ipfs.api_requests("POST", "/pinning/")) == 2
    assert "Could not pin" in text_of(reply_in_thread(bot, fake))
    assert bot.w3ipfs.all_pins() == []


async def test_pin_cid_unpin_pin_cid_pins_again(bot: Bot) -> None:
    cid = VECTORS[0][2]
    first = await bot.driver.command("/pin", cid)
    (card,) = await responded(bot, first.response_url)
    assert cid in text_of(card)
    (pin,) = bot.w3ipfs.all_pins()
    await unpin_by_command(bot, pin["id"])
    again = await bot.driver.command("/pin", cid)
    (card2,) = await asyncio.wait_for(responded(bot, again.response_url), 10)
    assert cid in text_of(card2) and "already has" not in text_of(card2)
    pins = bot.w3ipfs.all_pins()
    assert len(pins) == 2 and [p["pinned"] for p in pins] == [False, True]
    # The ledger keeps both: the unpinned one (history) and the new one.
    records, count, _ = await bot.services.ledger.page(bot.slack.team_id, status="all")
    assert count == 2 and {r.state for r in records} == {"pinned", "unpinned"}


async def test_share_unpin_reshare_pins_again_with_a_new_card(bot: Bot) -> None:
    data = b"pin me, unpin me, pin me again"
    fake = bot.slack.add_file("again.txt", data)
    await share(bot, fake)
    (pin,) = bot.w3ipfs.all_pins()
    await unpin_by_command(bot, pin["id"])
    ts = bot.slack.share_again(fake, fake.channel)  # shared again, a new message
    await share(bot, fake)
    pins = bot.w3ipfs.all_pins()
    assert len(pins) == 2 and pins[1]["pinned"] and pins[1]["cid"] == cid_v1_of(data)
    (new_card,) = bot.slack.thread(fake.channel, ts)
    shown = text_of(new_card)
    assert pins[1]["id"] in shown and "Verified" in shown and "Already pinned" not in shown


async def test_waiting_for_the_service_holds_no_upload_slot(make_bot: BotFactory) -> None:
    """With one upload slot, a pin the service keeps "pinning" for an hour does not delay
    the next file: its follow-up is a scheduled check, not a coroutine asleep in the slot."""
    bot = await make_bot(PINBOT_CONCURRENCY="1", PINBOT_STATUS_POLL_INTERVAL="0.2",
                         PINBOT_STATUS_POLL_SECONDS="1h")
    bot.w3ipfs.pinning_reads = 10_000  # PINNING, read after read
    slow = bot.slack.add_file("slow-pin.iso", b"s" * 5000)
    await bot.driver.file_shared(slow)
    await bot.eventually(lambda: any("still pinning" in text_of(m)
                                     for m in bot.slack.thread(slow.channel, slow.ts)))
    quick = bot.slack.add_file("next.txt", b"the next file")
    started = time.monotonic()
    await bot.driver.file_shared(quick)
    await bot.eventually(lambda: any(cid_v1_of(b"the next file") in text_of(m)
                                     for m in bot.slack.thread(quick.channel, quick.ts)),
                         timeout=5)
    assert time.monotonic() - started < 5
    # Both are still "pinning" at the service: both followed by scheduled checks, durably,
    # while the one upload slot stayed free.
    counts = await bot.services.job_store.counts()
    assert counts == {"uploaded": 2}


async def test_twenty_racing_deliveries_in_three_channels_one_upload(bot: Bot) -> None:
    data = b"everyone shares the same deck" * 2000
    fake = bot.slack.add_file("deck.pdf", data)
    bot.w3ipfs.throttle_upload = 0.5  # the first upload is still running as the rest arrive
    channels = [fake.channel]
    for channel in ("C0RANDOM", "C0DESIGN"):
        bot.slack.share_again(fake, channel)
        channels.append(channel)
    # One event per channel, each delivered several times (Slack retries), plus duplicate
    # deliveries under new ids: twenty requests in all, sent at once.
    sends: list[Any] = []
    for i in range(20):
        channel = channels[i % 3]
        event_id = f"Ev{channel}" if i < 15 else None
        sends.append(bot.driver.file_shared(fake, channel=channel, event_id=event_id,
                                            retry_num=i // 3 or None))
    await asyncio.gather(*sends)
    await bot.idle()
    assert len(bot.w3ipfs.api_requests("POST", "/pinning/")) == 1
    (pin,) = bot.w3ipfs.all_pins()
    verified = 0
    for channel in channels:
        share_ts = next(ts for (c, ts), m in bot.slack.messages.items()
                        if c == channel and fake.id in (m.get("files") or []))
        (reply,) = bot.slack.thread(channel, share_ts)  # every thread told, once
        shown = text_of(reply)
        assert pin["cid"] in shown
        if "Verified" in shown and "Already pinned" not in shown:
            verified += 1
        else:
            assert "Already pinned (first pinned in <#" in shown
    assert verified == 1


async def test_a_bug_in_a_step_is_told_on_the_card(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The safety net for bugs: the card does not say "Pinning…" forever."""

    async def broken(self: PinSharedFile, *args: Any, **kwargs: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(PinSharedFile, "_follow", broken)
    fake = bot.slack.add_file("unlucky.txt", b"meets a bug")
    await share(bot, fake)
    shown = text_of(reply_in_thread(bot, fake))
    assert "Could not pin" in shown and "unexpected" in shown
    assert "KeyError" not in shown and "Traceback" not in shown
    assert await bot.services.job_store.counts() == {}  # nothing left running
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}")
    assert record is not None and record.state == "failed"  # a later share may pin it


async def test_an_upload_refused_with_429_is_resent_and_still_verified(bot: Bot) -> None:
    """A 429 proves the service did not act: the client sends again at once, downloading the
    file afresh — and the CID is computed over the bytes of that attempt alone."""
    bot.w3ipfs.inject("429", count=2, path="/pinning/", method="POST", retry_after="0")
    data = b"refused twice, then taken" * 3000
    fake = bot.slack.add_file("busy.bin", data)
    await share(bot, fake)
    shown = text_of(reply_in_thread(bot, fake))
    assert cid_v1_of(data) in shown and "Verified" in shown and "Not verified" not in shown
    assert len(bot.w3ipfs.api_requests("POST", "/pinning/")) == 3
    assert len(bot.slack.downloads) == 3 and len(bot.w3ipfs.all_pins()) == 1

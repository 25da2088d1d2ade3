"""Live progress, reactions, status follow-up, backlog, metrics, and Slack throttling."""

from __future__ import annotations

import time
from typing import Any

from bot.cid import cid_v1_of
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_shared_files import text_of


def history(bot: Bot, channel: str) -> list[dict[str, Any]]:
    (message,) = bot.slack.bot_messages(channel)
    return list(message["history"])


async def test_progress_updates_then_result_card(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_PROGRESS_INTERVAL="0.2")
    # A slow link: the service reads ~16 MiB/s, so 32 MiB take about two seconds.
    fake = bot.slack.add_file("big.bin", size=32 * 1024 * 1024)
    bot.w3ipfs.throttle_upload = 0.06
    await bot.driver.file_shared(fake)
    await bot.idle()
    steps = history(bot, fake.channel)
    updates = [s for s in steps if "%" in s["text"] and "Pinning" in s["text"]]
    assert len(updates) >= 2, [s["text"] for s in steps]
    assert "of 32.0 MiB" in text_of(updates[0]) and "/s" in text_of(updates[0])
    assert "▓" in text_of(updates[-1]) and "left" in text_of(updates[0])
    assert "Verified" in text_of(steps[-1])  # the final card wins over progress
    assert len(updates) <= 2.5 / 0.2 + 1  # never more often than the interval


async def test_progress_updates_respect_the_interval(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_PROGRESS_INTERVAL="3")
    fake = bot.slack.add_file("quick.bin", size=3 * 1024 * 1024)
    await bot.driver.file_shared(fake)
    await bot.idle()
    steps = history(bot, fake.channel)
    assert len(steps) == 2  # placeholder, then the card: no update inside 3 s


async def test_reactions_show_the_state(bot: Bot) -> None:
    ok = bot.slack.add_file("ok.txt", b"fine")
    await bot.driver.file_shared(ok)
    await bot.idle()
    assert bot.slack.reactions[(ok.channel, ok.ts)] == {"white_check_mark"}
    added = [c.args["name"] for c in bot.slack.calls_to("reactions.add")]
    assert added == ["hourglass_flowing_sand", "white_check_mark"]
    bot.w3ipfs.inject("500", count=10, path="/pinning/", method="POST")
    bad = bot.slack.add_file("bad.txt", b"broken")
    await bot.driver.file_shared(bad)
    await bot.idle()
    assert bot.slack.reactions[(bad.channel, bad.ts)] == {"x"}


async def test_non_final_status_is_followed_up(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_STATUS_POLL_INTERVAL="0.1", PINBOT_STATUS_POLL_SECONDS="30")
    bot.w3ipfs.pinning_reads = 3  # the service says PINNING for three reads
    fake = bot.slack.add_file("slow-pin.bin", b"s" * 1000)
    await bot.driver.file_shared(fake)
    await bot.idle()
    steps = history(bot, fake.channel)
    assert "still pinning" in text_of(steps[-2]) and "PINNING" in text_of(steps[-2])
    assert "DONE" in text_of(steps[-1]) and "still pinning" not in text_of(steps[-1])
    assert len(bot.w3ipfs.api_requests("GET", "/pinning/")) >= 3
    assert bot.slack.reactions[(fake.channel, fake.ts)] == {"white_check_mark"}


async def test_status_follow_up_is_bounded(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_STATUS_POLL_INTERVAL="0.1", PINBOT_STATUS_POLL_SECONDS="0.5")
    bot.w3ipfs.pinning_reads = 1000
    fake = bot.slack.add_file("stuck.bin", b"t" * 10)
    started = time.monotonic()
    await bot.driver.file_shared(fake)
    await bot.idle()
    assert time.monotonic() - started < 5
    assert "Still pinning after" in text_of(history(bot, fake.channel)[-1])


async def test_old_events_are_skipped(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_MAX_EVENT_AGE="1h")
    fake = bot.slack.add_file("backlog.txt", b"old")
    envelope_event = {
        "type": "file_shared", "channel_id": fake.channel, "file_id": fake.id,
        "user_id": fake.user, "file": {"id": fake.id},
        "event_ts": f"{time.time() - 7200:.6f}",
    }
    await bot.driver.event(envelope_event, event_time=int(time.time()) - 7200)
    await bot.idle()
    assert bot.slack.calls_to("files.info") == [] and bot.w3ipfs.requests == []


async def test_slack_429_on_chat_update_is_retried(bot: Bot) -> None:
    bot.slack.rate_limit_next["chat.update"] = 1
    fake = bot.slack.add_file("throttled.txt", b"throttled")
    await bot.driver.file_shared(fake)
    await bot.idle()
    (reply,) = bot.slack.bot_messages(fake.channel)
    assert cid_v1_of(b"throttled") in text_of(reply) and "Verified" in text_of(reply)
    assert len(bot.slack.calls_to("chat.update")) == 2  # the 429, then the retry


async def test_metrics_endpoint(bot: Bot) -> None:
    bot.w3ipfs.inject("503", count=1)
    fake = bot.slack.add_file("counted.bin", b"c" * 4096)
    await bot.driver.file_shared(fake)
    await bot.idle()
    response = await bot.driver.http.get(f"{bot.url}/metrics")
    assert response.status_code == 200
    body = response.text
    for name in ("pinbot_jobs_total", "pinbot_bytes_streamed_total", "pinbot_upload_seconds",
                 "pinbot_api_errors_total", "pinbot_queue_depth"):
        assert name in body
    assert 'pinbot_jobs_total{outcome="pinned"}' in body
    assert 'pinbot_api_errors_total{kind="ServerError"}' in body

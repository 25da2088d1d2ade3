"""A file shared in Slack is streamed into the pinning API and answered in its thread."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bot.cid import StreamingCID, cid_v1_of
from pinbot.emulators.slack import FakeFile
from tests.e2e.conftest import GATEWAY, Bot


def text_of(message: dict[str, Any]) -> str:
    """Everything a person reads in a message: fallback text plus all block text."""
    return message.get("text", "") + "\n" + json.dumps(message.get("blocks", []),
                                                       ensure_ascii=False)


async def share(bot: Bot, fake: FakeFile, **kwargs: Any) -> None:
    sent = await bot.driver.file_shared(fake, **kwargs)
    assert sent.response.status_code == 200
    assert sent.elapsed < 3, "Slack needs the ack within 3 seconds"
    await bot.idle()


def reply_in_thread(bot: Bot, fake: FakeFile) -> dict[str, Any]:
    (reply,) = bot.slack.thread(fake.channel, fake.thread_ts or fake.ts)
    return reply


async def test_shared_file_gets_verified_card_in_thread(bot: Bot) -> None:
    data = b"quarterly numbers\n" * 1000
    fake = bot.slack.add_file("q3.csv", data, mimetype="text/csv", filetype="csv")
    await share(bot, fake)
    reply = reply_in_thread(bot, fake)
    cid = cid_v1_of(data)
    first, last = reply["history"][0], reply["history"][-1]
    assert "Pinning" in first["text"] and "q3.csv" in text_of(first)
    shown = text_of(last)
    assert cid in shown and "q3.csv" in shown
    assert "Verified" in shown and "<@UALICE>" in shown
    assert f"{GATEWAY}/ipfs/{cid}" in shown
    assert "pin_unpin" in shown and "confirm" in shown  # Unpin button with a confirm dialog
    (pin,) = bot.w3ipfs.all_pins()
    assert pin["cid"] == cid and pin["id"] in shown
    keyvalues = dict(pin["metadata"]["keyvalues"])
    assert re.fullmatch(r"[0-9a-f]{32}", keyvalues.pop("pinbot_upload"))  # idempotency key
    assert keyvalues == {
        "slack_team": bot.slack.team_id, "slack_channel": fake.channel,
        "slack_user": "UALICE", "slack_file": fake.id,
    }
    download = bot.slack.downloads[-1]
    assert download["authorization"] == f"Bearer {bot.slack.bot_token}"


async def test_reply_goes_to_existing_thread(bot: Bot) -> None:
    fake = bot.slack.add_file("in-thread.txt", b"reply", thread_ts="1700000000.000100")
    await share(bot, fake)
    reply = reply_in_thread(bot, fake)
    assert reply["thread_ts"] == "1700000000.000100"


async def test_no_share_info_posts_to_channel(bot: Bot) -> None:
    fake = bot.slack.add_file("loose.txt", b"no shares yet", no_shares=True)
    await share(bot, fake)
    (message,) = bot.slack.bot_messages(fake.channel)
    assert "thread_ts" not in message and cid_v1_of(b"no shares yet") in text_of(message)


async def test_same_event_delivered_twice_pins_once(bot: Bot) -> None:
    fake = bot.slack.add_file("twice.bin", b"x" * 5000)
    await bot.driver.file_shared(fake, event_id="Ev0SAME")
    await bot.driver.file_shared(fake, event_id="Ev0SAME", retry_num=1)
    await bot.driver.file_shared(fake, event_id="Ev0OTHER")  # duplicate delivery, new id
    await bot.idle()
    assert len(bot.w3ipfs.all_pins()) == 1
    assert len(bot.w3ipfs.api_requests("POST", "/pinning")) == 1
    assert len(bot.slack.bot_messages()) == 1


async def test_same_file_in_second_channel_points_at_existing_pin(bot: Bot) -> None:
    fake = bot.slack.add_file("shared-twice.pdf", b"%PDF-1.7 ...")
    bot.slack.share_again(fake, "C0RANDOM")
    await bot.driver.file_shared(fake)
    await bot.driver.file_shared(fake, channel="C0RANDOM")  # arrives while the first runs
    await bot.idle()
    assert len(bot.w3ipfs.api_requests("POST", "/pinning")) == 1
    (general,) = bot.slack.bot_messages("C0GENERAL")
    (random,) = bot.slack.bot_messages("C0RANDOM")
    # Whichever delivery won the claim pinned it; the other points at that pin.
    first, second, first_channel = (
        (general, random, "C0GENERAL") if "Already pinned" in text_of(random)
        else (random, general, "C0RANDOM")
    )
    assert "Verified" in text_of(first)
    assert "Already pinned" in text_of(second) and f"<#{first_channel}>" in text_of(second)
    assert bot.w3ipfs.all_pins()[0]["cid"] in text_of(second)


async def test_bot_own_files_are_ignored(bot: Bot) -> None:
    fake = bot.slack.add_file("bot-export.txt", b"made by the bot", user=bot.slack.bot_user_id)
    await share(bot, fake)
    assert bot.w3ipfs.all_pins() == []
    assert bot.slack.bot_messages() == [] and bot.slack.ephemeral == []


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"external": True}, "outside Slack"),
        ({"file_access": True}, "Slack Connect"),
        ({"deleted": True}, "deleted"),
    ],
)
async def test_unpinnable_files_get_a_kind_ephemeral_reply(
    bot: Bot, options: dict[str, Any], expected: str
) -> None:
    fake = bot.slack.add_file("odd.doc", b"content", **options)
    await share(bot, fake)
    (note,) = bot.slack.ephemeral
    assert note["user"] == "UALICE" and expected in text_of(note)
    assert bot.w3ipfs.requests == [] and bot.slack.downloads == []


async def test_empty_file(bot: Bot) -> None:
    fake = bot.slack.add_file("empty.txt", b"")
    await share(bot, fake)
    (note,) = bot.slack.ephemeral
    assert "empty" in text_of(note) and note["thread_ts"] == fake.ts
    assert bot.w3ipfs.requests == []


async def test_file_over_the_limit(make_bot: Any) -> None:
    bot = await make_bot(PINBOT_MAX_FILE_MB=1)
    fake = bot.slack.add_file("huge.iso", size=2 * 1024 * 1024)
    await share(bot, fake)
    (note,) = bot.slack.ephemeral
    assert "2.0 MiB" in text_of(note) and "1.0 MiB" in text_of(note)
    assert bot.slack.downloads == [] and bot.w3ipfs.requests == []


async def test_login_page_instead_of_bytes(bot: Bot) -> None:
    fake = bot.slack.add_file("secret.zip", b"PK\x03\x04" * 100, login_page=True)
    await share(bot, fake)
    shown = text_of(reply_in_thread(bot, fake))
    assert "login page" in shown and "Could not pin secret.zip" in shown
    assert bot.w3ipfs.requests == []  # refused before any upload began


@pytest.mark.parametrize("served", [100, 5000])
async def test_byte_count_differs_from_files_info(bot: Bot, served: int) -> None:
    fake = bot.slack.add_file("changed.bin", b"y" * 1000, serve_size=served)
    await share(bot, fake)
    shown = text_of(reply_in_thread(bot, fake))
    assert "did not match the file's size" in shown
    assert bot.w3ipfs.all_pins() == []


async def test_bad_pinning_keys(make_bot: Any) -> None:
    bot = await make_bot(W3IPFS_SECRET_KEY="wrong")
    fake = bot.slack.add_file("a.txt", b"abc")
    await share(bot, fake)
    shown = text_of(reply_in_thread(bot, fake))
    assert "rejected pinbot's API keys" in shown and "wrong" not in shown
    assert bot.w3ipfs.all_pins() == []


async def test_pinning_api_down_after_retries(bot: Bot) -> None:
    bot.w3ipfs.inject("503", count=100, path="/pinning/", method="POST")
    fake = bot.slack.add_file("down.txt", b"abc")
    await share(bot, fake)
    reply = reply_in_thread(bot, fake)
    shown = text_of(reply)
    assert "Could not pin" in shown and "tried 4 times" in shown
    assert "Traceback" not in shown
    # Meanwhile the card said why it was waiting, and that it would try again.
    assert any("having trouble" in text_of(m) and "try again" in text_of(m)
               for m in reply["history"])
    # A 503 after the body went out may hide a stored pin: one POST per attempt, and a look
    # for the earlier attempt's pin (by its upload key) before every new one.
    # W3IPFS_MAX_RETRIES + 1 attempts (the tests' client retries 3 times).
    assert len(bot.w3ipfs.api_requests("POST", "/pinning/")) == 4
    assert len(bot.w3ipfs.api_requests("GET", "/pinning/pins")) == 4


async def test_transient_api_failure_is_retried_with_a_fresh_download(bot: Bot) -> None:
    bot.w3ipfs.inject("reset", path="/pinning")
    data = bytes(range(256)) * 4000
    fake = bot.slack.add_file("retry.bin", data)
    await share(bot, fake)
    shown = text_of(reply_in_thread(bot, fake))
    assert cid_v1_of(data) in shown and "Verified" in shown
    assert len(bot.slack.downloads) == 2 and len(bot.w3ipfs.all_pins()) == 1


async def test_cid_mismatch_is_said_plainly(bot: Bot) -> None:
    bot.w3ipfs.cid_override = cid_v1_of(b"something else")
    fake = bot.slack.add_file("tampered.txt", b"original bytes")
    await share(bot, fake)
    shown = text_of(reply_in_thread(bot, fake))
    assert "Not verified" in shown and cid_v1_of(b"original bytes") in shown


async def test_redirect_keeps_token_on_slack_hosts_only(bot: Bot) -> None:
    # `localhost` is not in PINBOT_DOWNLOAD_HOSTS and resolves to loopback: refused, so the
    # only request made is the one to the Slack host, with the token (more: test_downloads.py).
    fake = bot.slack.add_file("cdn.bin", b"via a cdn", redirect_host="localhost")
    await share(bot, fake)
    assert "does not fetch from" in text_of(reply_in_thread(bot, fake))
    (first,) = bot.slack.downloads
    assert first["authorization"] == f"Bearer {bot.slack.bot_token}"
    assert bot.w3ipfs.all_pins() == []


async def test_download_host_outside_slack_is_refused(make_bot: Any) -> None:
    bot = await make_bot(PINBOT_DOWNLOAD_HOSTS="files.slack.com")
    fake = bot.slack.add_file("elsewhere.bin", b"data")
    await share(bot, fake)
    assert "does not point at Slack" in text_of(reply_in_thread(bot, fake))
    assert bot.slack.downloads == []


@pytest.mark.parametrize(("auto_pin", "pinned"), [("off", 0), ("C0OTHER", 0), ("C0GENERAL", 1)])
async def test_auto_pin_setting(make_bot: Any, auto_pin: str, pinned: int) -> None:
    bot = await make_bot(PINBOT_AUTO_PIN=auto_pin)
    await share(bot, bot.slack.add_file("a.txt", b"abc"))
    assert len(bot.w3ipfs.all_pins()) == pinned


async def test_ack_is_fast_even_when_the_api_hangs(bot: Bot) -> None:
    bot.w3ipfs.inject("hang", count=1, hang_seconds=4)
    fake = bot.slack.add_file("slow.txt", b"slow")
    sent = await bot.driver.file_shared(fake)
    assert sent.response.status_code == 200 and sent.elapsed < 1
    await bot.idle()


async def test_bad_signature_is_rejected(bot: Bot) -> None:
    fake = bot.slack.add_file("a.txt", b"abc")
    response, _ = await bot.driver.post("{}", "application/json", signature="v0=deadbeef")
    assert response.status_code == 401
    old, _ = await bot.driver.post("{}", "application/json", timestamp=1_000_000)
    assert old.status_code == 401
    assert fake and bot.w3ipfs.requests == []


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


@pytest.mark.slow
async def test_200_mib_file_streams_with_flat_memory(bot: Bot) -> None:
    size = 200 * 1024 * 1024
    fake = bot.slack.add_file("dataset.tar", size=size)
    expected = StreamingCID()
    for chunk in fake.chunks():
        expected.update(chunk)
    baseline = _rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak-RSS counter to now
    await share(bot, fake)
    growth_mib = (_rss_kib("VmHWM") - baseline) / 1024
    shown = text_of(reply_in_thread(bot, fake))
    assert expected.finalize() in shown and "Verified" in shown and "200 MiB" in shown
    assert bot.w3ipfs.requests[-1].body_bytes == size
    # Bot, both emulators and the test share this process: all of it must stay far below the
    # file's size for the stream to count as flat.
    print(f"peak RSS growth: {growth_mib:.1f} MiB")
    assert growth_mib < 64, f"peak RSS grew {growth_mib:.0f} MiB for a 200 MiB file"

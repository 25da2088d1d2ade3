"""Hostile downloads: a trickling server, redirects into private networks, cleartext links.

The real app against the Slack emulator over HTTP. The emulator trickles a file a byte at a
time (`trickle`), redirects a download anywhere (`redirect_to`) and offers any download URL
(`download_url`); see pinbot/emulators/slack.py.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from pydantic import SecretStr

from bot.cid import cid_v1_of
from bot.download_policy import AddressRefused, GuardedResolver
from bot.slack_files import SlackDownloader, SlackFile, UnsafeDownloadError
from pinbot.emulators.slack import FakeFile
from tests.e2e.conftest import Bot, BotFactory

#: The slow-download settings used here: deadline = 1 s + size / 1 KiB/s.
RATE, ALLOWANCE = "1KiB/s", "1s"
#: A 1 KiB file sent a byte every 50 ms would take 51 s; its deadline is 2 s.
TRICKLE_SIZE, TRICKLE_GAP, DEADLINE = 1024, 0.05, 2.0
#: Reached through `localhost` (listed), so that 127.0.0.1 is *not* a listed host.
VIA_LOCALHOST = "http://localhost:{port}/files-pri/{team}-{id}/download"
REFUSED = "does not fetch from"


def text_of(message: dict[str, Any]) -> str:
    return message.get("text", "") + "\n" + json.dumps(message.get("blocks", []),
                                                       ensure_ascii=False)


def card(bot: Bot, fake: FakeFile) -> str:
    """The text of pinbot's one reply in the file's thread ("" while there is none)."""
    replies = bot.slack.thread(fake.channel, fake.thread_ts or fake.ts)
    assert len(replies) <= 1
    return text_of(replies[0]) if replies else ""


async def slow_bot(make_bot: BotFactory, **env: Any) -> Bot:
    return await make_bot(PINBOT_MIN_DOWNLOAD_RATE=RATE, PINBOT_DOWNLOAD_ALLOWANCE=ALLOWANCE,
                          **env)


async def test_download_settings_reach_the_downloader(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_MIN_DOWNLOAD_RATE=RATE, PINBOT_DOWNLOAD_ALLOWANCE=ALLOWANCE)
    assert bot.services.downloader.min_rate == 1024
    assert bot.services.downloader.allowance == 1.0


async def test_trickling_download_is_cut_at_its_deadline(make_bot: BotFactory) -> None:
    bot = await slow_bot(make_bot)
    fake = bot.slack.add_file("slow.bin", size=TRICKLE_SIZE, trickle=TRICKLE_GAP)
    started = time.monotonic()
    sent = await bot.driver.file_shared(fake)
    assert sent.response.status_code == 200 and sent.elapsed < 3
    await bot.idle(timeout=20)
    elapsed = time.monotonic() - started
    assert DEADLINE - 0.2 <= elapsed < DEADLINE + 3, elapsed
    shown = card(bot, fake)
    assert "too slowly (under 1.0 KiB/s)" in shown and "Could not pin slow.bin" in shown
    assert "Traceback" not in shown and "F0" not in shown  # no internal detail
    (download,) = bot.slack.downloads
    assert "hung_up" in download and download["sent"] < TRICKLE_SIZE  # connection dropped
    assert bot.w3ipfs.all_pins() == []


async def test_trickle_does_not_starve_other_files(make_bot: BotFactory) -> None:
    bot = await slow_bot(make_bot, PINBOT_CONCURRENCY=1)
    slow = bot.slack.add_file("slow.bin", size=TRICKLE_SIZE, trickle=TRICKLE_GAP)
    quick = bot.slack.add_file("quick.txt", b"not starved", channel="C0OTHER")
    started = time.monotonic()
    await bot.driver.file_shared(slow)
    await bot.driver.file_shared(quick)
    await bot.eventually(lambda: cid_v1_of(b"not starved") in card(bot, quick),
                         timeout=DEADLINE + 5)
    assert time.monotonic() - started < DEADLINE + 3
    await bot.idle(timeout=20)
    assert "too slowly" in card(bot, slow)
    assert [p["cid"] for p in bot.w3ipfs.all_pins()] == [cid_v1_of(b"not starved")]


#: Where a listed Slack host may try to send the download, all refused. 127.0.0.1 is the
#: emulator itself: followed, its bytes would be pinned.
PRIVATE_TARGETS = [
    "http://127.0.0.1:{port}/cdn/{id}",
    "https://127.0.0.1:{port}/cdn/{id}",
    "http://10.0.0.1/cdn/{id}",
    "https://192.168.1.1/cdn/{id}",
    "https://169.254.169.254/latest/meta-data/",
    "http://[::1]:{port}/cdn/{id}",
    "https://[fd00::1]/cdn/{id}",
    "https://[fe80::1]/cdn/{id}",
    "http://0.0.0.0:{port}/cdn/{id}",
    "https://[::]:{port}/cdn/{id}",
    "http://[::ffff:127.0.0.1]:{port}/cdn/{id}",
    "https://[::ffff:a9fe:a9fe]/latest/meta-data/",
    "https://[64:ff9b::7f00:1]:{port}/cdn/{id}",
    "http://2130706433:{port}/cdn/{id}",
    "http://0x7f.1:{port}/cdn/{id}",
    "http://0177.0.0.1:{port}/cdn/{id}",
    "https://100.64.0.1/cdn/{id}",
    "https://224.0.0.1/cdn/{id}",
]


async def test_redirect_to_private_address_is_refused(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_DOWNLOAD_HOSTS="localhost")
    for target in PRIVATE_TARGETS:
        fake = bot.slack.add_file("internal.txt", b"internal page", download_url=VIA_LOCALHOST,
                                  redirect_to=target)
        await bot.driver.file_shared(fake)
        await bot.idle()
        assert REFUSED in card(bot, fake), target
    hops = bot.slack.downloads
    assert len(hops) == len(PRIVATE_TARGETS), "only the first hop of each was requested"
    assert all(h["path"].startswith("/files-pri/") for h in hops)
    assert bot.w3ipfs.requests == [] and bot.w3ipfs.all_pins() == []


async def test_redirect_to_unlisted_name_on_loopback_is_refused(make_bot: BotFactory) -> None:
    # The emulator is listed as 127.0.0.1; `localhost` is a name (checked by the resolver in
    # the connector) that resolves to loopback and is not listed.
    bot = await make_bot(PINBOT_DOWNLOAD_HOSTS="127.0.0.1")
    fake = bot.slack.add_file("a.txt", b"abc", redirect_to="http://localhost:{port}/cdn/{id}")
    await bot.driver.file_shared(fake)
    await bot.idle()
    assert REFUSED in card(bot, fake)
    (hop,) = bot.slack.downloads
    assert hop["authorization"] == f"Bearer {bot.slack.bot_token}"
    assert bot.w3ipfs.all_pins() == []


async def test_listed_private_hosts_are_followed(make_bot: BotFactory) -> None:
    """The control for the refusals above: the same redirect, with 127.0.0.1 listed, works."""
    bot = await make_bot(PINBOT_DOWNLOAD_HOSTS="localhost,127.0.0.1")
    fake = bot.slack.add_file("cdn.txt", b"via the cdn", download_url=VIA_LOCALHOST,
                              redirect_to="http://127.0.0.1:{port}/cdn/{id}")
    await bot.driver.file_shared(fake)
    await bot.idle()
    assert cid_v1_of(b"via the cdn") in card(bot, fake)
    _, second = bot.slack.downloads
    assert second["path"].startswith("/cdn/") and second["host"].startswith("127.0.0.1")


async def test_cleartext_link_is_refused_before_any_request(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_DOWNLOAD_HOSTS="files.slack.com,127.0.0.1")
    direct = bot.slack.add_file("a.txt", b"abc",
                                download_url="http://files.slack.com/files-pri/{team}-{id}/x")
    # A listed host over http reached by a redirect: the token must not follow in clear.
    redirected = bot.slack.add_file("b.txt", b"abc",
                                    redirect_to="http://files.slack.com/files-pri/{id}/x")
    for fake in (direct, redirected):
        await bot.driver.file_shared(fake)
    await bot.idle()
    for fake in (direct, redirected):
        assert "not encrypted (http://)" in card(bot, fake)
    (hop,) = bot.slack.downloads  # only the loopback first hop of the redirected file
    assert hop["path"].startswith("/files-pri/T0TEST-")
    assert bot.w3ipfs.requests == []


async def test_name_is_checked_at_connect_time(make_bot: BotFactory) -> None:
    """DNS rebinding: a name that passes every check on the URL, whose DNS answers loopback
    when pinbot connects, is refused by the resolver inside the connector."""
    bot = await make_bot()

    class RebindingDNS(AbstractResolver):
        """Answers every name with the emulator's address, as a rebinding DNS would."""

        async def resolve(self, host: str, port: int = 0,
                          family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
            return [{"hostname": host, "host": "127.0.0.1", "port": port,
                     "family": socket.AF_INET, "proto": 0, "flags": 0}]

        async def close(self) -> None:
            pass

    fake = bot.slack.add_file("r.txt", b"abc", redirect_to="https://cdn.rebind.test:{port}/")
    downloader = SlackDownloader(SecretStr(bot.slack.bot_token), ["127.0.0.1"],
                                 resolver=RebindingDNS())
    try:
        with pytest.raises(UnsafeDownloadError) as info:
            await downloader.open(SlackFile.from_api(bot.slack.file_info(fake)))
    finally:
        await downloader.aclose()
    assert "non-public address" in str(info.value)
    assert len(bot.slack.downloads) == 1


async def test_guarded_resolver_refuses_private_answers_for_unlisted_names() -> None:
    with pytest.raises(AddressRefused):
        await GuardedResolver(["127.0.0.1"]).resolve("localhost", 80)
    answers = await GuardedResolver(["localhost"]).resolve("localhost", 80)
    assert answers and all(a["host"] in ("127.0.0.1", "::1") for a in answers)

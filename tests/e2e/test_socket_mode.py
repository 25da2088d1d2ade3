"""`pinbot serve` in Socket Mode: the same app over a websocket from the Slack emulator."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot import server
from bot.cid import cid_v1_of
from bot.services import Services
from bot.settings import load_settings
from bot.w3ipfs import W3IPFSClient
from handlers import register_all
from pinbot.emulators.slack import SlackEmulator
from pinbot.emulators.w3ipfs import W3IPFSEmulator
from tests.conftest import API_KEY, FAST_RETRY, SECRET_KEY
from tests.e2e.test_shared_files import text_of


@pytest.fixture
async def socket_bot(
    w3ipfs: W3IPFSEmulator, clean_env: None, unused_tcp_port: int, tmp_path: Path
) -> AsyncIterator[tuple[SlackEmulator, Services, int]]:
    slack = SlackEmulator()
    await slack.start()
    os.environ.update({
        "W3IPFS_API_URL": w3ipfs.base_url, "W3IPFS_API_KEY": API_KEY,
        "W3IPFS_SECRET_KEY": SECRET_KEY, "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token, "SLACK_API_URL": slack.api_url,
        "PINBOT_DOWNLOAD_HOSTS": "127.0.0.1", "PINBOT_HOST": "127.0.0.1",
        "PINBOT_PORT": str(unused_tcp_port),
        "PINBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'socket.db'}",
    })
    settings = load_settings()
    client = W3IPFSClient.from_settings(settings)
    client.retry = FAST_RETRY
    settings.slack_signing_secret = settings.slack_app_token  # as serve() does
    services = await Services.create(settings, w3ipfs=client)
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(settings, register_all, services, stop))
    deadline = time.monotonic() + 10
    while not slack.sockets:
        assert time.monotonic() < deadline, "the app never opened its socket"
        assert not task.done(), task.exception()
        await asyncio.sleep(0.02)
    yield slack, services, unused_tcp_port
    stop.set()
    await asyncio.wait_for(task, 10)
    await slack.stop()


async def wait_for(check: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_file_shared_over_socket_mode(
    socket_bot: tuple[SlackEmulator, Services, int],
) -> None:
    slack, _services, _ = socket_bot
    fake = slack.add_file("socket.txt", b"over the socket")
    envelope = await slack.push("events_api", {
        "type": "event_callback", "team_id": slack.team_id, "api_app_id": "A0PINBOT",
        "event_id": "Ev0SOCKET", "event_time": int(time.time()),
        "event": {"type": "file_shared", "file_id": fake.id, "channel_id": fake.channel,
                  "user_id": fake.user, "file": {"id": fake.id}, "event_ts": "1.1"},
    })
    await wait_for(lambda: envelope in slack.socket_acks)
    await wait_for(lambda: slack.thread(fake.channel, fake.ts)
                   and "Verified" in text_of(slack.thread(fake.channel, fake.ts)[0]))
    assert cid_v1_of(b"over the socket") in text_of(slack.thread(fake.channel, fake.ts)[0])


async def test_slash_command_over_socket_mode_and_healthz(
    socket_bot: tuple[SlackEmulator, Services, int],
) -> None:
    slack, _, port = socket_bot
    envelope = await slack.push("slash_commands", {
        "token": "x", "team_id": slack.team_id, "channel_id": "C0GENERAL",
        "user_id": "UALICE", "command": "/pin", "text": "help",
        "response_url": slack.response_url(), "trigger_id": "1.2.3", "api_app_id": "A0PINBOT",
    })
    await wait_for(lambda: envelope in slack.socket_acks)
    ack = slack.socket_acks[envelope]["payload"]
    assert "/pin <CID> [name]" in text_of(ack)
    async with httpx.AsyncClient() as http:
        health = await http.get(f"http://127.0.0.1:{port}/healthz")
        assert health.status_code == 200 and health.json()["checks"]["w3ipfs"] == "ok"
        events = await http.post(f"http://127.0.0.1:{port}/slack/events", content="{}")
        assert events.status_code == 404  # Socket Mode: no public events endpoint

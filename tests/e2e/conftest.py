"""The real app, served by aiohttp on 127.0.0.1, wired to the Slack and W3IPFS emulators."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from bot.server import build_web_app
from bot.services import Services
from bot.settings import Settings, load_settings
from bot.w3ipfs import W3IPFSClient
from handlers import register_all
from pinbot.emulators.slack import SlackEmulator
from pinbot.emulators.w3ipfs import W3IPFSEmulator
from tests.conftest import API_KEY, FAST_RETRY, SECRET_KEY
from tests.e2e.slack_driver import SlackDriver

SIGNING_SECRET = "slack-signing-secret-9d21"
GATEWAY = "https://gw.example"


@dataclass
class Bot:
    url: str
    settings: Settings
    services: Services
    slack: SlackEmulator
    w3ipfs: W3IPFSEmulator
    driver: SlackDriver

    async def idle(self, timeout: float = 30) -> None:
        """Wait until every job the app started has finished."""
        for _ in range(3):  # tasks record jobs, jobs schedule follow-ups: settle them all
            await asyncio.sleep(0.02)
            await self.services.tasks.join(timeout)
            assert self.services.runner is not None
            await self.services.runner.join(timeout)

    async def eventually(
        self, check: Callable[[], Any], timeout: float = 10
    ) -> Any:
        """Poll until `check()` is truthy (for replies sent after the ack)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            result = check()
            if result:
                return result
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.02)


BotFactory = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def make_bot(
    w3ipfs: W3IPFSEmulator, clean_env: None, database_url: str
) -> AsyncIterator[BotFactory]:
    runners: list[tuple[web.AppRunner, Bot]] = []
    slack = SlackEmulator()
    await slack.start()

    async def factory(**env: Any) -> Bot:
        values: dict[str, Any] = {
            "W3IPFS_API_URL": w3ipfs.base_url,
            "W3IPFS_API_KEY": API_KEY,
            "W3IPFS_SECRET_KEY": SECRET_KEY,
            "W3IPFS_GATEWAY_URL": GATEWAY,
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "PINBOT_DOWNLOAD_HOSTS": "127.0.0.1",
            "PINBOT_CONCURRENCY": "4",
            "PINBOT_DATABASE_URL": database_url,
        }
        values.update({k: str(v) for k, v in env.items()})
        for key, value in values.items():
            os.environ[key] = value
        settings = load_settings()
        client = W3IPFSClient.from_settings(settings)
        client.retry = FAST_RETRY
        services = await Services.create(settings, w3ipfs=client)
        # A test is over: what still runs (a hang fault, a follow-up) is handed back at once
        # instead of being given the production 30 s (that grace has its own real-process
        # tests in test_scale_out.py).
        services.shutdown_grace = 1.0
        app = build_web_app(settings, services, register_all)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        url = f"http://127.0.0.1:{port}"
        driver = SlackDriver(f"{url}/slack/events", SIGNING_SECRET, slack)
        bot = Bot(url, settings, services, slack, w3ipfs, driver)
        runners.append((runner, bot))
        return bot

    yield factory
    for runner, bot in runners:
        await bot.driver.aclose()
        await runner.cleanup()
    await slack.stop()


@pytest.fixture
async def bot(make_bot: BotFactory) -> Bot:
    return await make_bot()

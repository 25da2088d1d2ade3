"""The card's "Open in gateway" link: W3IPFS_GATEWAY_URL, else the account's own gateway
(`GET /gateways/`), else the public gateway — per workspace account."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.w3ipfs.gateways import PUBLIC_GATEWAY_URL
from tests.databases import fresh_database
from tests.e2e.conftest import GATEWAY, Bot, BotFactory
from tests.e2e.test_ledger import share_and_wait
from tests.e2e.test_workspace_keys import FERNET, OTHER_KEY, OTHER_SECRET, setup_keys


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """SQLite only: links do not depend on the database (the suite's time is shared)."""
    async with fresh_database("sqlite", tmp_path) as url:
        yield url


PUBLIC = {"name": "public", "host": "gateway.w3ipfs.aioz.network", "type": "Public",
          "bandwidth": 0, "operation": "Running", "active": True}


def dedicated(host: str) -> dict[str, Any]:
    return {"name": "ours", "host": host, "type": "Dedicated", "bandwidth": 5,
            "operation": "Running", "active": True}


def gateway_links(message: dict[str, Any]) -> list[str]:
    return re.findall(r'"url": "([^"]+/ipfs/[^"]+)"', json.dumps(message.get("blocks", [])))


def asked(bot: Bot) -> int:
    return len(bot.w3ipfs.api_requests("GET", "/gateways"))


async def test_unset_uses_the_accounts_dedicated_gateway(make_bot: BotFactory) -> None:
    bot = await make_bot(W3IPFS_GATEWAY_URL="")
    bot.w3ipfs.set_gateways([PUBLIC, dedicated("team-7.w3ipfs.aioz.network")])
    card = await share_and_wait(bot, "dedicated.txt", b"served by our own gateway")
    cid = bot.w3ipfs.all_pins()[0]["cid"]
    assert gateway_links(card) == [f"https://team-7.w3ipfs.aioz.network/ipfs/{cid}"]
    await share_and_wait(bot, "second.txt", b"cached for the account")
    assert asked(bot) == 1  # one lookup per account per hour, not one per card


async def test_failing_or_junk_answers_fall_back_to_the_public_gateway(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(W3IPFS_GATEWAY_URL="")
    bot.w3ipfs.inject("500", path="/gateways")
    card = await share_and_wait(bot, "failing.txt", b"the endpoint fails")
    cid = bot.w3ipfs.all_pins()[0]["cid"]
    assert gateway_links(card) == [f"{PUBLIC_GATEWAY_URL}/ipfs/{cid}"]
    assert bot.w3ipfs.all_pins()[0]["pinned"] is True  # the pin itself is unaffected

    junk = await make_bot(W3IPFS_GATEWAY_URL="")  # a fresh process: nothing cached
    junk.w3ipfs.set_gateways(body={"status": "success", "data": {
        "gateways": [{"host": "evil.example.net/x|click"}, "nonsense", 7]}})
    card = await share_and_wait(junk, "junk.txt", b"the endpoint answers junk")
    cid = next(p for p in junk.w3ipfs.all_pins() if p["metadata"]["name"] == "junk.txt")["cid"]
    assert gateway_links(card) == [f"{PUBLIC_GATEWAY_URL}/ipfs/{cid}"]


async def test_the_setting_wins_and_the_service_is_not_asked(make_bot: BotFactory) -> None:
    bot = await make_bot()  # W3IPFS_GATEWAY_URL=https://gw.example
    bot.w3ipfs.set_gateways([dedicated("team-7.w3ipfs.aioz.network")])
    card = await share_and_wait(bot, "set.txt", b"the operator chose a gateway")
    cid = bot.w3ipfs.all_pins()[0]["cid"]
    assert gateway_links(card) == [f"{GATEWAY}/ipfs/{cid}"]
    assert asked(bot) == 0


async def test_a_workspace_with_its_own_keys_links_to_its_own_gateway(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(W3IPFS_GATEWAY_URL="", PINBOT_ADMIN_USERS="UADMIN",
                         PINBOT_ENCRYPTION_KEY=FERNET)
    bot.w3ipfs.accounts[OTHER_KEY] = OTHER_SECRET
    bot.w3ipfs.set_gateways([dedicated("shared.example.net")])
    bot.w3ipfs.set_gateways([PUBLIC, dedicated("own.example.net")], api_key=OTHER_KEY)
    before = await share_and_wait(bot, "before.txt", b"into the environment's account")
    assert gateway_links(before)[0].startswith("https://shared.example.net/ipfs/")
    await setup_keys(bot)
    await bot.idle()
    after = await share_and_wait(bot, "after.txt", b"into the workspace's own account")
    (pin,) = bot.w3ipfs.all_pins(OTHER_KEY)
    assert gateway_links(after) == [f"https://own.example.net/ipfs/{pin['cid']}"]
    own = [r for r in bot.w3ipfs.api_requests("GET", "/gateways")
           if r.headers.get("pinning_api_key") == OTHER_KEY]
    assert len(own) == 1

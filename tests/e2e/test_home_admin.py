"""App Home for admins: this month's use, top channels and people, each channel's retention and
quota, pins due to expire — for admins only, and only of their own workspace."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.databases import fresh_database
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_oauth import install, oauth_bot

A, B = "TALPHA", "TBETA"
ADMIN_A, ADMIN_B = "UAADMIN", "UBADMIN"


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """SQLite only here: the figures' queries run on both databases in test_workspace_stats."""
    async with fresh_database("sqlite", tmp_path) as url:
        yield url


async def open_home(bot: Bot, user: str, team: str) -> str:
    before = len(bot.slack.calls_to("views.publish"))
    await bot.driver.event({"type": "app_home_opened", "user": user, "channel": "D0HOME",
                            "tab": "home", "event_ts": f"{time.time():.6f}"}, team=team)
    await bot.idle()
    calls = bot.slack.calls_to("views.publish")
    assert len(calls) == before + 1 and calls[-1].args["user_id"] == user
    view: dict[str, Any] = calls[-1].args["view"]
    assert len(view["blocks"]) <= 100
    return json.dumps(view, ensure_ascii=False)


async def share(bot: Bot, team: str, name: str, size: int, user: str, channel: str) -> None:
    fake = bot.slack.add_file(name, name.encode()[:1] * size, user=user, channel=channel)
    await bot.driver.file_shared(fake, team=team)


async def test_admins_see_the_workspaces_use_policies_and_expiring_pins(
    make_bot: BotFactory,
) -> None:
    bot = await oauth_bot(make_bot)
    for team in (A, B):
        await install(bot, team)  # both on the environment's account: scoping is the ledger's
    for admin in (ADMIN_A, ADMIN_B):
        bot.slack.add_user(admin, admin=True)
    for member in ("UALICE", "UCAROL", "UBOB"):
        bot.slack.add_user(member)
    policies = bot.services.policies
    await policies.set(A, "C0EXPIRE", ADMIN_A, retention_seconds=3 * 86400)
    await policies.set(A, "C0QUOTA", ADMIN_A, quota_bytes=2 * 10**9)
    await policies.set(B, "C0BETAPOL", ADMIN_B, retention_seconds=86400)
    await share(bot, A, "alpha-expiring.bin", 3000, "UALICE", "C0EXPIRE")
    await share(bot, A, "alpha-notes.txt", 1000, "UCAROL", "C0PLAIN")
    await share(bot, A, "alpha-small.txt", 200, "UALICE", "C0PLAIN")
    await share(bot, B, "beta-private.bin", 50_000, "UBOB", "C0BETA")
    await bot.idle()

    admin = await open_home(bot, ADMIN_A, A)
    use = admin.split("Workspace use this month")[1].split("Retention and quotas")[0]
    assert "*3 files*" in use and "4.1 KiB" in use
    channels, people = use.split("Top channels")[1].split("Top people")
    assert channels.index("<#C0EXPIRE>") < channels.index("<#C0PLAIN>")  # by bytes
    assert "<#C0PLAIN> · 1.2 KiB · 2 files" in channels
    assert people.index("<@UALICE>") < people.index("<@UCAROL>")
    rules = admin.split("Retention and quotas")[1].split("Due to expire")[0]
    assert "<#C0EXPIRE>: retention *3-day*" in rules and "<#C0QUOTA>" in rules
    assert "quota *2 GB* per 30 days" in rules and "Workspace default" in rules
    due = admin.split("Due to expire in the next 7 days")[1]
    assert "*1 pin*" in due and "alpha-expiring.bin" in due and "<#C0EXPIRE>" in due
    assert "alpha-small.txt" not in due  # no policy in its channel: kept forever
    for theirs in ("beta-private", "C0BETA", "UBOB", "48.8 KiB"):
        assert theirs not in admin, theirs

    member = await open_home(bot, "UALICE", A)
    for admin_only in ("Workspace use this month", "Retention and quotas", "Due to expire",
                       "Top people", "C0EXPIRE>: retention"):
        assert admin_only not in member, admin_only

    other = await open_home(bot, ADMIN_B, B)
    assert "*1 file*" in other and "<#C0BETA>" in other and "<#C0BETAPOL>" in other
    for theirs in ("alpha-", "C0EXPIRE", "C0PLAIN", "C0QUOTA", "UALICE", "UCAROL"):
        assert theirs not in other, theirs

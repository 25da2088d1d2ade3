"""Per-workspace pinning keys: set by admins, checked, encrypted, used, forgotten, rotated."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from bot.blocks import KEYS_MODAL
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_commands import responded
from tests.e2e.test_ledger import share_and_wait
from tests.e2e.test_shared_files import text_of

OTHER_KEY, OTHER_SECRET = "team-own-api-key-4242", "team-own-secret-9999"
FERNET = Fernet.generate_key().decode()


def keys(api: str, secret: str) -> dict[str, Any]:
    return {"api_key": {"v": {"value": api}}, "secret_key": {"v": {"value": secret}}}


async def setup_keys(bot: Bot, user: str = "UADMIN", team: str | None = None) -> Any:
    return await bot.driver.view_submission(KEYS_MODAL, user=user, team=team,
                                            values=keys(OTHER_KEY, OTHER_SECRET))


@pytest.fixture
async def keyed_bot(make_bot: BotFactory) -> Bot:
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN", PINBOT_ENCRYPTION_KEY=FERNET)
    bot.w3ipfs.accounts[OTHER_KEY] = OTHER_SECRET
    bot.slack.add_user("UALICE")
    return bot


async def test_setup_needs_an_admin_and_an_encryption_key(make_bot: BotFactory) -> None:
    plain = await make_bot(PINBOT_ADMIN_USERS="UADMIN")
    await plain.driver.command("/pin", "setup", user="UADMIN")
    await plain.idle()
    assert "PINBOT_ENCRYPTION_KEY" in json.dumps(plain.slack.calls_to("views.open")[-1].args)


async def test_admin_sets_keys_and_the_team_pins_into_its_account(keyed_bot: Bot) -> None:
    bot = keyed_bot
    await bot.driver.command("/pin", "setup", user="UALICE")
    await bot.idle()
    assert "Only admins" in json.dumps(bot.slack.calls_to("views.open")[-1].args)
    await bot.driver.command("/pin", "setup", user="UADMIN")
    await bot.idle()
    modal = bot.slack.calls_to("views.open")[-1].args["view"]
    assert modal["callback_id"] == KEYS_MODAL and "default pinning account" in json.dumps(modal)
    wrong = await bot.driver.view_submission(KEYS_MODAL, user="UADMIN",
                                             values=keys(OTHER_KEY, "not-the-secret"))
    assert wrong.body["response_action"] == "errors" and "rejected" in wrong.response.text
    forged = await setup_keys(bot, user="UALICE")
    assert "Only admins" in forged.response.text
    saved = await setup_keys(bot)
    assert saved.body["response_action"] == "update" and "`4242`" in saved.response.text
    async with bot.services.ledger.engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM workspace_keys"))).mappings().one()
    stored = json.dumps({k: str(v) for k, v in row.items()})
    assert OTHER_KEY not in stored and OTHER_SECRET not in stored  # encrypted at rest
    assert row["api_key_last4"] == "4242"
    await share_and_wait(bot, "team-file.txt", b"into the team's own account")
    assert [p["metadata"]["name"] for p in bot.w3ipfs.all_pins(OTHER_KEY)] == ["team-file.txt"]
    assert bot.w3ipfs.all_pins() == []  # nothing in the default account
    await bot.driver.command("/pin", "setup", user="UADMIN")
    await bot.idle()
    again = json.dumps(bot.slack.calls_to("views.open")[-1].args["view"])
    assert "`4242`" in again and OTHER_KEY not in again  # only the last 4 are ever shown


async def test_workspaces_see_only_their_own_account(keyed_bot: Bot) -> None:
    bot = keyed_bot
    await setup_keys(bot)  # T0TEST has its own account; T0OTHER uses the default one
    await bot.services.w3ipfs.pin_file(b"default account data", "default-only.txt")
    await share_and_wait(bot, "t0test-only.txt", b"team data")
    mine = await bot.driver.command("/pins", "")
    (page,) = await responded(bot, mine.response_url)
    assert "t0test-only.txt" in text_of(page) and "default-only" not in text_of(page)
    theirs = await bot.driver.command("/pins", "", team="T0OTHER")
    (other,) = await responded(bot, theirs.response_url)
    assert "default-only.txt" in text_of(other) and "t0test-only" not in text_of(other)
    pin_id = bot.w3ipfs.all_pins(OTHER_KEY)[0]["id"]
    probe = await bot.driver.command("/pins", pin_id, team="T0OTHER")
    (nope,) = await responded(bot, probe.response_url)
    assert "No pin with id" in text_of(nope)  # another workspace's pin id leads nowhere
    unpin = await bot.driver.command("/unpin", pin_id, team="T0OTHER", user="UADMIN")
    (refused,) = await responded(bot, unpin.response_url)
    assert "No pin with" in text_of(refused)
    assert bot.w3ipfs.all_pins(OTHER_KEY)[0]["pinned"] is True


async def test_uninstall_forgets_the_keys(keyed_bot: Bot) -> None:
    bot = keyed_bot
    await setup_keys(bot)
    await bot.driver.event({"type": "app_uninstalled"})
    await bot.idle()
    assert await bot.services.accounts.keys.get(bot.slack.team_id) is None
    await setup_keys(bot)
    await bot.driver.event({"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}})
    await bot.idle()
    assert await bot.services.accounts.keys.get(bot.slack.team_id) is None


async def test_key_rotation(keyed_bot: Bot, tmp_path: Path) -> None:
    bot = keyed_bot
    await setup_keys(bot)
    new = Fernet.generate_key().decode()
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items()}
    env.update(PYTHONPATH=str(root), PINBOT_ENCRYPTION_KEY=f"{new},{FERNET}")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pinbot", "keys", "rotate", env=env, cwd=tmp_path,
        stdout=-1, stderr=-1)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert "re-encrypted 1" in out.decode()
    stored = await bot.services.accounts.keys.get(bot.slack.team_id)
    assert stored is not None
    assert Fernet(new.encode()).decrypt(stored.api_key_enc.encode()).decode() == OTHER_KEY

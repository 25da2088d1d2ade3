"""OAuth distribution: two workspaces install pinbot, each pins into its own account."""

from __future__ import annotations

import asyncio
import re

import httpx
from cryptography.fernet import Fernet

from bot.cid import cid_v1_of
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_shared_files import text_of

FERNET = Fernet.generate_key().decode()
ACCOUNTS = {"TALPHA": ("alpha-api-key-1111", "alpha-secret"),
            "TBETA": ("beta-api-key-2222", "beta-secret")}


async def oauth_bot(make_bot: BotFactory) -> Bot:
    bot = await make_bot(SLACK_BOT_TOKEN="", SLACK_CLIENT_ID="111.222",
                         SLACK_CLIENT_SECRET="oauth-client-secret-71ab",
                         PINBOT_ENCRYPTION_KEY=FERNET)
    for key, secret in ACCOUNTS.values():
        bot.w3ipfs.accounts[key] = secret
    return bot


async def install(bot: Bot, team: str) -> None:
    """What a workspace admin does: open /slack/install, approve, come back with a code."""
    async with httpx.AsyncClient(base_url=bot.url) as browser:
        page = await browser.get("/slack/install")
        assert page.status_code == 200 and "slack.com/oauth/v2/authorize" in page.text
        state = re.search(r"state=([\w-]+)", page.text)
        assert state is not None
        # The state cookie is Secure (HTTPS in production); a browser would send it back.
        cookie = page.headers["set-cookie"].split(";")[0]
        done = await browser.get("/slack/oauth_redirect", headers={"Cookie": cookie}, params={
            "code": bot.slack.install_code(team), "state": state.group(1)})
        assert done.status_code in (200, 302), done.text
    assert bot.services.installations is not None
    found = await bot.services.installations.async_find_bot(enterprise_id=None, team_id=team)
    assert found is not None and found.bot_token and found.bot_token.startswith(f"xoxb-{team}")


async def use_own_account(bot: Bot, team: str) -> None:
    vault = bot.services.accounts.vault
    assert vault is not None
    key, secret = ACCOUNTS[team]
    await bot.services.accounts.keys.put(team, vault.encrypt(key), vault.encrypt(secret),
                                     key[-4:], "UADMIN")


async def test_two_workspaces_install_and_pin_into_their_own_accounts(
    make_bot: BotFactory,
) -> None:
    bot = await oauth_bot(make_bot)
    for team in ACCOUNTS:
        await install(bot, team)
        await use_own_account(bot, team)
    alpha = bot.slack.add_file("alpha.txt", b"alpha's bytes")
    beta = bot.slack.add_file("beta.txt", b"beta's bytes")
    await bot.driver.file_shared(alpha, team="TALPHA")
    await bot.driver.file_shared(beta, team="TBETA")
    await bot.idle()
    assert [p["cid"] for p in bot.w3ipfs.all_pins(ACCOUNTS["TALPHA"][0])] == [
        cid_v1_of(b"alpha's bytes")]
    assert [p["cid"] for p in bot.w3ipfs.all_pins(ACCOUNTS["TBETA"][0])] == [
        cid_v1_of(b"beta's bytes")]
    assert bot.w3ipfs.all_pins() == []  # nothing in the default account
    # Each workspace's requests carried its own bot token.
    tokens = {c.token for c in bot.slack.calls_to("files.info")}
    assert {t.split("-")[1] for t in tokens if t} == {"TALPHA", "TBETA"}
    (card,) = bot.slack.thread(alpha.channel, alpha.ts)
    assert "Verified" in text_of(card)


async def test_uninstall_removes_tokens_and_keys(make_bot: BotFactory) -> None:
    bot = await oauth_bot(make_bot)
    await install(bot, "TALPHA")
    await use_own_account(bot, "TALPHA")
    await bot.driver.event({"type": "app_uninstalled"}, team="TALPHA")
    await bot.idle()
    assert bot.services.installations is not None
    assert await bot.services.installations.async_find_bot(
        enterprise_id=None, team_id="TALPHA") is None
    assert await bot.services.accounts.keys.get("TALPHA") is None
    later = bot.slack.add_file("after.txt", b"after uninstall")
    await bot.driver.file_shared(later, team="TALPHA")
    await bot.idle()
    assert bot.slack.calls_to("files.info") == [] and bot.w3ipfs.requests == []


async def test_uninstalled_workspace_is_not_served(make_bot: BotFactory) -> None:
    bot = await oauth_bot(make_bot)
    await install(bot, "TALPHA")
    stranger = bot.slack.add_file("stranger.txt", b"from a workspace that never installed")
    await bot.driver.file_shared(stranger, team="TNEVER")
    await bot.idle()
    assert bot.w3ipfs.requests == [] and bot.slack.bot_messages() == []


async def test_token_rotation(make_bot: BotFactory) -> None:
    bot = await oauth_bot(make_bot)
    bot.slack.rotating_tokens = True  # tokens live a minute; Bolt refreshes ahead of expiry
    await install(bot, "TALPHA")
    assert bot.services.installations is not None
    first = await bot.services.installations.async_find_bot(enterprise_id=None,
                                                            team_id="TALPHA")
    assert first is not None and first.bot_refresh_token
    fake = bot.slack.add_file("rotated.txt", b"after rotation")
    await bot.driver.file_shared(fake, team="TALPHA")
    await bot.idle()
    refreshes = [c for c in bot.slack.calls_to("oauth.v2.access")
                 if c.args.get("grant_type") == "refresh_token"]
    assert len(refreshes) == 1
    second = await bot.services.installations.async_find_bot(enterprise_id=None,
                                                             team_id="TALPHA")
    assert second is not None and second.bot_token != first.bot_token  # rotated and saved
    assert first.bot_token not in bot.slack.tokens  # the old token no longer works
    assert {c.token for c in bot.slack.calls_to("files.info")} == {second.bot_token}
    assert cid_v1_of(b"after rotation") in text_of(bot.slack.thread(fake.channel, fake.ts)[0])


async def test_work_outside_a_request_refreshes_rotating_tokens(make_bot: BotFactory) -> None:
    bot = await oauth_bot(make_bot)
    bot.slack.rotating_tokens = True
    bot.slack.token_lifetime = 4
    await install(bot, "TALPHA")
    assert bot.services.installations is not None
    before = await bot.services.installations.async_find_bot(enterprise_id=None,
                                                             team_id="TALPHA")
    fresh = await bot.services.slack_for("TALPHA")  # a fresh token is not refreshed again
    assert fresh is not None and before is not None and fresh.token == before.bot_token
    await asyncio.sleep(2.5)  # into the second half of its life
    client = await bot.services.slack_for("TALPHA")  # what a job in any process does
    assert client is not None and before is not None
    assert client.token != before.bot_token and client.token in bot.slack.tokens
    assert (await client.auth_test())["team_id"] == "TALPHA"
    assert await bot.services.slack_for("TNEVER") is None

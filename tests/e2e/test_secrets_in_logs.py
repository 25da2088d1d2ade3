"""No secret in any log record at DEBUG, nor in anything pinbot posts to Slack.

One workspace goes through everything that handles a secret: the OAuth install (code, client
secret, rotating bot token, refresh token), a token refresh, `/pin setup` with good keys, a
`/pin setup` whose signature fails (the server's clock 5 minutes off), and a share whose keys
the service no longer accepts — with every logger at DEBUG (slack_sdk logs whole
`oauth.v2.access` exchanges there).
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.fernet import Fernet

from bot.blocks import KEYS_MODAL
from pinbot.emulators.slack import ISSUED
from tests.conftest import API_KEY, SECRET_KEY
from tests.e2e.conftest import SIGNING_SECRET, Bot, BotFactory
from tests.e2e.slack_driver import APP_ID
from tests.e2e.test_shared_files import text_of

TEAM = "TSECRET"
CLIENT_SECRET = "oauth-client-secret-71ab"
KEY, SECRET = "secret-sweep-api-key-3141", "secret-sweep-secret-2718"
#: The pair in the submission whose signature fails: seen by nothing but that request.
FORGED_KEY, FORGED_SECRET = "clock-off-api-key-1618", "clock-off-secret-1414"
LOGGERS = ("", "slack_sdk", "slack_bolt", "httpx", "httpcore", "aiohttp", "sqlalchemy",
           "bot", "handlers")


@pytest.fixture
def everything_at_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Before the app exists, so Bolt's loggers (which copy their level) start at DEBUG too."""
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def keys(api: str, secret: str) -> dict[str, Any]:
    return {"api_key": {"v": {"value": api}}, "secret_key": {"v": {"value": secret}}}


def setup_body(api: str, secret: str) -> str:
    """A `/pin setup` submission as Slack sends it."""
    payload = {
        "type": "view_submission", "team": {"id": TEAM, "domain": "secret"},
        "user": {"id": "UADMIN", "username": "uadmin", "team_id": TEAM},
        "api_app_id": APP_ID, "token": "legacy-verification-token", "trigger_id": "9.9.9",
        "view": {"id": "VKEYS", "type": "modal", "callback_id": KEYS_MODAL,
                 "private_metadata": "", "team_id": TEAM, "state": {"values": keys(api, secret)},
                 "hash": "1", "title": {"type": "plain_text", "text": "x"}, "blocks": []},
        "response_urls": [], "is_enterprise_install": False,
    }
    return urlencode({"payload": json.dumps(payload)})


async def install(bot: Bot) -> None:
    async with httpx.AsyncClient(base_url=bot.url) as browser:
        page = await browser.get("/slack/install")
        state = re.search(r"state=([\w-]+)", page.text)
        assert state is not None
        cookie = page.headers["set-cookie"].split(";")[0]
        done = await browser.get("/slack/oauth_redirect", headers={"Cookie": cookie}, params={
            "code": bot.slack.install_code(TEAM), "state": state.group(1)})
        assert done.status_code in (200, 302), done.text


def posted_to_slack(bot: Bot, acks: list[httpx.Response]) -> str:
    """Everything pinbot sent to Slack but the OAuth exchange itself (which must carry them)."""
    calls = [{"method": c.method, "args": c.args} for c in bot.slack.calls
             if c.method != "oauth.v2.access"]
    return json.dumps([calls, bot.slack.responses, bot.slack.views, bot.slack.ephemeral,
                       [a.text for a in acks]], default=str)


async def test_no_secret_reaches_a_log_or_slack(
    make_bot: BotFactory, everything_at_debug: pytest.LogCaptureFixture,
) -> None:
    caplog = everything_at_debug
    issued_before = set(ISSUED)
    bot = await make_bot(SLACK_BOT_TOKEN="", SLACK_CLIENT_ID="111.222",
                         SLACK_CLIENT_SECRET=CLIENT_SECRET, PINBOT_ADMIN_USERS="UADMIN",
                         PINBOT_ENCRYPTION_KEY=Fernet.generate_key().decode())
    bot.slack.rotating_tokens = True  # a minute's life: every request refreshes first
    bot.slack.access_token_prefix = "xoxe.xoxb-1-"
    bot.w3ipfs.accounts[KEY] = SECRET
    acks: list[httpx.Response] = []

    # 1. OAuth install: a code, the client secret, a rotating token and a refresh token.
    await install(bot)
    assert bot.services.installations is not None
    first = await bot.services.installations.async_find_bot(enterprise_id=None, team_id=TEAM)
    assert first is not None and first.bot_token and first.bot_refresh_token
    assert first.bot_token.startswith("xoxe.xoxb-1-")
    assert first.bot_refresh_token.startswith("xoxe-1-")

    # 2. Token rotation: the first request refreshes the expiring token.
    shared = bot.slack.add_file("before-keys.txt", b"into the default account")
    acks.append((await bot.driver.file_shared(shared, team=TEAM)).response)
    await bot.idle()
    refreshes = [c for c in bot.slack.calls_to("oauth.v2.access")
                 if c.args.get("grant_type") == "refresh_token"]
    assert refreshes, "the token was never rotated: this test would prove nothing"

    # 3. `/pin setup` with keys the service accepts.
    saved, _ = await bot.driver.post(setup_body(KEY, SECRET),
                                     "application/x-www-form-urlencoded")
    acks.append(saved)
    assert saved.status_code == 200 and "Saved" in saved.text

    # 4. `/pin setup` signed 5 minutes ago (this server's clock is off): refused, not logged.
    forged, _ = await bot.driver.post(setup_body(FORGED_KEY, FORGED_SECRET),
                                      "application/x-www-form-urlencoded",
                                      timestamp=int(time.time()) - 305)
    acks.append(forged)
    assert forged.status_code == 401
    assert any("s from this server's clock" in r.getMessage() for r in caplog.records)

    # 5. A share with keys the service no longer accepts.
    del bot.w3ipfs.accounts[KEY]
    refused = bot.slack.add_file("after-keys.txt", b"keys revoked at the service")
    acks.append((await bot.driver.file_shared(refused, team=TEAM)).response)
    await bot.idle()
    assert "rejected pinbot's API keys" in text_of(
        bot.slack.thread(refused.channel, refused.ts)[-1])

    secrets = {CLIENT_SECRET, SIGNING_SECRET, API_KEY, SECRET_KEY, KEY, SECRET, FORGED_KEY,
               FORGED_SECRET, *(ISSUED - issued_before)}
    assert any(s.startswith("code-") for s in secrets)
    assert sum(s.startswith("xoxe-1-") for s in secrets) >= 2  # the install's and a refresh's
    assert sum(s.startswith("xoxe.xoxb-") for s in secrets) >= 2

    # The DEBUG logs of the OAuth exchanges were there, and scrubbed.
    exchanges = [r.getMessage() for r in caplog.records
                 if r.name.startswith("slack_sdk") and "oauth.v2.access" in r.getMessage()]
    assert exchanges and any("[redacted]" in m for m in exchanges)

    logged = caplog.text + "\n".join(str(vars(r)) for r in caplog.records)
    assert [s for s in secrets if s in logged] == []
    sent = posted_to_slack(bot, acks)
    assert [s for s in secrets if s in sent] == []

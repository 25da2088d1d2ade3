"""App Home: the published view, its row menu, and unpinning from it."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.blocks import HOME_ROW_MENU, UNPIN_MODAL
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_ledger import share_and_wait


async def open_home(bot: Bot, user: str) -> dict[str, Any]:
    before = len(bot.slack.calls_to("views.publish"))
    await bot.driver.event({"type": "app_home_opened", "user": user, "channel": "D0HOME",
                            "tab": "home", "event_ts": f"{time.time():.6f}"})
    await bot.idle()
    calls = bot.slack.calls_to("views.publish")
    assert len(calls) == before + 1
    assert calls[-1].args["user_id"] == user
    return dict(calls[-1].args["view"])


async def test_home_for_a_member_and_an_admin(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN")
    bot.slack.add_user("UALICE")
    await share_and_wait(bot, "mine.pdf", b"alice's file", user="UALICE")
    await share_and_wait(bot, "theirs.pdf", b"bob's file", user="UBOB")
    view = await open_home(bot, "UALICE")
    text = json.dumps(view)
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    assert "*2* pins" in text and "Pinning keys work" in text
    mine = text.split("Your recent pins")[1].split("The team's latest")[0]
    assert "mine.pdf" in mine and "theirs.pdf" not in mine
    assert "theirs.pdf" in text.split("The team's latest")[1]
    assert "Admin" not in text and "Clean up" not in text
    admin = json.dumps(await open_home(bot, "UADMIN"))
    assert "Team cleanup" in admin and "Auto-pin per channel" in admin


async def test_home_row_details_and_unpin(make_bot: BotFactory) -> None:
    bot = await make_bot()
    bot.slack.add_user("UALICE")
    bot.slack.add_user("UBOB")
    await share_and_wait(bot, "home.pdf", b"from home", user="UALICE")
    pin_id = bot.w3ipfs.all_pins()[0]["id"]
    await bot.driver.action(HOME_ROW_MENU, selected_value=f"details:{pin_id}", user="UALICE")
    await bot.idle()
    (details,) = bot.slack.calls_to("views.open")
    assert "home.pdf" in json.dumps(details.args["view"])
    await bot.driver.action(HOME_ROW_MENU, selected_value=f"unpin:{pin_id}", user="UBOB")
    await bot.idle()
    refusal = bot.slack.calls_to("views.open")[-1].args["view"]
    assert "Only <@UALICE>" in json.dumps(refusal)
    await bot.driver.action(HOME_ROW_MENU, selected_value=f"unpin:{pin_id}", user="UALICE")
    await bot.idle()
    confirm = bot.slack.calls_to("views.open")[-1].args["view"]
    assert confirm["callback_id"] == UNPIN_MODAL and confirm["private_metadata"] == pin_id
    assert bot.w3ipfs.all_pins()[0]["pinned"] is True  # nothing before the modal's submit
    sent = await bot.driver.view_submission(UNPIN_MODAL, private_metadata=pin_id,
                                            user="UALICE")
    assert sent.response.status_code == 200
    await bot.idle()
    assert bot.w3ipfs.all_pins()[0]["pinned"] is False
    republished = json.dumps(bot.slack.calls_to("views.publish")[-1].args["view"])
    assert "home.pdf" not in republished.split("Your recent pins")[1].split("latest")[0]

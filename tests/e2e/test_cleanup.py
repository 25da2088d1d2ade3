"""Team cleanup: admins only, preview first, exactly the previewed set, paced, with progress."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from bot.blocks import CLEANUP_CONFIRM, CLEANUP_MODAL, HOME_CLEANUP
from bot.store.ledger import utcnow
from bot.store.models import PinRow
from bot.w3ipfs import Pin
from tests.e2e.conftest import BotFactory
from tests.e2e.test_ledger import share_and_wait
from tests.e2e.test_shared_files import text_of


def values(**fields: str) -> dict[str, Any]:
    return {block: {"v": {"type": "plain_text_input", "value": value}}
            for block, value in fields.items()}


async def test_non_admins_are_refused(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN")
    bot.slack.add_user("UALICE")
    await bot.driver.command("/pins", "cleanup", user="UALICE")
    await bot.idle()
    refusal = bot.slack.calls_to("views.open")[-1].args["view"]
    assert "Only admins" in json.dumps(refusal)
    await bot.driver.action(HOME_CLEANUP, value="cleanup", user="UALICE")
    await bot.idle()
    assert "Only admins" in json.dumps(bot.slack.calls_to("views.open")[-1].args["view"])
    forged = await bot.driver.view_submission(CLEANUP_MODAL, user="UALICE",
                                              values=values(older="0"))
    assert "Only admins" in forged.response.text


async def test_preview_then_confirm_unpins_exactly_that(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN")
    for i in range(6):
        await share_and_wait(bot, f"old-{i}.bin" if i < 4 else f"new-{i}.bin",
                             f"content {i}".encode() * (i + 1))
    async with bot.services.ledger.engine.begin() as conn:  # four of them are 100 days old
        await conn.execute(update(PinRow).where(PinRow.name.like("old-%"))
                           .values(created_at=utcnow() - timedelta(days=100)))
    await bot.driver.command("/pins", "cleanup", user="UADMIN")
    await bot.idle()
    modal = bot.slack.calls_to("views.open")[-1].args["view"]
    assert modal["callback_id"] == CLEANUP_MODAL and len(modal["blocks"]) <= 100
    bad = await bot.driver.view_submission(CLEANUP_MODAL, user="UADMIN",
                                           values=values(older="ninety"))
    assert bad.body["response_action"] == "errors" and "older" in bad.body["errors"]
    preview = await bot.driver.view_submission(CLEANUP_MODAL, user="UADMIN",
                                               values=values(older="90", name="old"))
    view = preview.body["view"]
    shown = json.dumps(view)
    assert preview.body["response_action"] == "update" and "*4 pins*" in shown
    assert "new-" not in shown and view["submit"]["text"] == "Unpin 4"
    assert all(p["pinned"] for p in bot.w3ipfs.all_pins())  # a preview changes nothing
    await bot.driver.view_submission(CLEANUP_CONFIRM, user="UADMIN",
                                     private_metadata=view["private_metadata"])
    await bot.idle()
    pinned = {p["metadata"]["name"]: p["pinned"] for p in bot.w3ipfs.all_pins()}
    assert pinned == {"old-0.bin": False, "old-1.bin": False, "old-2.bin": False,
                      "old-3.bin": False, "new-4.bin": True, "new-5.bin": True}
    (report,) = [m for m in bot.slack.bot_messages("UADMIN")]
    assert "Cleanup finished" in text_of(report) and "4 unpinned" in text_of(report)


async def test_cleanup_of_500_pins_is_paced_and_reports_progress(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN", PINBOT_API_RATE="3000",
                         PINBOT_PROGRESS_INTERVAL="1")
    client, ledger, team = bot.services.w3ipfs, bot.services.ledger, bot.slack.team_id
    pins: list[Pin] = []
    for start in range(0, 500, 50):
        pins += await asyncio.gather(*(
            client.pin_by_hash("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
                               name=f"bulk-{i:03d}") for i in range(start, start + 50)))
    for pin in pins:
        claim = await ledger.claim(team, f"cid:{pin.id}", name=pin.name or "", user_id="UBOB",
                                   channel_id="C0BULK")
        await ledger.complete(claim.record.id, pin, verified=None)
    preview = await bot.driver.view_submission(CLEANUP_MODAL, user="UADMIN",
                                               values=values(name="bulk"))
    view = preview.body["view"]
    assert "*500 pins*" in json.dumps(view)
    await bot.driver.view_submission(CLEANUP_CONFIRM, user="UADMIN",
                                     private_metadata=view["private_metadata"])
    await bot.idle(timeout=60)
    deletes = bot.w3ipfs.api_requests("DELETE")
    assert len(deletes) == 500
    elapsed = deletes[-1].at - deletes[0].at
    assert 499 / elapsed <= 3000 / 60 * 1.1, f"{499 / elapsed:.0f}/s is over the 50/s limit"
    (message,) = bot.slack.bot_messages("UADMIN")
    steps = [text_of(s) for s in message["history"]]
    assert len(steps) >= 5  # start, several progress updates, the summary
    assert any("of 500" in s and "Cleanup*" in s for s in steps[1:-1])
    assert "500 unpinned" in steps[-1]

"""`/pins find` and per-channel `/pin auto on|off`."""

from __future__ import annotations

from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_commands import find_action, responded
from tests.e2e.test_ledger import share_and_wait
from tests.e2e.test_shared_files import text_of


async def test_find_by_name_and_by_metadata(bot: Bot) -> None:
    await share_and_wait(bot, "Quarterly-Report.pdf", b"q report")
    await share_and_wait(bot, "holiday.jpg", b"beach")
    await bot.services.w3ipfs.pin_file(b"api", "apollo.txt", metadata={"project": "apollo"})
    by_name = await bot.driver.command("/pins", "find report")
    (page,) = await responded(bot, by_name.response_url)
    assert "Quarterly-Report.pdf" in text_of(page) and "holiday" not in text_of(page)
    assert "matching “report”" in text_of(page) and "1 pin" in text_of(page)
    by_meta = await bot.driver.command("/pins", "find project=apollo")
    (meta,) = await responded(bot, by_meta.response_url)
    assert "apollo.txt" in text_of(meta) and "Quarterly" not in text_of(meta)
    wildcard = await bot.driver.command("/pins", "find %")
    (none,) = await responded(bot, wildcard.response_url)
    assert "0 pins" in text_of(none)  # % is a character here, not a wildcard
    empty = await bot.driver.command("/pins", "find")
    assert "What should I look for?" in text_of(empty.body)


async def test_find_pages_keep_the_search(bot: Bot) -> None:
    for i in range(12):
        await share_and_wait(bot, f"invoice-{i:02d}.pdf", f"invoice {i}".encode())
    await share_and_wait(bot, "other.txt", b"other")
    sent = await bot.driver.command("/pins", "find invoice")
    (page1,) = await responded(bot, sent.response_url)
    nxt = find_action(page1, "pins_page_next")
    click = await bot.driver.action(nxt["action_id"], value=nxt["value"])
    (page2,) = await responded(bot, click.response_url)
    assert "Showing 11 to 12 of 12" in text_of(page2) and "other.txt" not in text_of(page2)


async def test_auto_pin_per_channel(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN", PINBOT_AUTO_PIN="all")
    bot.slack.add_user("UALICE")
    refused = await bot.driver.command("/pin", "auto off", user="UALICE", channel="C0QUIET")
    (no,) = await responded(bot, refused.response_url)
    assert "Only admins" in text_of(no)
    off = await bot.driver.command("/pin", "auto off", user="UADMIN", channel="C0QUIET")
    (done,) = await responded(bot, off.response_url)
    assert "is now *off* in <#C0QUIET>" in text_of(done)
    quiet = bot.slack.add_file("quiet.txt", b"not pinned here", channel="C0QUIET")
    loud = bot.slack.add_file("loud.txt", b"pinned here", channel="C0LOUD")
    for fake in (quiet, loud):
        await bot.driver.file_shared(fake)
    await bot.idle()
    assert [p["metadata"]["name"] for p in bot.w3ipfs.all_pins()] == ["loud.txt"]
    status = await bot.driver.command("/pin", "auto", user="UALICE", channel="C0QUIET")
    (shown,) = await responded(bot, status.response_url)
    assert "is *off*" in text_of(shown)
    on = await bot.driver.command("/pin", "auto on", user="UADMIN", channel="C0QUIET")
    await responded(bot, on.response_url)
    again = bot.slack.add_file("later.txt", b"now pinned", channel="C0QUIET")
    await bot.driver.file_shared(again)
    await bot.idle()
    assert len(bot.w3ipfs.all_pins()) == 2


async def test_auto_pin_off_by_default_can_be_turned_on_for_a_channel(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN", PINBOT_AUTO_PIN="off")
    on = await bot.driver.command("/pin", "auto on", user="UADMIN", channel="C0YES")
    await responded(bot, on.response_url)
    for channel in ("C0YES", "C0NO"):
        await bot.driver.file_shared(bot.slack.add_file(f"{channel}.txt", channel.encode(),
                                                        channel=channel))
    await bot.idle()
    assert [p["metadata"]["name"] for p in bot.w3ipfs.all_pins()] == ["C0YES.txt"]

"""Attacks on the job pipeline's security claims (issue 11), tried over the wire.

Each test plays one adversary against the real app and the project's emulators — a member
forging a button value, somebody reading the logs at DEBUG, another workspace's pin carrying
this workspace's upload key — and fails on the code before its fix.
"""

from __future__ import annotations

import json

from tests.e2e.conftest import BotFactory
from tests.e2e.test_commands import find_action, responded
from tests.e2e.test_shared_files import text_of


async def test_forged_folder_choice_cannot_reach_another_channels_message(
    make_bot: BotFactory,
) -> None:
    """A member in #general edits the "Pin as folder" / "Pin each file" button value to name a
    message in a private channel they cannot read: pinbot must not publish its files on IPFS."""
    bot = await make_bot(PINBOT_AUTO_PIN="off")
    secret = [bot.slack.add_file(n, d, channel="C0SECRET") for n, d in
              (("payroll.csv", b"salaries"), ("plan.txt", b"layoffs"))]
    secret_ts = bot.slack.add_message_with_files(secret, channel="C0SECRET")
    mine = [bot.slack.add_file(n, d) for n, d in (("x.txt", b"x"), ("y.txt", b"y"))]
    my_ts = bot.slack.add_message_with_files(mine)
    sent = await bot.driver.message_shortcut("pin_to_ipfs", "C0GENERAL", my_ts,
                                             user="UMALLORY")
    (question,) = await responded(bot, sent.response_url)
    for action_id in ("pin_as_folder", "pin_each_file"):
        value = json.loads(find_action(question, action_id)["value"])
        forged = json.dumps({**value, "c": "C0SECRET", "ts": secret_ts})
        click = await bot.driver.action(action_id, value=forged, user="UMALLORY",
                                        channel="C0GENERAL")
        (reply,) = await responded(bot, click.response_url)
        assert "nothing was pinned" in text_of(reply)
    await bot.idle()
    assert bot.w3ipfs.all_pins() == []
    assert bot.slack.thread("C0SECRET", secret_ts) == []
    # Control: the value pinbot wrote still works.
    click = await bot.driver.action("pin_as_folder",
                                    value=find_action(question, "pin_as_folder")["value"],
                                    user="UMALLORY", channel="C0GENERAL")
    await responded(bot, click.response_url)
    await bot.idle()
    assert len(bot.w3ipfs.all_pins()) == 1

"""The pin reaction and the "Pin to IPFS" message shortcut: same job path, exactly once."""

from __future__ import annotations

import time
from pathlib import Path

from aleph_cid import hash_folder

from bot.cid import cid_v1_of
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_commands import find_action, responded
from tests.e2e.test_shared_files import text_of


def reaction(fake_channel: str, ts: str, user: str = "UBOB", name: str = "pushpin") -> dict:
    return {"type": "reaction_added", "user": user, "reaction": name, "item_user": "UALICE",
            "item": {"type": "message", "channel": fake_channel, "ts": ts},
            "event_ts": f"{time.time():.6f}"}


async def test_reaction_pins_an_old_message_once(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_AUTO_PIN="off")  # shared before the bot pinned automatically
    fake = bot.slack.add_file("old.pdf", b"shared long ago")
    await bot.driver.event(reaction(fake.channel, fake.ts))
    await bot.driver.event(reaction(fake.channel, fake.ts, user="UCAROL"))  # a second person
    await bot.idle()
    (card,) = bot.slack.thread(fake.channel, fake.ts)
    assert cid_v1_of(b"shared long ago") in text_of(card)
    assert len(bot.w3ipfs.all_pins()) == 1
    # Whoever's reaction won pinned it; the other is told, privately, that it is pinned (or
    # being pinned, when it asked while the upload ran), with no second card in the thread.
    winner = "UBOB" if "<@UBOB>" in text_of(card) else "UCAROL"
    (note,) = bot.slack.ephemeral
    assert note["user"] == ({"UBOB", "UCAROL"} - {winner}).pop()
    assert "Already pinned" in text_of(note) or "is being pinned" in text_of(note)


async def test_other_reactions_and_fileless_messages(bot: Bot) -> None:
    fake = bot.slack.add_file("a.txt", b"a")
    await bot.driver.event(reaction(fake.channel, fake.ts, name="thumbsup"))
    ts = bot.slack.next_ts()
    bot.slack.messages[("C0GENERAL", ts)] = {"channel": "C0GENERAL", "ts": ts, "text": "hi"}
    await bot.driver.event(reaction("C0GENERAL", ts))
    await bot.idle()
    assert bot.w3ipfs.requests == []
    (note,) = bot.slack.ephemeral
    assert "no files" in text_of(note)


async def test_custom_reaction(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_PIN_REACTION="floppy_disk", PINBOT_AUTO_PIN="off")
    fake = bot.slack.add_file("save.txt", b"save me")
    await bot.driver.event(reaction(fake.channel, fake.ts, name="pushpin"))
    await bot.driver.event(reaction(fake.channel, fake.ts, name="floppy_disk"))
    await bot.idle()
    assert len(bot.w3ipfs.all_pins()) == 1


async def test_shortcut_on_a_single_file(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_AUTO_PIN="off")
    fake = bot.slack.add_file("one.bin", b"one file")
    sent = await bot.driver.message_shortcut("pin_to_ipfs", fake.channel, fake.ts)
    assert sent.response.status_code == 200 and sent.elapsed < 3
    (ack,) = await responded(bot, sent.response_url)
    assert "Pinning *one.bin*" in text_of(ack)
    await bot.idle()
    (card,) = bot.slack.thread(fake.channel, fake.ts)
    assert cid_v1_of(b"one file") in text_of(card)
    again = await bot.driver.message_shortcut("pin_to_ipfs", fake.channel, fake.ts,
                                               with_files=False)  # older payloads: no files
    await responded(bot, again.response_url)
    await bot.idle()
    assert len(bot.w3ipfs.all_pins()) == 1


async def test_shortcut_several_files_each_or_as_folder(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = await make_bot(PINBOT_AUTO_PIN="off")
    files = [bot.slack.add_file(name, data) for name, data in
             (("a.txt", b"alpha"), ("b.txt", b"beta"), ("a.txt", b"another a"))]
    ts = bot.slack.add_message_with_files(files)
    sent = await bot.driver.message_shortcut("pin_to_ipfs", "C0GENERAL", ts)
    (question,) = await responded(bot, sent.response_url)
    assert "3 files" in text_of(question)
    folder = find_action(question, "pin_as_folder")
    click = await bot.driver.action("pin_as_folder", value=folder["value"])
    await responded(bot, click.response_url)
    await bot.idle()
    (card,) = bot.slack.thread("C0GENERAL", ts)
    shown = text_of(card)
    root = tmp_path / "expected"
    root.mkdir()
    for name, data in (("a.txt", b"alpha"), ("b.txt", b"beta"), ("a-2.txt", b"another a")):
        (root / name).write_bytes(data)
    assert hash_folder(root, cid_version=1) in shown  # one CID for the set
    assert "/a.txt`" in shown and "/b.txt`" in shown and "/a-2.txt`" in shown
    (pin,) = bot.w3ipfs.all_pins()
    assert pin["is_dir"] is True
    each = find_action(question, "pin_each_file")
    click = await bot.driver.action("pin_each_file", value=each["value"])
    await responded(bot, click.response_url)
    await bot.idle()
    assert len(bot.w3ipfs.all_pins()) == 4  # the folder + each file once
    again = await bot.driver.action("pin_as_folder", value=folder["value"])
    await responded(bot, again.response_url)
    await bot.idle()
    assert len(bot.w3ipfs.all_pins()) == 4  # the folder is not pinned a second time
    (note,) = bot.slack.ephemeral
    assert "already pinned as a folder" in text_of(note)

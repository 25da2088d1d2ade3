"""`/pin retention`, `/pin keep|unkeep` and the Keep button, through signed Slack-shaped requests
against the real app (the sweep that unpins is tested in test_retention_sweep.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from bot.blocks import KEEP_BUTTON, RETENTION_APPLY, RETENTION_CANCEL
from bot.store import PinRecord
from bot.store.models import PinRow
from pinbot.emulators.slack import FakeFile
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_commands import find_action, responded
from tests.e2e.test_shared_files import text_of

ADMIN = "UADMIN"


async def admin_bot(make_bot: BotFactory, **env: Any) -> Bot:
    bot = await make_bot(PINBOT_ADMIN_USERS=ADMIN, **env)
    for user in ("UALICE", "UBOB"):
        bot.slack.add_user(user)
    return bot


async def say(bot: Bot, text: str, *, user: str = ADMIN, channel: str = "C0GENERAL",
              team: str | None = None) -> dict[str, Any]:
    """`/pin <text>`: the one ephemeral answer (acked at once or sent after the ack)."""
    sent = await bot.driver.command("/pin", text, user=user, channel=channel, team=team)
    assert sent.response.status_code == 200 and sent.elapsed < 3
    if sent.body:
        return sent.body
    (answer,) = await responded(bot, sent.response_url)
    assert answer["response_type"] == "ephemeral"
    return answer


async def click(bot: Bot, action_id: str, value: str, *, user: str = ADMIN,
                channel: str = "C0GENERAL", team: str | None = None) -> dict[str, Any]:
    sent = await bot.driver.action(action_id, value=value, user=user, channel=channel, team=team)
    assert sent.response.status_code == 200 and sent.elapsed < 3
    (answer,) = await responded(bot, sent.response_url)
    return answer


async def shared(bot: Bot, name: str, data: bytes, **kwargs: Any) -> FakeFile:
    fake = bot.slack.add_file(name, data, **kwargs)
    await bot.driver.file_shared(fake)
    await bot.idle()
    return fake


async def record_of(bot: Bot, fake: FakeFile) -> PinRecord:
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}")
    assert record is not None and record.pin_id
    return record


async def expiries(bot: Bot, fakes: list[FakeFile]) -> list[object]:
    return [(await record_of(bot, fake)).expires_at for fake in fakes]


def card_of(bot: Bot, fake: FakeFile) -> dict[str, Any]:
    (card,) = bot.slack.thread(fake.channel, fake.thread_ts or fake.ts)
    return card


def buttons(message: dict[str, Any]) -> list[str]:
    return [e.get("action_id", "") for b in message.get("blocks", [])
            for e in b.get("elements", []) if b.get("type") == "actions"]


async def test_admin_sets_retention_and_pins_made_after_get_an_expiry(
    make_bot: BotFactory,
) -> None:
    bot = await admin_bot(make_bot)
    team = bot.slack.team_id
    assert "Retention is *off* in <#C0GENERAL>" in text_of(await say(bot, "retention",
                                                                      user="UALICE"))
    before = await shared(bot, "before.txt", b"made before the policy")
    refused = await say(bot, "retention 5s", user="UALICE")
    assert "Only admins" in text_of(refused)
    assert await bot.services.policies.get(team, "C0GENERAL") is None
    too_short = await say(bot, "retention 0s")
    assert "at least 1 second" in text_of(too_short) and "45s" in text_of(too_short)

    answer = text_of(await say(bot, "retention 5s"))
    assert "from now on are unpinned after *5 seconds*" in answer
    assert "1 pin already here keep the expiry" in answer  # before.txt: no expiry
    assert "`/pin retention 5s --apply-to-existing`" in answer
    after = await shared(bot, "after.txt", b"made after the policy")
    record = await record_of(bot, after)
    assert record.retention_seconds == 5 and record.expires_at is not None
    assert record.expires_at - record.created_at == timedelta(seconds=5)
    assert (await record_of(bot, before)).expires_at is None
    card = card_of(bot, after)
    assert f"<!date^{int(record.expires_at.timestamp())}^" in text_of(card)
    assert "Will be unpinned on" in text_of(card) and "5-second" in text_of(card)
    assert find_action(card, KEEP_BUTTON)["value"] == record.pin_id
    assert KEEP_BUTTON not in buttons(card_of(bot, before))

    shown = text_of(await say(bot, "retention", user="UALICE"))
    assert "unpinned after *5 seconds* (this channel's policy, set by <@UADMIN>)" in shown

    off = text_of(await say(bot, "retention off"))
    assert "Retention is now *off* in <#C0GENERAL>" in off
    assert "Cleared the pending expiry of 1 pin" in off
    assert (await record_of(bot, after)).expires_at is None
    assert "Retention is *off* in <#C0GENERAL> (this channel's policy" in text_of(
        await say(bot, "retention", user="UBOB"))


async def test_the_workspace_default_is_shown(make_bot: BotFactory) -> None:
    bot = await admin_bot(make_bot, PINBOT_RETENTION="90d")
    shown = text_of(await say(bot, "retention", user="UALICE"))
    assert "unpinned after *90 days* (the workspace default, PINBOT_RETENTION)" in shown
    await say(bot, "retention off")
    shown = text_of(await say(bot, "retention", user="UALICE"))
    assert "Retention is *off*" in shown and "workspace default is 90 days" in shown


async def test_apply_to_existing_previews_then_stamps(make_bot: BotFactory) -> None:
    bot = await admin_bot(make_bot)
    team = bot.slack.team_id
    fakes = [await shared(bot, f"old-{i}.bin", bytes([65 + i]) * 1000 * (i + 1),
                          channel="C0OLD") for i in range(4)]
    other = await shared(bot, "elsewhere.txt", b"another channel", channel="C0ELSE")
    records = [await record_of(bot, f) for f in fakes]
    async with bot.services.ledger.sessions.begin() as session:  # two pins made 2 hours ago
        await session.execute(update(PinRow).where(PinRow.id.in_([r.id for r in records[:2]]))
                              .values(created_at=records[0].created_at - timedelta(hours=2)))
    kept = text_of(await say(bot, f"keep {records[3].pin_id}", user="UALICE"))
    assert "Kept *old-3.bin*" in kept

    refused = await say(bot, "retention 1h --apply-to-existing", user="UALICE",
                        channel="C0OLD")
    assert "Only admins" in text_of(refused) and RETENTION_APPLY not in text_of(refused)
    preview = await say(bot, "retention 1h --apply-to-existing", channel="C0OLD")
    shown = text_of(preview)
    assert ("This applies the 1-hour policy to *3 pins* (5.9 KiB) already in <#C0OLD>; "
            "*2* of them would be unpinned at the next sweep.") in shown
    assert "1 kept pin is not touched" in shown
    assert await bot.services.policies.get(team, "C0OLD") is None  # nothing changed yet
    assert await expiries(bot, fakes) == [None] * 4
    confirm = find_action(preview, RETENTION_APPLY)["value"]
    assert json.loads(confirm) == {"c": "C0OLD", "s": 3600}

    # Forged and stale clicks change nothing.
    for value, channel in (('{"c":"../x","s":3600}', "C0OLD"), ('{"c":"C0OLD","s":0}', "C0OLD"),
                           ('{"c":"C0OLD","s":"3600"}', "C0OLD"), ("", "C0OLD"),
                           (confirm, "C0ELSE")):
        answer = await click(bot, RETENTION_APPLY, value, channel=channel)
        assert "no longer valid" in text_of(answer) and answer.get("replace_original") is False
    stranger = await click(bot, RETENTION_APPLY, confirm, user="UALICE", channel="C0OLD")
    assert "Only admins" in text_of(stranger)
    cancelled = await click(bot, RETENTION_CANCEL, "cancel", channel="C0OLD")
    assert "Cancelled" in text_of(cancelled) and cancelled["replace_original"] is True
    assert await bot.services.policies.get(team, "C0OLD") is None
    assert await expiries(bot, fakes) == [None] * 4

    done = await click(bot, RETENTION_APPLY, confirm, channel="C0OLD")
    assert done["replace_original"] is True
    assert "applied to the 3 pins (5.9 KiB) already here; 2 of them will be unpinned" in \
        text_of(done)
    policy = await bot.services.policies.get(team, "C0OLD")
    assert policy is not None and policy.retention_seconds == 3600
    for fake in fakes[:3]:
        now = await record_of(bot, fake)
        assert now.expires_at == now.created_at + timedelta(hours=1)
        assert now.retention_seconds == 3600
    assert (await record_of(bot, fakes[3])).expires_at is None  # kept: untouched
    assert (await record_of(bot, other)).expires_at is None  # another channel: untouched


async def test_keep_and_unkeep_by_owner_admin_stranger_and_other_workspace(
    make_bot: BotFactory,
) -> None:
    bot = await admin_bot(make_bot)
    await say(bot, "retention 1h")
    fake = await shared(bot, "keep-me.txt", b"worth keeping")
    record = await record_of(bot, fake)
    pin_id = record.pin_id
    assert pin_id and KEEP_BUTTON in buttons(card_of(bot, fake))
    updates = len(card_of(bot, fake)["history"])

    stranger = text_of(await say(bot, f"keep {pin_id}", user="UBOB"))
    assert "Only <@UALICE> (who pinned *keep-me.txt*) or an admin can keep it" in stranger
    elsewhere = await say(bot, f"keep {pin_id}", team="T0OTHER")
    unknown_id = "0a0b0c0d-1111-4222-8333-444455556666"
    nowhere = await say(bot, f"keep {unknown_id}", team="T0OTHER")
    assert "No pin with id" in text_of(elsewhere) and "in this workspace" in text_of(elsewhere)
    assert text_of(elsewhere).replace(pin_id, "X") == text_of(nowhere).replace(unknown_id, "X")
    assert not (await record_of(bot, fake)).kept

    kept = text_of(await say(bot, f"keep {pin_id}", user="UALICE"))
    assert "Kept *keep-me.txt*: retention will not unpin it" in kept
    now = await record_of(bot, fake)
    assert now.kept and now.kept_by == "UALICE"
    card = card_of(bot, fake)
    assert "Kept by <@UALICE>" in text_of(card) and "Will be unpinned" not in text_of(card)
    assert KEEP_BUTTON not in buttons(card)
    assert len(card["history"]) == updates + 1

    again = await click(bot, KEEP_BUTTON, pin_id, user="UALICE")
    assert "already kept by <@UALICE>" in text_of(again)
    assert again["response_type"] == "ephemeral" and again["replace_original"] is False
    assert len(card_of(bot, fake)["history"]) == updates + 1  # idempotent: card untouched

    listed = await bot.driver.command("/pins", "")
    (page,) = await responded(bot, listed.response_url)
    assert "Kept by <@UALICE>" in text_of(page)

    unkept = text_of(await say(bot, f"unkeep {pin_id}"))  # an admin may
    assert "no longer kept: it will be unpinned on <!date^" in unkept
    assert "1-hour policy" in unkept
    assert KEEP_BUTTON in buttons(card_of(bot, fake))
    assert not (await record_of(bot, fake)).kept

    refused = await click(bot, KEEP_BUTTON, pin_id, user="UBOB")
    assert "Only <@UALICE>" in text_of(refused)
    assert not (await record_of(bot, fake)).kept
    pressed = await click(bot, KEEP_BUTTON, pin_id, user="UALICE")
    assert "Kept *keep-me.txt*" in text_of(pressed)
    assert "Kept by <@UALICE>" in text_of(card_of(bot, fake))


async def test_keep_button_with_a_forged_value_is_an_unknown_pin(bot: Bot) -> None:
    fake = await shared(bot, "mine.txt", b"mine")
    before = await record_of(bot, fake)
    calls = len(bot.w3ipfs.requests)
    for value in ("../apiKeys/testAuthentication", "", "%2e%2e", "x" * 3000, "pins",
                  "0a0b0c0d-1111-4222-8333-444455556666"):
        answer = await click(bot, KEEP_BUTTON, value, user="UALICE")
        assert "No pin with id" in text_of(answer) and "in this workspace" in text_of(answer)
        assert "Traceback" not in text_of(answer)
    assert len(bot.w3ipfs.requests) == calls  # never reached the pinning API
    assert await record_of(bot, fake) == before

"""Quotas attacked end to end: every other way in (shortcut, catch-up, retries, a second
channel, a re-share after space is freed), hostile names in the refusal, `/pin quota` typos.

Each test drives the real app over HTTP against the Slack and W3IPFS emulators (SQLite only:
the logic is pinbot's, the same on either database).
"""

from __future__ import annotations

import pytest

from bot.jobs import PinRequest
from pinbot.emulators.slack import FakeFile
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_commands import responded
from tests.e2e.test_quotas import KB, downloads_of, refusals, share, uploads
from tests.e2e.test_reaction_shortcut import reaction
from tests.e2e.test_shared_files import text_of

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def over_quota(make_bot: BotFactory, **env: str) -> tuple[Bot, FakeFile]:
    """A bot with a 1 MB personal quota, 600 KB of it used by UALICE."""
    bot = await make_bot(PINBOT_QUOTA_USER_MB="1", **env)
    first = bot.slack.add_file("first.bin", size=600 * KB)
    await bot.driver.event(reaction(first.channel, first.ts, user="UALICE"))
    await bot.idle()
    assert len(bot.w3ipfs.all_pins()) == 1 and downloads_of(bot, first) == 1
    return bot, first


async def test_shortcut_over_quota_refused_before_any_download(make_bot: BotFactory) -> None:
    bot, _ = await over_quota(make_bot, PINBOT_AUTO_PIN="off")
    fake = bot.slack.add_file("big.bin", size=600 * KB)
    sent = await bot.driver.message_shortcut("pin_to_ipfs", fake.channel, fake.ts)
    assert sent.response.status_code == 200
    await responded(bot, sent.response_url)
    await bot.idle()
    assert downloads_of(bot, fake) == 0 and uploads(bot) == 1
    (refusal,) = refusals(bot, "UALICE")
    assert refusal.get("thread_ts") == fake.ts
    assert bot.slack.thread(fake.channel, fake.ts) == []


async def test_catch_up_over_quota_refused_before_any_download(make_bot: BotFactory) -> None:
    bot, _ = await over_quota(make_bot)
    fake = bot.slack.add_file("missed.bin", size=600 * KB)
    request = PinRequest("catchup", bot.slack.team_id, fake.channel, fake.user,
                         file_id=fake.id, event_time=fake.created)
    assert await bot.services.intake.submit(request, f"catchup:{fake.id}:{fake.channel}",
                                            pin_key=f"file:{fake.id}")
    await bot.idle()
    assert downloads_of(bot, fake) == 0 and uploads(bot) == 1
    (refusal,) = refusals(bot, "UALICE")
    assert refusal.get("thread_ts") == fake.ts and "missed.bin" in text_of(refusal)


async def test_refusal_told_once_whatever_slack_redelivers(make_bot: BotFactory) -> None:
    bot, _ = await over_quota(make_bot)
    fake = bot.slack.add_file("again.bin", size=600 * KB)
    await bot.driver.file_shared(fake, event_id="EvQUOTA1")
    await bot.driver.file_shared(fake, event_id="EvQUOTA1", retry_num=1)  # Slack's retry
    await bot.idle()
    await bot.driver.file_shared(fake, event_id="EvQUOTA2")  # a second delivery, new id
    await bot.idle()
    assert downloads_of(bot, fake) == 0 and uploads(bot) == 1
    assert len(refusals(bot, "UALICE")) == 1


async def test_same_file_in_a_second_channel_is_refused_there_too(make_bot: BotFactory) -> None:
    bot, _ = await over_quota(make_bot)
    fake = await share(bot, "twice.bin", 600 * KB)
    ts = bot.slack.share_again(fake, "C0RANDOM")
    await bot.driver.file_shared(fake, channel="C0RANDOM")
    await bot.idle()
    assert downloads_of(bot, fake) == 0 and uploads(bot) == 1
    first, second = refusals(bot, "UALICE")
    assert (first["channel"], first.get("thread_ts")) == (fake.channel, fake.ts)
    assert (second["channel"], second.get("thread_ts")) == ("C0RANDOM", ts)


async def test_a_refused_file_reshared_after_an_unpin_is_pinned(make_bot: BotFactory) -> None:
    bot, first = await over_quota(make_bot)
    fake = await share(bot, "later.bin", 600 * KB)
    assert downloads_of(bot, fake) == 0
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{first.id}")
    assert record is not None and record.pin_id
    await bot.services.ledger.mark_unpinned(bot.slack.team_id, record.pin_id, "UALICE", "user")
    ts = bot.slack.share_again(fake, fake.channel)  # shared again in the same channel
    await bot.driver.file_shared(fake)
    await bot.idle()
    assert downloads_of(bot, fake) == 1 and uploads(bot) == 2
    (card,) = bot.slack.thread(fake.channel, ts)
    assert "later.bin" in text_of(card)
    assert len(refusals(bot, "UALICE")) == 1


async def test_a_reaction_counts_against_the_reactor_not_the_sharer(
    make_bot: BotFactory,
) -> None:
    """README: "A pin is counted against the person who asked for it: ... whoever reacted"."""
    bot, _ = await over_quota(make_bot, PINBOT_AUTO_PIN="off")  # UALICE has 600 KB of 1 MB
    fake = bot.slack.add_file("alices.bin", size=600 * KB, user="UALICE")
    await bot.driver.event(reaction(fake.channel, fake.ts, user="UBOB"))
    await bot.idle()
    assert downloads_of(bot, fake) == 1 and refusals(bot, "UALICE") == []
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}")
    assert record is not None and record.user_id == "UBOB"
    bob = await bot.services.quotas.quotas.user_use(bot.slack.team_id, "UBOB")
    assert bob.used == 600 * KB


async def test_hostile_name_in_a_refusal_is_escaped(make_bot: BotFactory) -> None:
    bot, _ = await over_quota(make_bot)
    await share(bot, "<!channel> *x* <http://evil.example|y>.bin", 600 * KB)
    (refusal,) = refusals(bot, "UALICE")
    shown = text_of(refusal)
    assert "<!channel>" not in shown and "<http://evil" not in shown
    assert "&lt;!channel&gt;" in shown


@pytest.mark.parametrize(("typed", "expected"), [
    ("0", "A quota of 0 would refuse every file"), ("-1", "must be a size like"),
    ("1e12TB", "must be a size like"), ("2000000TB", "between 1 byte and 1 PB"),
])
async def test_pin_quota_typos_answered_with_what_works(
    make_bot: BotFactory, typed: str, expected: str,
) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN")
    sent = await bot.driver.command("/pin", f"quota {typed}", user="UADMIN")
    answer = sent.body or (await responded(bot, sent.response_url))[0]
    assert expected in text_of(answer), text_of(answer)
    assert (await bot.services.policies.get(bot.slack.team_id, "C0GENERAL")) is None



async def test_a_reaction_while_another_claim_is_refused_is_not_dropped(
    make_bot: BotFactory,
) -> None:
    """Bob reacts while Alice's claim of the same message's file is still pending; Alice's is
    then refused (her quota) or otherwise ends unpinned. Bob was told "is being pinned": his
    request must wait for that claim and take over, not end there (a pin never made)."""
    bot = await make_bot(PINBOT_AUTO_PIN="off")
    fake = bot.slack.add_file("contested.bin", size=300 * KB)
    # Alice's claim, as her job holds it between its claim and its quota check; that job
    # then ends without pinning (here: it is gone).
    claim = await bot.services.ledger.claim(
        bot.slack.team_id, f"file:{fake.id}", name=fake.name, size=fake.size,
        channel_id=fake.channel, user_id="UALICE", slack_file_id=fake.id,
        message_ts=fake.ts, owner="job:999999", source="reaction")
    assert claim.won
    await bot.driver.event(reaction(fake.channel, fake.ts, user="UBOB"))
    await bot.idle()
    (told,) = [m for m in bot.slack.ephemeral if m.get("user") == "UBOB"]
    assert "is being pinned" in text_of(told)
    assert downloads_of(bot, fake) == 1 and len(bot.w3ipfs.all_pins()) == 1
    (card,) = bot.slack.thread(fake.channel, fake.ts)
    assert "contested.bin" in text_of(card) and "<@UBOB>" in text_of(card)
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}")
    assert record is not None and record.state == "pinned" and record.user_id == "UBOB"

"""Attacks on the durable pin pipeline (issue 10) that once broke it: a poisoned job record,
a service whose lookups keep failing, a job whose ledger row is gone. Real app, emulators on
the wire; each test fails on the code before its fix.

(Processes killed with SIGKILL: tests/e2e/test_crash_recovery.py.)
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from bot.cid import cid_v1_of
from bot.pins import share as share_module
from bot.pins.uploads import upload
from bot.slack import files as slack_files
from bot.store.ledger import utcnow
from bot.store.models import JobRow, PinRow, WorkspaceStateRow
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_commands import responded
from tests.e2e.test_durable_pipeline import unpin_by_command
from tests.e2e.test_reaction_shortcut import reaction
from tests.e2e.test_shared_files import reply_in_thread, share, text_of
from tests.unit.test_cid import VECTORS

#: Job rows no release of pinbot writes: a hand-edited row, a row from a newer version (an
#: unknown field), a truncated write, JSON of the wrong shape.
POISON = [
    ('{"kind":"share","team_id":"T1","channel_id":"C1","user_id":"U1","from_v9":1}', "{}"),
    ("not json at all", "{}"),
    ("[]", "{}"),
    ("null", "{}"),
    ('{"kind":"share","team_id":"T1","channel_id":"C1","user_id":"U1","file_ids":7}', "{}"),
    ('{"kind":"share","team_id":"T1","channel_id":"C1","user_id":"U1"}', "{truncated"),
]
VALID = '{"kind":"share","team_id":"T1","channel_id":"C1","user_id":"U1","file_id":"F1"}'


async def test_an_unreadable_job_record_does_not_stop_the_queue(bot: Bot) -> None:
    """Poisoned rows, older than any real job (so first in the poll's order), are set aside
    as failed, each with one log line; the next shared file is pinned as usual."""
    long_ago = utcnow() - timedelta(hours=1)
    async with bot.services.ledger.sessions.begin() as session:
        for i, (request, result) in enumerate(POISON):
            for state in ("queued", "uploaded"):
                session.add(JobRow(
                    team_id=bot.slack.team_id, kind="share", request_key=f"poison-{state}-{i}",
                    state=state, request=request, result=result, attempts=0, upload_key="k",
                    ambiguous=False, run_after=long_ago, created_at=long_ago,
                    updated_at=long_ago))
        session.add(JobRow(  # a kind no release knows: not run as if it were a share
            team_id=bot.slack.team_id, kind="rm -rf", request_key="poison-kind",
            state="queued", request=VALID, result="{}", attempts=0, upload_key="k",
            ambiguous=False, run_after=long_ago, created_at=long_ago, updated_at=long_ago))
    data = b"shared after the poison\n" * 100
    fake = bot.slack.add_file("after.txt", data)
    await share(bot, fake)
    assert cid_v1_of(data) in text_of(reply_in_thread(bot, fake))
    async with bot.services.ledger.sessions() as session:
        rows = (await session.scalars(
            select(JobRow).where(JobRow.request_key.like("poison-%")))).all()
    assert len(rows) == 2 * len(POISON) + 1
    assert {r.state for r in rows} == {"failed"}
    assert all(r.error and "unreadable job record" in r.error for r in rows)
    assert all(r.lease_owner is None for r in rows)


async def test_lookups_that_keep_failing_end_in_a_clear_failure(make_bot: BotFactory) -> None:
    """The upload went out, its answer was lost, and every lookup for it fails: the job must
    not look forever (nor re-POST blindly); it gives up within a bound and says why."""
    bot = await make_bot(W3IPFS_UPLOAD_TIMEOUT="1")
    bot.w3ipfs.inject("store_then_500", path="/pinning/", method="POST")
    bot.w3ipfs.inject("503", count=10_000, path="/pinning/pins", method="GET")
    fake = bot.slack.add_file("unlookable.bin", b"stored, answer lost" * 100)
    started = time.monotonic()
    await share(bot, fake)
    assert time.monotonic() - started < 20
    assert len(bot.w3ipfs.api_requests("POST", "/pinning/")) == 1  # never a blind re-POST
    shown = text_of(reply_in_thread(bot, fake))
    assert "Could not pin" in shown and "could not check" in shown
    assert "Traceback" not in shown and "503" not in shown
    assert await bot.services.job_store.counts() == {}
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}")
    assert record is not None and record.state == "failed"


async def test_a_job_whose_ledger_row_was_deleted_ends(make_bot: BotFactory) -> None:
    """An admin deletes a pin's ledger row while its status is still followed: the job stops
    (one log line), instead of pausing and retrying as if the database were down, forever."""
    bot = await make_bot(PINBOT_STATUS_POLL_INTERVAL="0.2", PINBOT_JOB_LEASE="2s")
    bot.w3ipfs.pinning_reads = 10_000
    fake = bot.slack.add_file("orphan.txt", b"my row will vanish")
    await bot.driver.file_shared(fake)
    await bot.eventually(lambda: any("still pinning" in text_of(m)
                                     for m in bot.slack.thread(fake.channel, fake.ts)))
    async with bot.services.ledger.sessions.begin() as session:
        await session.execute(delete(PinRow).where(PinRow.team_id == bot.slack.team_id))
    await bot.idle(timeout=10)
    assert await bot.services.job_store.counts() == {}


async def test_a_pin_unpinned_while_followed_stays_unpinned(make_bot: BotFactory) -> None:
    """Unpinned while the service still said "pinning"; the next status read fails: the job
    must not write its stale "pinning" pin back, which marked the unpinned pin pinned again."""
    bot = await make_bot(PINBOT_STATUS_POLL_INTERVAL="60")
    bot.w3ipfs.pinning_reads = 10_000
    fake = bot.slack.add_file("short-lived.txt", b"pinned, then unpinned at once")
    await bot.driver.file_shared(fake)
    await bot.eventually(lambda: any("still pinning" in text_of(m)
                                     for m in bot.slack.thread(fake.channel, fake.ts)))
    (pin,) = bot.w3ipfs.all_pins()
    await unpin_by_command(bot, pin["id"])
    bot.w3ipfs.inject("503", count=10_000, path=f"/pinning/{pin['id']}", method="GET")
    async with bot.services.ledger.sessions.begin() as session:  # the follow-up is due now
        await session.execute(update(JobRow).values(run_after=utcnow()))
    await bot.idle(timeout=10)
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}")
    assert record is not None and record.state == "unpinned"
    assert await bot.services.job_store.counts() == {}


async def test_a_refused_card_is_posted_later_not_dropped(bot: Bot) -> None:
    """chat.postMessage rate-limited past the SDK's retries when the card is posted: the job
    tries again later (the file is pinned, the card shows it) instead of ending silently."""
    bot.slack.rate_limit_next["chat.postMessage"] = 4  # the first post and its 3 retries
    data = b"shared in a busy minute\n" * 50
    fake = bot.slack.add_file("busy.txt", data)
    await share(bot, fake)
    await bot.eventually(lambda: any(cid_v1_of(data) in text_of(m) for m in bot.slack.thread(
        fake.channel, fake.ts)), timeout=15)
    await bot.idle()
    assert len(bot.slack.thread(fake.channel, fake.ts)) == 1  # one card
    assert len(bot.w3ipfs.all_pins()) == 1


async def test_a_card_never_posted_is_told_to_the_person(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack keeps refusing the card: after the retries the person who shared is told,
    privately, that the file was not pinned (nothing uploaded, no claim left behind)."""
    monkeypatch.setattr(share_module, "CARD_RETRY_DELAYS", (0.1, 0.1))
    bot.slack.rate_limit_next["chat.postMessage"] = 10_000
    fake = bot.slack.add_file("refused.txt", b"never shown")
    await share(bot, fake)
    told = [c.args for c in bot.slack.calls if c.method == "chat.postEphemeral"]
    assert len(told) == 1 and told[0]["user"] == "UALICE"
    assert "could not post in this channel" in str(told[0]) and "refused.txt" in str(told[0])
    assert bot.w3ipfs.all_pins() == []
    assert await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}") is None


async def test_a_429_storm_ends_in_a_clear_failure(bot: Bot) -> None:
    """The service answers every upload with 429: the job waits as asked (its slot given
    back), but a bounded number of times, then says why; it does not retry forever."""
    bot.w3ipfs.inject("429", count=10_000, path="/pinning/", method="POST", retry_after="0")
    fake = bot.slack.add_file("throttled.txt", b"always too many requests")
    await share(bot, fake)
    shown = text_of(reply_in_thread(bot, fake))
    assert "Could not pin" in shown and "slow down" in shown
    posts = len(bot.w3ipfs.api_requests("POST", "/pinning/"))
    assert posts <= 4 * 4  # (W3IPFS_MAX_RETRIES + 1) runs of (the client's retries + 1)
    assert await bot.services.job_store.counts() == {}
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}")
    assert record is not None and record.state == "failed"


async def test_a_429_asking_for_hours_is_answered_now(bot: Bot) -> None:
    """Retry-After: 2 hours. The person is told now, not left with "Pinning…" for hours."""
    bot.w3ipfs.inject("429", count=10, path="/pinning/", method="POST", retry_after="7200")
    fake = bot.slack.add_file("later.txt", b"come back in two hours")
    started = time.monotonic()
    await share(bot, fake)
    assert time.monotonic() - started < 5
    assert len(bot.w3ipfs.api_requests("POST", "/pinning/")) == 1
    shown = text_of(reply_in_thread(bot, fake))
    assert "Could not pin" in shown and "slow down" in shown


async def test_catch_up_past_the_listing_cap_loses_no_file(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More files were shared while pinbot was down than one files.list pass may page
    through (here 2 pages of 2): all are pinned, once, and a second pass adds nothing.
    Before, the oldest were skipped and the watermark moved past them for good."""
    bot = await make_bot(PINBOT_CATCHUP_INTERVAL="0")  # no pass of its own: this test's
    monkeypatch.setattr(slack_files, "LIST_PAGE", 2)
    monkeypatch.setattr(slack_files, "LIST_MAX_PAGES", 2)
    team = bot.slack.team_id
    now = utcnow()
    await bot.services.intake.watermarks.get_or_start(team, now)
    async with bot.services.ledger.sessions.begin() as session:  # pinbot ran an hour ago
        await session.execute(update(WorkspaceStateRow).where(
            WorkspaceStateRow.team_id == team).values(
                first_seen=now - timedelta(hours=1), caught_up_at=now - timedelta(hours=1)))
    missed = [bot.slack.add_file(f"missed-{i}.txt", f"missed while down {i}".encode(),
                                 created=now.timestamp() - 1800 + 60 * i) for i in range(7)]
    assert await bot.services.catchup.run_once() == len(missed)
    await bot.idle()
    for fake in missed:
        (card,) = bot.slack.thread(fake.channel, fake.ts)
        assert cid_v1_of(fake.content()) in text_of(card), fake.name
    assert await bot.services.catchup.run_once() == 0
    assert len(bot.w3ipfs.all_pins()) == len(missed)


async def test_a_passing_files_info_failure_is_retried_not_refused(bot: Bot) -> None:
    """files.info rate-limited past the SDK's retries: the job asks again later and pins,
    instead of telling the person "pinbot could not read the file"."""
    bot.slack.rate_limit_next["files.info"] = 4
    data = b"read me a little later\n" * 20
    fake = bot.slack.add_file("later.txt", data)
    await share(bot, fake)
    await bot.eventually(lambda: any(cid_v1_of(data) in text_of(m) for m in bot.slack.thread(
        fake.channel, fake.ts)), timeout=15)
    assert not bot.slack.calls_to("chat.postEphemeral")


async def test_a_file_deleted_before_the_resume_fails_on_its_card(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload's answer was lost, and the file is deleted before the retry: the card
    says so (one card, no "Pinning…" left), the claim is released for nobody to wait on."""
    bot.w3ipfs.inject("reset", path="/pinning/", method="POST")
    bot.w3ipfs.inject("503", count=1, path="/pinning/pins", method="GET")
    fake = bot.slack.add_file("gone.txt", b"deleted between two attempts")

    async def upload_then_delete(*args: object, **kwargs: object) -> object:
        outcome = await upload(*args, **kwargs)  # type: ignore[arg-type]
        fake.deleted = True
        return outcome

    monkeypatch.setattr(share_module, "upload", upload_then_delete)
    await share(bot, fake)
    (card,) = bot.slack.thread(fake.channel, fake.ts)
    shown = text_of(card)
    assert "Could not pin" in shown and "deleted" in shown
    assert await bot.services.job_store.counts() == {}
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}")
    assert record is not None and record.state == "failed"


async def test_a_pin_that_fails_after_pinning_is_not_recorded_as_pinned(
    make_bot: BotFactory,
) -> None:
    """The service said "pinning", then "failed": the ledger must not call it pinned (a
    re-share would be told "Already pinned" and never pinned again); the card says so."""
    bot = await make_bot(PINBOT_STATUS_POLL_INTERVAL="0.2")
    bot.w3ipfs.pinning_reads = 10_000
    data = b"the service will give up on me"
    fake = bot.slack.add_file("fails-later.txt", data)
    await bot.driver.file_shared(fake)
    await bot.eventually(lambda: any("still pinning" in text_of(m)
                                     for m in bot.slack.thread(fake.channel, fake.ts)))
    (pin,) = bot.w3ipfs.all_pins()
    pin["status"] = pin["sub_hash_status"] = "FAILED"
    await bot.idle()
    (card,) = bot.slack.thread(fake.channel, fake.ts)
    shown = text_of(card)
    assert "FAILED" in shown and "still pinning" not in shown
    assert "share it again" in shown.lower()
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}")
    assert record is not None and record.state == "failed"
    assert bot.slack.reactions[(fake.channel, fake.ts)] == {"x"}
    bot.w3ipfs.pinning_reads = 0
    ts = bot.slack.share_again(fake, fake.channel)  # shared again: pinned this time
    await share(bot, fake)
    (again,) = bot.slack.thread(fake.channel, ts)
    assert cid_v1_of(data) in text_of(again) and "Already pinned" not in text_of(again)
    assert len(bot.w3ipfs.api_requests("POST", "/pinning/")) == 2


async def test_pin_cid_the_service_fails_is_not_recorded_as_pinned(bot: Bot) -> None:
    """`/pin CID` answered with status FAILED: told so, and the next `/pin CID` tries again
    instead of "the team already has this CID"."""
    cid = VECTORS[0][2]
    bot.w3ipfs.initial_status = "FAILED"
    first = await bot.driver.command("/pin", cid)
    (card,) = await responded(bot, first.response_url)
    assert "Could not pin" in text_of(card) and "FAILED" in text_of(card)
    bot.w3ipfs.initial_status = "DONE"
    again = await bot.driver.command("/pin", cid)
    (card2,) = await responded(bot, again.response_url)
    assert "already has" not in text_of(card2) and "Could not pin" not in text_of(card2)
    assert [p["status"] for p in bot.w3ipfs.all_pins()] == ["FAILED", "DONE"]
    record = await bot.services.ledger.get(bot.slack.team_id, f"cid:{cid}")
    assert record is not None and record.state == "pinned"


async def test_pin_cid_by_two_users_at_once_is_one_pin(bot: Bot) -> None:
    """Two people `/pin` the same CID at the same moment: one pin at the service, both
    answered (one with the pin, the other pointed at it)."""
    cid = VECTORS[0][2]
    sent = await asyncio.gather(bot.driver.command("/pin", cid, user="UALICE"),
                                bot.driver.command("/pin", cid, user="UBOB"))
    answers = [await asyncio.wait_for(responded(bot, s.response_url), 15) for s in sent]
    await bot.idle()
    assert len(bot.w3ipfs.all_pins()) == 1
    for (answer,) in answers:
        assert cid in text_of(answer)
    assert sum("already has" in text_of(a) for (a,) in answers) == 1


async def test_share_reactions_and_shortcut_at_once_one_upload_one_card(bot: Bot) -> None:
    """The share event, two 📌 reactions and the shortcut on the same message, all at once,
    the upload slow: one upload, one card in the thread; every person who asked is told."""
    bot.w3ipfs.throttle_upload = 0.2
    data = b"everybody wants this pinned\n" * 3000
    fake = bot.slack.add_file("popular.pdf", data)
    sent = await asyncio.gather(
        bot.driver.file_shared(fake),
        bot.driver.event(reaction(fake.channel, fake.ts, user="UBOB")),
        bot.driver.event(reaction(fake.channel, fake.ts, user="UCAROL")),
        bot.driver.message_shortcut("pin_to_ipfs", fake.channel, fake.ts, user="UDAVE"),
    )
    assert all(s.response.status_code == 200 for s in sent)
    await bot.idle()
    assert len(bot.w3ipfs.api_requests("POST", "/pinning/")) == 1
    (card,) = bot.slack.thread(fake.channel, fake.ts)
    assert cid_v1_of(data) in text_of(card)
    told = {n["user"]: text_of(n) for n in bot.slack.ephemeral}
    shortcut = [text_of(m) for m in await responded(bot, sent[3].response_url)]
    assert "Pinning *popular.pdf*" in shortcut[0]
    # Whoever's request won is on the card; each other person who asked is told privately
    # where the pin is (the automatic share of the same message adds nothing).
    others = [u for u in ("UBOB", "UCAROL", "UDAVE") if f"<@{u}>" not in text_of(card)]
    for user in others:
        assert "Already pinned" in told[user] or "is being pinned" in told[user], user
    assert len(told) == len(others)


async def test_odd_long_values_from_the_service_are_recorded(bot: Bot) -> None:
    """A service answering with a status and a pin id longer than the ledger's columns: the
    pin is recorded (values cut to fit) on every database, not retried as an outage forever."""
    bot.w3ipfs.initial_status = "DONE" + "_AND_THEN_SOME" * 20
    data = b"odd answers"
    fake = bot.slack.add_file("odd.txt", data)
    await share(bot, fake)
    shown = text_of(reply_in_thread(bot, fake))
    assert cid_v1_of(data) in shown
    assert await bot.services.job_store.counts() == {}
    record = await bot.services.ledger.get(bot.slack.team_id, f"file:{fake.id}")
    assert record is not None and record.state == "pinned"


async def test_a_very_long_file_name_still_gets_its_card(bot: Bot) -> None:
    """A 5,000-character file name (Slack allows long names): every message pinbot sends
    stays within Block Kit's limits, so the card is posted and updated with the CID."""
    data = b"a long name for a short file"
    fake = bot.slack.add_file("n" * 5000 + ".txt", data)
    await share(bot, fake)
    card = reply_in_thread(bot, fake)
    assert cid_v1_of(data) in text_of(card)
    assert all(len(text_of(step)) < 40_000 for step in card["history"])


async def test_a_claim_left_by_a_job_that_ended_is_taken_over(bot: Bot) -> None:
    """The file's ledger claim belongs to a job that no longer runs (set aside, dropped with
    its workspace): the next share takes the claim over within seconds, instead of saying
    "being pinned" for the two hours a claim takes to go stale."""
    data = b"claimed by a job that is gone"
    fake = bot.slack.add_file("abandoned.txt", data)
    await bot.services.ledger.claim(
        bot.slack.team_id, f"file:{fake.id}", name=fake.name, channel_id="C0RANDOM",
        user_id="UBOB", slack_file_id=fake.id, message_ts="1700000000.000001",
        owner="job:424242")
    await share(bot, fake)
    await bot.eventually(lambda: any(cid_v1_of(data) in text_of(m) for m in bot.slack.thread(
        fake.channel, fake.ts)), timeout=15)
    (card,) = bot.slack.thread(fake.channel, fake.ts)
    assert "Already pinned" not in text_of(card)
    assert len(bot.w3ipfs.all_pins()) == 1

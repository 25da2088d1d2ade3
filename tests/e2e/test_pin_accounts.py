"""Each pin remembers the pinning account it was made with, and is acted on only there.

A workspace pins with its own keys (account A), then an admin switches it to other keys
(account B) with `/pin setup`. Promises attacked: the pins made in A are not "gone" — the
audit (`pinbot audit`, text and `--json`, exit 0) reports them apart and the sweep corrects
neither their rows nor their cards; `/unpin`, the card's Unpin button and App Home answer
(only to the person) that they were made with keys no longer used, and send no DELETE to
either account (the pin stays pinned in A, the ledger unchanged); retention leaves them
pinned; a pin made after the switch is stamped with B and unpins normally; a cleanup skips
the old pins and says why; deleting the keys is the same as replacing them; switching back
to A unpins the old pin in A.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.blocks import (
    CLEANUP_CONFIRM,
    CLEANUP_MODAL,
    HOME_ROW_MENU,
    KEYS_MODAL,
    UNPIN_BUTTON,
    UNPIN_CONFIRM,
    UNPIN_MODAL,
)
from bot.jobs.sweeper import SWEEP
from bot.store.ledger import utcnow
from bot.store.models import PinRow
from tests.conftest import API_KEY
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_audit import FAST, env_for, rows
from tests.e2e.test_audit_attacks import sweep_once
from tests.e2e.test_cleanup import values
from tests.e2e.test_cli import pinbot
from tests.e2e.test_commands import find_action, responded
from tests.e2e.test_ledger import share_and_wait
from tests.e2e.test_retention_sweep import change, passes, set_retention
from tests.e2e.test_shared_files import text_of
from tests.e2e.test_workspace_keys import FERNET, OTHER_KEY, OTHER_SECRET, keys, setup_keys

A_KEY, A_SECRET = OTHER_KEY, OTHER_SECRET
B_KEY, B_SECRET = "second-own-api-key-7171", "second-own-secret-3333"
KEYS_GONE = "made with pinning keys this workspace no longer uses"


def fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


async def two_account_bot(make_bot: BotFactory, **env: str) -> Bot:
    """A bot whose workspace pins with its own keys A; keys B open another account."""
    bot = await make_bot(PINBOT_ENCRYPTION_KEY=FERNET, **{**FAST, **env})
    bot.w3ipfs.accounts[A_KEY] = A_SECRET
    bot.w3ipfs.accounts[B_KEY] = B_SECRET
    bot.slack.add_user("UALICE")
    assert (await setup_keys(bot)).body["response_action"] == "update"
    return bot


async def switch_to_b(bot: Bot) -> None:
    saved = await bot.driver.view_submission(KEYS_MODAL, user="UADMIN",
                                             values=keys(B_KEY, B_SECRET))
    assert saved.body["response_action"] == "update" and "`7171`" in saved.response.text


def snapshot(row: PinRow) -> tuple[Any, ...]:
    """What the audit, retention or an unpin would change in a row."""
    return (row.state, row.status, row.unpin_reason, row.unpinned_at, row.unpinned_by,
            row.error, row.account)


def card_text(bot: Bot, card: dict[str, Any]) -> str:
    return text_of(bot.slack.thread(card["channel"], card["thread_ts"])[0])


def pinned_in(bot: Bot, api_key: str, pin_id: str | None) -> bool:
    (pin,) = [p for p in bot.w3ipfs.all_pins(api_key) if p["id"] == pin_id]
    return bool(pin["pinned"])


async def test_pins_of_replaced_keys_are_left_in_their_account(
    make_bot: BotFactory, database_url: str, tmp_path: Path,
) -> None:
    bot = await two_account_bot(make_bot, PINBOT_ADMIN_USERS="UADMIN")
    card = await share_and_wait(bot, "in-a.txt", b"pinned into account A")
    old = (await rows(bot))["in-a.txt"]
    assert old.state == "pinned" and old.account == fingerprint(A_KEY)
    await switch_to_b(bot)
    fresh = await share_and_wait(bot, "in-b.txt", b"pinned into account B")
    new = (await rows(bot))["in-b.txt"]
    assert new.account == fingerprint(B_KEY)  # stamped with the keys it was made with
    assert [p["metadata"]["name"] for p in bot.w3ipfs.all_pins(B_KEY)] == ["in-b.txt"]
    before, shown = snapshot(old), card_text(bot, card)

    # The audit: not drift, not gone; said apart, and how many.
    env = env_for(bot, database_url) | {"PINBOT_ENCRYPTION_KEY": FERNET}
    human = await pinbot("audit", env=env, cwd=tmp_path)
    assert human.code == 0, human.out + human.err
    assert not any(line.startswith("gone") for line in human.out.splitlines())
    assert "checked 1 pin in 1 workspace: no drift; 1 pin in an account no longer " \
           "configured" in human.out
    (line,) = [x for x in human.out.splitlines() if "'in-a.txt'" in x]
    assert line.startswith("elsewhere") and old.pin_id in line
    as_json = await pinbot("audit", "--json", env=env, cwd=tmp_path)
    assert as_json.code == 0, as_json.err
    doc = as_json.json()
    assert isinstance(doc, dict) and doc["ok"] is True and doc["drift"] == []
    assert [(e["pin_id"], e["account"]) for e in doc["elsewhere"]] == [
        (old.pin_id, fingerprint(A_KEY))]
    for secret in (A_KEY, A_SECRET, B_KEY, B_SECRET):
        assert secret not in human.out + human.err + as_json.out + as_json.err

    # The sweep (another process of the deployment): neither the row nor the card changes.
    await sweep_once(bot, await make_bot(PINBOT_SWEEP_INTERVAL="1",
                                         PINBOT_ENCRYPTION_KEY=FERNET, **FAST))
    state = await bot.services.sweeper.leases.state(SWEEP)
    assert state is not None and "1 elsewhere" in (state.last_result or "")
    assert snapshot((await rows(bot))["in-a.txt"]) == before
    assert card_text(bot, card) == shown and "Gone from" not in shown

    # `/unpin` and the card's button: a friendly no, nothing sent, nothing recorded.
    sent = await bot.driver.command("/unpin", old.pin_id or "", user="UALICE")
    (answer,) = await responded(bot, sent.response_url)
    assert KEYS_GONE in text_of(answer) and "/pin setup" in text_of(answer)
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    button = find_action(bot.slack.thread(card["channel"], card["thread_ts"])[0], UNPIN_BUTTON)
    click = await bot.driver.action(UNPIN_BUTTON, value=button["value"], ephemeral=False,
                                    message_ts=card["ts"], user="UALICE")
    (no,) = await responded(bot, click.response_url)
    assert no["response_type"] == "ephemeral" and no["replace_original"] is False
    assert KEYS_GONE in text_of(no)
    # App Home: the row's Unpin says so at once; a submitted unpin modal sends nothing.
    await bot.driver.action(HOME_ROW_MENU, selected_value=f"unpin:{old.pin_id}", user="UALICE")
    await bot.idle()
    home = bot.slack.calls_to("views.open")[-1].args["view"]
    assert home.get("callback_id") != UNPIN_MODAL and KEYS_GONE in json.dumps(home)
    await bot.driver.view_submission(UNPIN_MODAL, private_metadata=old.pin_id or "",
                                     user="UALICE")
    await bot.idle()
    assert bot.w3ipfs.api_requests("DELETE") == []
    assert pinned_in(bot, A_KEY, old.pin_id)
    assert snapshot((await rows(bot))["in-a.txt"]) == before

    # The pin made with B unpins normally, in B.
    mine = find_action(bot.slack.thread(fresh["channel"], fresh["thread_ts"])[0], UNPIN_BUTTON)
    done = await bot.driver.action(UNPIN_BUTTON, value=mine["value"], ephemeral=False,
                                   message_ts=fresh["ts"], user="UALICE")
    (updated,) = await responded(bot, done.response_url)
    assert "Unpinned by <@UALICE>" in text_of(updated)
    assert not pinned_in(bot, B_KEY, new.pin_id) and pinned_in(bot, A_KEY, old.pin_id)

    # Back to keys A: the old pin unpins where it is.
    assert (await setup_keys(bot)).body["response_action"] == "update"
    again = await bot.driver.command("/unpin", old.pin_id or "", user="UALICE")
    (confirm,) = await responded(bot, again.response_url)
    assert "Unpin this pin?" in text_of(confirm)
    button = find_action(confirm, UNPIN_CONFIRM)
    clicked = await bot.driver.action(UNPIN_CONFIRM, value=button["value"], user="UALICE")
    (result,) = await responded(bot, clicked.response_url)
    assert "Unpinned" in text_of(result)
    assert not pinned_in(bot, A_KEY, old.pin_id)
    assert [r.path for r in bot.w3ipfs.api_requests("DELETE")] == [
        f"/pinning/unpin/{new.pin_id}", f"/pinning/unpin/{old.pin_id}"]
    after = (await rows(bot))["in-a.txt"]
    assert (after.state, after.unpin_reason, after.unpinned_by) == ("unpinned", "user", "UALICE")


async def test_deleted_keys_leave_their_pins_alone(make_bot: BotFactory) -> None:
    bot = await two_account_bot(make_bot, PINBOT_ADMIN_USERS="UADMIN")
    await share_and_wait(bot, "in-a.txt", b"pinned into account A")
    old = (await rows(bot))["in-a.txt"]
    assert await bot.services.accounts.keys.delete(bot.slack.team_id)
    bot.services.accounts.forget(bot.slack.team_id)  # the workspace is on the env keys now
    sent = await bot.driver.command("/unpin", old.pin_id or "", user="UALICE")
    (answer,) = await responded(bot, sent.response_url)
    assert KEYS_GONE in text_of(answer)
    assert bot.w3ipfs.api_requests("DELETE") == [] and pinned_in(bot, A_KEY, old.pin_id)
    assert snapshot((await rows(bot))["in-a.txt"]) == snapshot(old)


async def test_retention_leaves_a_pin_of_replaced_keys_pinned(make_bot: BotFactory) -> None:
    bot = await two_account_bot(make_bot, PINBOT_SWEEP_INTERVAL="1s",
                                PINBOT_ADMIN_USERS="UADMIN")
    await set_retention(bot, "C0GENERAL", "1h")
    card = await share_and_wait(bot, "expiring.txt", b"under a one-hour policy")
    old = (await rows(bot))["expiring.txt"]
    assert old.expires_at is not None and old.account == fingerprint(A_KEY)
    await switch_to_b(bot)
    record = await bot.services.ledger.by_row_id(old.id)
    assert record is not None
    await change(bot, record, expires_at=utcnow() - timedelta(minutes=1))
    before, shown = snapshot((await rows(bot))["expiring.txt"]), card_text(bot, card)
    await passes(bot, 2)
    state = await bot.services.sweeper.leases.state(SWEEP)
    assert state is not None and "elsewhere" in (state.last_result or "")
    assert bot.w3ipfs.api_requests("DELETE") == [] and pinned_in(bot, A_KEY, old.pin_id)
    assert snapshot((await rows(bot))["expiring.txt"]) == before
    assert card_text(bot, card) == shown

    # With keys A back, retention unpins it in A.
    assert (await setup_keys(bot)).body["response_action"] == "update"
    await passes(bot, 2)
    assert not pinned_in(bot, A_KEY, old.pin_id)
    after = (await rows(bot))["expiring.txt"]
    assert (after.state, after.unpin_reason) == ("unpinned", "retention")


async def test_cleanup_skips_pins_of_replaced_keys_and_says_why(make_bot: BotFactory) -> None:
    bot = await two_account_bot(make_bot, PINBOT_ADMIN_USERS="UADMIN")
    await share_and_wait(bot, "clean-a.txt", b"pinned into account A")
    old = (await rows(bot))["clean-a.txt"]
    await switch_to_b(bot)
    await share_and_wait(bot, "clean-b.txt", b"pinned into account B")
    new = (await rows(bot))["clean-b.txt"]
    preview = await bot.driver.view_submission(CLEANUP_MODAL, user="UADMIN",
                                               values=values(name="clean-"))
    view = preview.body["view"]
    assert preview.body["response_action"] == "update" and "*2 pins*" in json.dumps(view)
    await bot.driver.view_submission(CLEANUP_CONFIRM, user="UADMIN",
                                     private_metadata=view["private_metadata"])
    await bot.idle()
    (report,) = bot.slack.bot_messages("UADMIN")
    shown = text_of(report)
    assert "Cleanup finished" in shown and "1 unpinned" in shown, shown
    assert f"1 skipped: {KEYS_GONE}" in shown
    assert [r.path for r in bot.w3ipfs.api_requests("DELETE")] == [
        f"/pinning/unpin/{new.pin_id}"]
    assert pinned_in(bot, A_KEY, old.pin_id) and not pinned_in(bot, B_KEY, new.pin_id)
    assert snapshot((await rows(bot))["clean-a.txt"]) == snapshot(old)


ROTATED_KEY, ROTATED_SECRET = "w3ipfs-api-key-rotated-5151", "w3ipfs-secret-rotated-9090"


async def test_rotated_keys_of_the_same_account_keep_their_pins(make_bot: BotFactory) -> None:
    """The operator rotates W3IPFS_API_KEY (a new key of the same account) and restarts: the
    pins made with the old key are in the account in use, so `/unpin` and retention still
    act on them (the rows then carry the new key's fingerprint). Were they "keys no longer
    used", nobody could ever unpin them from Slack: the old key is revoked."""
    first = await make_bot(PINBOT_ADMIN_USERS="UADMIN")
    await share_and_wait(first, "kept.txt", b"made with the old environment key")
    await share_and_wait(first, "due.txt", b"expires after the rotation")
    old = (await rows(first))["kept.txt"]
    due = (await rows(first))["due.txt"]
    assert old.account == fingerprint(API_KEY)
    # A second key of the same account: the service answers it with the same pins.
    first.w3ipfs.accounts[ROTATED_KEY] = ROTATED_SECRET
    first.w3ipfs.pins[ROTATED_KEY] = first.w3ipfs.pins[API_KEY]
    del first.w3ipfs.accounts[API_KEY]  # revoked
    bot = await make_bot(**FAST, PINBOT_SWEEP_INTERVAL="1",
                         W3IPFS_API_KEY=ROTATED_KEY, W3IPFS_SECRET_KEY=ROTATED_SECRET)

    sent = await bot.driver.command("/unpin", old.pin_id or "", user="UALICE")
    (confirm,) = await responded(bot, sent.response_url)
    assert "Unpin this pin?" in text_of(confirm), text_of(confirm)
    button = find_action(confirm, UNPIN_CONFIRM)
    clicked = await bot.driver.action(UNPIN_CONFIRM, value=button["value"], user="UALICE")
    (result,) = await responded(bot, clicked.response_url)
    assert "Unpinned" in text_of(result)
    assert not pinned_in(bot, ROTATED_KEY, old.pin_id)
    assert (await rows(bot))["kept.txt"].state == "unpinned"
    assert (await rows(bot))["due.txt"].account == fingerprint(ROTATED_KEY)

    await change(bot, due, expires_at=utcnow() - timedelta(minutes=1),
                 retention_seconds=3600)
    await sweep_once(first, bot)  # the old process is gone: the new one sweeps
    assert not pinned_in(bot, ROTATED_KEY, due.pin_id)
    after = (await rows(bot))["due.txt"]
    assert (after.state, after.unpin_reason) == ("unpinned", "retention")


async def test_no_expiry_notice_for_a_pin_retention_will_leave(make_bot: BotFactory) -> None:
    """The 24-hour notice says the pin "will be unpinned": for a pin made with keys the
    workspace no longer uses, retention leaves it pinned, so the notice would be untrue."""
    bot = await two_account_bot(make_bot, PINBOT_SWEEP_INTERVAL="1s",
                                PINBOT_ADMIN_USERS="UADMIN")
    await set_retention(bot, "C0GENERAL", "1h")
    card = await share_and_wait(bot, "soon.txt", b"under a one-hour policy")
    old = (await rows(bot))["soon.txt"]
    await switch_to_b(bot)
    await change(bot, old, expires_at=utcnow() + timedelta(hours=2), noticed_at=None,
                 retention_seconds=7 * 86400)
    await passes(bot, 2)
    said = [text_of(m) for m in bot.slack.thread(card["channel"], card["thread_ts"])]
    assert not any("will be unpinned" in s for s in said), said
    state = await bot.services.sweeper.leases.state(SWEEP)
    assert state is not None and "elsewhere" in (state.last_result or "")


async def test_one_pin_gone_from_a_rotated_account_does_not_hide_the_others(
    make_bot: BotFactory,
) -> None:
    """After a rotation, the first pin of the old key looked for may be one removed at the
    service meanwhile: its 404 must not make every other pin of that key "elsewhere"."""
    first = await make_bot(PINBOT_ADMIN_USERS="UADMIN")
    await share_and_wait(first, "removed.txt", b"removed at the service")
    await share_and_wait(first, "live.txt", b"still there")
    removed, live = (await rows(first))["removed.txt"], (await rows(first))["live.txt"]
    first.w3ipfs.accounts[ROTATED_KEY] = ROTATED_SECRET
    first.w3ipfs.pins[API_KEY][:] = [p for p in first.w3ipfs.pins[API_KEY]
                                     if p["id"] != removed.pin_id]
    first.w3ipfs.pins[ROTATED_KEY] = first.w3ipfs.pins[API_KEY]
    del first.w3ipfs.accounts[API_KEY]
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN", W3IPFS_API_KEY=ROTATED_KEY,
                         W3IPFS_SECRET_KEY=ROTATED_SECRET)
    gone = await bot.driver.command("/unpin", removed.pin_id or "", user="UALICE")
    await responded(bot, gone.response_url)
    sent = await bot.driver.command("/unpin", live.pin_id or "", user="UALICE")
    (confirm,) = await responded(bot, sent.response_url)
    assert "Unpin this pin?" in text_of(confirm), text_of(confirm)

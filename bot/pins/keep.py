"""Keep: `/pin keep <pin id>`, `/pin unkeep <pin id>` and the Keep button on cards and notices.

A kept pin is exempt from retention (the sweep skips it; `--apply-to-existing` leaves it
alone). The pin's owner (the ledger's `user_id`) or an admin may keep or unkeep it. Ids come
from commands and buttons, so they may be forged: only this workspace's ledger is asked, and a
pin of another workspace is answered exactly like an id that does not exist. After a change
the pin's card (the ledger's `reply_ts` in its channel) is drawn again, showing "Kept by …" or
the expiry and Keep button; pressing Keep twice changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_sdk.web.async_client import AsyncWebClient

from .. import blocks
from ..cid import InvalidCIDError, parse_cid
from ..ids import is_slack_id
from ..permissions import Admins
from ..slack.replies import update
from ..store import Ledger, PinRecord
from ..store.expiries import Expiries
from ..store.ledger import utcnow
from ..units import policy_duration

log = logging.getLogger(__name__)

#: team id -> the gateway base for that workspace's links.
GatewayFor = Callable[[str], Awaitable[str]]


def unknown(pin_id: str) -> blocks.Message:
    """The one answer for an id that is unknown, not a pin any more in the ledger, or another
    workspace's."""
    return blocks.notice(f"No pin with id `{blocks.inline_name(pin_id, 80)}` in this "
                         "workspace. `/pins` lists them.", emoji=":grey_question:")


class Keeping:
    def __init__(self, ledger: Ledger, expiries: Expiries, admins: Admins,
                 gateway_for: GatewayFor) -> None:
        self.ledger = ledger
        self.expiries = expiries
        self.admins = admins
        self.gateway_for = gateway_for

    async def keep(self, client: AsyncWebClient, team: str, user: str, pin_id: str,
                   keep: bool) -> blocks.Message:
        """Keep (or unkeep) one pin; the answer for the person who asked. Raises
        `LedgerUnavailable`."""
        record = await self.ledger.by_pin_id(team, pin_id)
        if record is None:
            return await self._not_a_pin_id(team, pin_id, keep)
        name = f"*{blocks.inline_name(record.name or pin_id, 200)}*"
        if record.state != "pinned":
            return blocks.notice(f"{name} is not pinned any more, so there is nothing to "
                                 f"{'keep' if keep else 'unkeep'}.", emoji=":wastebasket:")
        if record.user_id != user and not await self.admins.is_admin(client, team, user):
            owner = (f"<@{record.user_id}> (who pinned {name})"
                     if is_slack_id(record.user_id) else "the person who pinned it")
            return blocks.notice(f"Only {owner} or an admin can {'keep' if keep else 'unkeep'} "
                                 "it.", emoji=":no_entry:")
        changed, now = await self.expiries.set_kept(team, pin_id, keep, user)
        if now is None:  # unpinned between the two reads
            return blocks.notice(f"{name} is not pinned any more, so there is nothing to "
                                 f"{'keep' if keep else 'unkeep'}.", emoji=":wastebasket:")
        if keep and not changed and not now.kept:
            # The sweep holds it for its retention unpin: the service is being asked now.
            return blocks.notice(f"{name} is past its expiry and is being unpinned by this "
                                 "channel's retention policy right now, so it can no longer "
                                 "be kept. Share the file again to pin it again.",
                                 emoji=":hourglass:")
        if changed:
            log.info("pin %s of %s %s by %s", pin_id, team, "kept" if keep else "unkept", user)
            await self._redraw(client, now)
        return _answer(now, name, keep, changed)

    async def _not_a_pin_id(self, team: str, text: str, keep: bool) -> blocks.Message:
        """No pin has this id. A CID (what cards show most) is a common mistake: name the
        pin id of this workspace's pin of it, if there is one, rather than "no pin"."""
        try:
            cid = parse_cid(text).text
        except InvalidCIDError:
            return unknown(text)
        verb = "keep" if keep else "unkeep"
        shown = blocks.inline_name(text, 80)
        record = await self.ledger.find_pinned_cid(team, cid)
        if record is None or not record.pin_id:
            return blocks.notice(f"`{shown}` is a CID, not a pin id, and no pin of it is "
                                 f"pinned in this workspace. `/pins` shows pin ids.",
                                 emoji=":grey_question:")
        pin_id = blocks.inline_name(record.pin_id, 80)
        name = blocks.inline_name(record.name or pin_id, 200)
        return blocks.notice(f"`{shown}` is a CID, not a pin id. This workspace's pin of it "
                             f"is *{name}*: `/pin {verb} {pin_id}`.", emoji=":point_right:")

    async def _redraw(self, client: AsyncWebClient, record: PinRecord) -> None:
        """Draw the pin's card again from the ledger, if it has one in a channel (a `/pin CID`
        answer is ephemeral: nothing to update)."""
        if not (record.channel_id and record.reply_ts and record.pin_id):
            return
        card = blocks.pin_card(
            record.as_pin(), gateway_url=await self.gateway_for(record.team_id),
            file_name=record.name, size=record.size, shared_by=record.user_id,
            verified=record.verified, retention=record)
        await update(client, record.channel_id, record.reply_ts, card)


def _answer(record: PinRecord, name: str, keep: bool, changed: bool) -> blocks.Message:
    pin_id = blocks.inline_name(record.pin_id or "", 80)
    if keep:
        if not changed:
            by = f" by <@{record.kept_by}>" if is_slack_id(record.kept_by) else ""
            return blocks.notice(f"{name} is already kept{by}.", emoji=":pushpin:")
        return blocks.notice(f"Kept {name}: retention will not unpin it. "
                             f"`/pin unkeep {pin_id}` undoes this.", emoji=":pushpin:")
    if not changed:
        return blocks.notice(f"{name} is not kept.")
    expires = record.expires_at
    if expires is None:
        then = "it has no expiry."
    elif expires > utcnow():
        policy = (f"{policy_duration(record.retention_seconds)} "
                  if record.retention_seconds else "")
        then = (f"it will be unpinned on {blocks.slack_date(expires)} by this channel's "
                f"{policy}policy.")
    else:
        then = "it is past its expiry and will be unpinned at the next sweep."
    return blocks.notice(f"{name} is no longer kept: {then} `/pin keep {pin_id}` keeps it "
                         "again.", emoji=":hourglass:")

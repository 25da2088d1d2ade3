"""`/pin retention`: a channel's retention policy — shown to anyone, changed by admins.

A policy applies to pins made after it was set: `Ledger.claim` stamps each new pin's expiry
from it. Changing it (90d -> 30d, or on for the first time) leaves the expiry already stamped
on existing pins as it was, unless the admin asks `--apply-to-existing`: a preview first says
how many pins and bytes that touches and how many are already past the new duration, and
Confirm (checked again: an admin, a well-formed channel and duration) stamps
`created_at + duration` on the channel's pinned, not-kept pins. `off` stops future expiries
and clears the pending ones.
"""

from __future__ import annotations

import json
import logging

from slack_sdk.web.async_client import AsyncWebClient

from .. import blocks
from ..format import human_size
from ..ids import is_slack_id
from ..permissions import Admins
from ..store.expiries import Expiries
from ..store.policies import ChannelPolicies
from ..units import policy_duration, spoken_duration

log = logging.getLogger(__name__)

_UNITS = ((7 * 86400, "w"), (86400, "d"), (3600, "h"), (60, "m"), (1, "s"))
HINT = "Admins change it with `/pin retention 90d` or `/pin retention off`."


class NotAdmin(Exception):
    """Only admins change a channel's retention (the sentence says so)."""


def typed(seconds: int) -> str:
    """A duration as one would type it back into `/pin retention` (`30d`, `36h`, `5s`)."""
    for unit, letter in _UNITS:
        if seconds % unit == 0:
            return f"{seconds // unit}{letter}"
    return f"{seconds}s"


def _plural(count: int, noun: str = "pin") -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class ChannelRetention:
    def __init__(self, policies: ChannelPolicies, expiries: Expiries, admins: Admins,
                 default_retention: float | None) -> None:
        self.policies = policies
        self.expiries = expiries
        self.admins = admins
        #: PINBOT_RETENTION: what channels without a policy of their own follow.
        self.default_retention = int(default_retention) if default_retention else None

    async def _require_admin(self, client: AsyncWebClient, team: str, user: str) -> None:
        if not await self.admins.is_admin(client, team, user):
            raise NotAdmin("Only admins (workspace admins, or users in PINBOT_ADMIN_USERS) can "
                           "change a channel's retention. `/pin retention` shows it.")

    async def show(self, team: str, channel: str) -> blocks.Message:
        """The channel's own policy, else the workspace default, else none. Raises
        `LedgerUnavailable`."""
        policy = await self.policies.get(team, channel)
        own = policy.retention_seconds if policy is not None else None
        by = (f", set by <@{policy.updated_by}>"
              if policy is not None and is_slack_id(policy.updated_by) else "")
        default = self.default_retention
        if own:
            text = (f"Pins made in <#{channel}> are unpinned after *{spoken_duration(own)}* "
                    f"(this channel's policy{by}).")
        elif own == 0:
            text = (f"Retention is *off* in <#{channel}> (this channel's policy{by}): pins stay "
                    "pinned until someone unpins them.")
            if default:
                text += f" The workspace default is {spoken_duration(default)}."
        elif default:
            text = (f"Pins made in <#{channel}> are unpinned after *{spoken_duration(default)}* "
                    "(the workspace default, PINBOT_RETENTION).")
        else:
            text = (f"Retention is *off* in <#{channel}>: pins stay pinned until someone "
                    "unpins them.")
        return blocks.notice(f"{text} {HINT} `/pin keep <pin id>` exempts one pin.",
                             emoji=":hourglass:" if own or (own is None and default)
                             else ":pushpin:")

    async def change(self, client: AsyncWebClient, team: str, channel: str, user: str,
                     seconds: int) -> blocks.Message:
        """Set the policy for pins made from now on (`seconds` 0: off, which also clears the
        pending expiries). Raises `NotAdmin`, `LedgerUnavailable`."""
        await self._require_admin(client, team, user)
        await self.policies.set(team, channel, user, retention_seconds=seconds)
        log.info("retention %s in %s/%s by %s", seconds or "off", team, channel, user)
        if seconds == 0:
            cleared, due = await self.expiries.clear(team, channel)
            text = (f"Retention is now *off* in <#{channel}>: pins stay pinned until someone "
                    "unpins them.")
            if cleared:
                text += (f" Cleared the pending expiry of {_plural(cleared)}"
                         + (f" ({due} of them already due)." if due else "."))
            return blocks.notice(text, emoji=":pushpin:")
        touched = await self.expiries.preview(team, channel, seconds)
        text = (f"Pins made in <#{channel}> from now on are unpinned after "
                f"*{spoken_duration(seconds)}*.")
        if touched.pins:
            text += (f" The {_plural(touched.pins)} already here keep the expiry they had; "
                     f"`/pin retention {typed(seconds)} --apply-to-existing` applies this "
                     "policy to them too (after a preview).")
        return blocks.notice(text, emoji=":hourglass:")

    async def preview(self, client: AsyncWebClient, team: str, channel: str, user: str,
                      seconds: int) -> blocks.Message:
        """What `--apply-to-existing` would touch, with Confirm / Cancel. Nothing changes
        yet. Raises `NotAdmin`, `LedgerUnavailable`."""
        await self._require_admin(client, team, user)
        touched = await self.expiries.preview(team, channel, seconds)
        if not touched.pins:
            await self.policies.set(team, channel, user, retention_seconds=seconds)
            return blocks.notice(
                f"There are no pins in <#{channel}> to apply it to"
                + (f" ({_plural(touched.kept, 'kept pin')} stay as they are)"
                   if touched.kept else "")
                + f". Pins made here from now on are unpinned after "
                  f"*{spoken_duration(seconds)}*.", emoji=":hourglass:")
        value = json.dumps({"c": channel, "s": seconds}, separators=(",", ":"))
        return blocks.retention_preview(channel, seconds, pins=touched.pins, size=touched.size,
                                        due=touched.due, kept=touched.kept, value=value)

    async def apply(self, client: AsyncWebClient, team: str, channel: str, user: str,
                    seconds: int) -> blocks.Message:
        """Confirm: set the policy and stamp the channel's existing pins. `channel` and
        `seconds` come from a button (parsed by `bot.ids`); the clicker must be an admin now.
        Raises `NotAdmin`, `LedgerUnavailable`."""
        await self._require_admin(client, team, user)
        await self.policies.set(team, channel, user, retention_seconds=seconds)
        touched = await self.expiries.preview(team, channel, seconds)
        stamped = await self.expiries.apply(team, channel, seconds)
        log.info("retention %ss applied to %d existing pins in %s/%s by %s", seconds, stamped,
                 team, channel, user)
        due = min(touched.due, stamped)
        return blocks.notice(
            f"<#{channel}> now keeps pins for *{spoken_duration(seconds)}* (the "
            f"{policy_duration(seconds)} policy), applied to the {_plural(stamped)} "
            f"({human_size(touched.size)}) already here"
            + (f"; {due} of them will be unpinned at the next sweep." if due else ".")
            + f" Set by <@{user}>.", emoji=":white_check_mark:")

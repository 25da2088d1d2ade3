"""`/pin quota [<size>|off]` and "your use" in App Home: a channel's quota, a person's use.

Anyone may ask what the channel's quota is and how much they have used themselves; only
admins (workspace admins, or users in PINBOT_ADMIN_USERS) may change it. The check itself runs
in the pinning use cases (`bot.quotas`), right after their ledger claim.
"""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from .. import blocks
from ..permissions import Admins
from ..quotas import Quotas, QuotaUse
from ..store import LedgerUnavailable
from ..store.policies import ChannelPolicies

log = logging.getLogger(__name__)


class ChannelQuotas:
    def __init__(self, quotas: Quotas, policies: ChannelPolicies, admins: Admins) -> None:
        self.quotas = quotas
        self.policies = policies
        self.admins = admins

    async def show(self, team: str, user: str, channel: str) -> blocks.Message:
        """The channel's quota and the asking person's own use (anyone may ask)."""
        try:
            here = await self.quotas.channel_use(team, channel)
            mine = await self.quotas.user_use(team, user)
        except LedgerUnavailable as exc:
            return blocks.failure("Could not read the quota", exc.user_message)
        return blocks.quota_status(channel, here, mine)

    async def change(self, client: AsyncWebClient, team: str, user: str, channel: str,
                     limit: int | None) -> blocks.Message:
        """Set (a number of bytes) or remove (None) the channel's quota: admins only."""
        if not await self.admins.is_admin(client, team, user):
            return blocks.notice("Only admins (workspace admins, or users in "
                                 "PINBOT_ADMIN_USERS) can change a channel's quota. "
                                 "`/pin quota` shows it.", emoji=":no_entry:")
        try:
            await self.policies.set(team, channel, user, quota_bytes=limit)
        except LedgerUnavailable as exc:
            return blocks.failure("Could not change the quota", exc.user_message)
        log.info("quota in %s/%s set to %s by %s", team, channel, limit, user)
        return blocks.quota_changed(channel, limit)

    async def home_use(self, team: str, user: str) -> QuotaUse | None:
        """A person's use for App Home; None (the line is left out) when the database is down."""
        try:
            return await self.quotas.user_use(team, user)
        except LedgerUnavailable as exc:
            log.info("home without the person's use: %s", exc)
            return None

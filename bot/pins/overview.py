"""App Home for admins: how the workspace uses its pinning account, and what will go.

This month's use (files, bytes, the channels and people behind most of the bytes), each
channel's retention and quota next to the workspace defaults, and the pins retention will unpin
within 7 days: what an admin needs to see that the account looks after itself. Only admins get
it (workspace admins and owners, `PINBOT_ADMIN_USERS`): it names other people's files and use.
Each part degrades on its own when the database does not answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from slack_sdk.web.async_client import AsyncWebClient

from .. import blocks
from ..permissions import Admins
from ..store import LedgerUnavailable
from ..store.policies import ChannelPolicies
from ..store.stats import WorkspaceStats

log = logging.getLogger(__name__)

T = TypeVar("T")


class TeamOverview:
    def __init__(self, stats: WorkspaceStats, policies: ChannelPolicies, admins: Admins, *,
                 default_retention: float | None, quota_user_bytes: int | None) -> None:
        self.stats = stats
        self.policies = policies
        self.admins = admins
        self.default_retention = default_retention
        self.quota_user_bytes = quota_user_bytes

    async def for_admin(self, client: AsyncWebClient, team_id: str,
                        user_id: str) -> blocks.AdminOverview | None:
        """The admin sections of App Home; None for anyone who is not an admin."""
        if not team_id or not await self.admins.is_admin(client, team_id, user_id):
            return None
        return blocks.AdminOverview(
            use=await _or_none(self.stats.month_use(team_id), "this month's use"),
            policies=await _or_none(self.policies.all(team_id), "channel policies"),
            default_retention=self.default_retention,
            quota_user_bytes=self.quota_user_bytes,
            expiring=await _or_none(self.stats.expiring(team_id), "expiring pins"),
        )


async def _or_none(work: Awaitable[T], what: str) -> T | None:
    try:
        return await work
    except LedgerUnavailable as exc:
        log.info("home without %s: %s", what, exc)
        return None

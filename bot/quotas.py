"""Quotas: how many bytes a person, or a channel, may pin per rolling 30 days.

Checked from Slack's `files.info` size before any download, on every way a file gets pinned
(share, reaction, shortcut, folder, catch-up). The check runs right *after* the ledger claim:
the claimed row, pending, already holds the file's size, so two files racing for the last
megabytes both see each other's claim. Each counts only the claims made before its own (row
ids grow with every claim), so the earlier one gets the space and the later one is refused;
never both. A claim that takes over an older row (a failed pin tried again) keeps that row's
id, so it counts every other claim instead. A refused claim is marked failed at once, which
gives its space back.

Two limits, each checked: `PINBOT_QUOTA_USER_MB` per person (the settings), and an admin's
`/pin quota` per channel (`channel_policies.quota_bytes`). The refusal says which one, what
is used, and when enough of the counted pins leave the 30-day window for this file to fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from .store.ledger import utcnow
from .store.policies import ChannelPolicies
from .store.usage import Counted, Usage

#: The rolling window every quota is counted over.
WINDOW = timedelta(days=30)

Which = Literal["user", "channel"]


@dataclass(frozen=True, slots=True)
class QuotaRefusal:
    """A file that would take a person (or a channel) over its quota."""

    which: Which
    #: The file's name (a folder's name for "Pin as folder"): someone's text, escape it.
    name: str
    size: int
    limit: int
    #: Bytes counted before this file (its own claim excluded).
    used: int
    #: When enough counted pins leave the window for the file to fit; None when the file
    #: alone is larger than the quota (it never fits).
    frees_at: datetime | None
    user_id: str
    channel_id: str


@dataclass(frozen=True, slots=True)
class QuotaUse:
    """Bytes counted over the window, and the limit (None: unlimited)."""

    used: int
    limit: int | None


def frees_up_at(counted: Sequence[Counted], *, size: int, limit: int,
                now: datetime, window: timedelta = WINDOW) -> datetime | None:
    """The earliest moment `size` more bytes fit under `limit`, as counted pins age out.

    A pin stops counting `window` after it was made, so walk them oldest first until the
    bytes they free cover the excess; None when the file alone is larger than the limit.
    """
    if size > limit:
        return None
    excess = sum(c.size for c in counted) + size - limit
    if excess <= 0:
        return now
    freed = 0
    for pin in sorted(counted, key=lambda c: (c.created_at, c.row_id)):
        freed += pin.size
        if freed >= excess:
            return max(now, pin.created_at + window)
    return None  # unreachable while size <= limit: every counted pin leaving frees `used`


class Quotas:
    """The quota check each pinning use case runs after its ledger claim."""

    def __init__(self, usage: Usage, policies: ChannelPolicies, user_limit: int | None,
                 *, window: timedelta = WINDOW) -> None:
        self.usage = usage
        self.policies = policies
        #: PINBOT_QUOTA_USER_MB in bytes; None is unlimited.
        self.user_limit = user_limit
        self.window = window

    async def check(self, team_id: str, user_id: str, channel_id: str, *, row_id: int,
                    size: int | None, name: str, claimed_at: datetime) -> QuotaRefusal | None:
        """None when the claimed row `row_id` fits both quotas; else the first it breaks.

        Raises `LedgerUnavailable` (the job waits for the database, like its claim does).
        """
        if self.user_limit is not None and user_id:
            refusal = await self._one("user", self.user_limit, team_id, user_id, channel_id,
                                      row_id, size or 0, name, claimed_at)
            if refusal is not None:
                return refusal
        limit = await self.channel_limit(team_id, channel_id)
        if limit is not None:
            return await self._one("channel", limit, team_id, user_id, channel_id, row_id,
                                   size or 0, name, claimed_at)
        return None

    async def channel_limit(self, team_id: str, channel_id: str) -> int | None:
        if not channel_id:
            return None
        policy = await self.policies.get(team_id, channel_id)
        return policy.quota_bytes if policy is not None and policy.quota_bytes else None

    async def _one(self, which: Which, limit: int, team_id: str, user_id: str,
                   channel_id: str, row_id: int, size: int, name: str,
                   claimed_at: datetime) -> QuotaRefusal | None:
        now = utcnow()
        counted = await self.usage.counted(
            team_id, now - self.window,
            user_id=user_id if which == "user" else None,
            channel_id=channel_id if which == "channel" else None,
            claimed_before=(claimed_at, row_id), excluding_row=row_id)
        used = sum(c.size for c in counted)
        if used + size <= limit:
            return None
        return QuotaRefusal(which, name, size, limit, used,
                            frees_up_at(counted, size=size, limit=limit, now=now,
                                        window=self.window), user_id, channel_id)

    async def user_use(self, team_id: str, user_id: str) -> QuotaUse:
        """A person's bytes over the window (for `/pin quota` and App Home)."""
        used = await self.usage.used(team_id, utcnow() - self.window, user_id=user_id)
        return QuotaUse(used, self.user_limit)

    async def channel_use(self, team_id: str, channel_id: str) -> QuotaUse:
        used = await self.usage.used(team_id, utcnow() - self.window, channel_id=channel_id)
        return QuotaUse(used, await self.channel_limit(team_id, channel_id))

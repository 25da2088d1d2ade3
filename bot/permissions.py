"""Who may unpin: the person who pinned, and admins.

Admins are the user ids in `PINBOT_ADMIN_USERS` plus the workspace's admins and owners
(`users.info`, cached: it is asked on every unpin click and Slack rate-limits it).
Pins the ledger does not know (made outside Slack) can be unpinned by admins only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from .store import PinRecord

log = logging.getLogger(__name__)


def unpin_refusal(
    record: PinRecord | None, user_id: str, *, is_admin: bool, name: str
) -> str | None:
    """None when `user_id` may unpin; otherwise a polite sentence naming who can (mrkdwn)."""
    if is_admin:
        return None
    if record is None or not record.user_id:
        return (
            f"*{name}* was pinned outside Slack, so only an admin can unpin it "
            "(workspace admins, or users in PINBOT_ADMIN_USERS)."
        )
    if record.user_id == user_id:
        return None
    return f"Only <@{record.user_id}> (who pinned *{name}*) or an admin can unpin it."


class Admins:
    def __init__(self, configured: Sequence[str], ttl: float = 600.0) -> None:
        self.configured = {u.strip().upper() for u in configured if u.strip()}
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, bool]] = {}

    async def is_admin(self, client: AsyncWebClient, team_id: str, user_id: str) -> bool:
        if user_id.upper() in self.configured:
            return True
        key = (team_id, user_id)
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        try:
            response = await client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning("users.info %s failed: %s", user_id, exc.response.get("error"))
            return False  # not cached: a transient failure should not stick for ten minutes
        user = response.get("user") or {}
        admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        self._cache[key] = (time.monotonic(), admin)
        return admin

"""Who may see a pin, and who may unpin it.

Seeing: in OAuth mode, workspaces without keys of their own share the environment's pinning
account, so "on the account" does not mean "ours". A workspace's own pins are those in its
ledger or whose metadata keyvalues carry its `slack_team`; the rest of a shared account is
invisible to it, and an invisible pin is answered exactly like an id that does not exist.
Only when the account is the workspace's alone (its own keys, or single-workspace mode) is
everything on it — including pins with no workspace mark, made outside Slack — its own.

Unpinning: the person who pinned, and admins. Admins are the user ids in
`PINBOT_ADMIN_USERS` plus the workspace's admins and owners (`users.info`, cached: it is asked
on every unpin click and Slack rate-limits it). Pins the ledger does not know (made outside
Slack) can be unpinned by admins only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from .pins.accounts import Accounts
from .store import PinRecord
from .w3ipfs import Pin

log = logging.getLogger(__name__)

#: The metadata keyvalue every pin made from Slack carries: the workspace it belongs to.
TEAM_KEY = "slack_team"


def team_mark(pin: Pin) -> str | None:
    """The workspace a pin's keyvalues name, if any (a non-string value counts as none)."""
    value = (pin.metadata.keyvalues or {}).get(TEAM_KEY)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class Scope:
    """What one workspace may see of the pinning account it uses."""

    team_id: str
    #: The account is the workspace's alone: its own keys, or single-workspace mode.
    whole_account: bool

    def owns(self, pin: Pin, *, in_ledger: bool) -> bool:
        """Whether `pin` is this workspace's own: in its ledger, or marked with its team.

        On a shared account a pin with no mark (made outside Slack) or another team's mark
        is not; when the whole account is the workspace's, every pin is.
        """
        if self.whole_account or in_ledger:
            return True
        return bool(self.team_id) and team_mark(pin) == self.team_id

    @property
    def metadata_filter(self) -> dict[str, str]:
        """The listing filter that selects this workspace's pins ({} for the whole account)."""
        return {} if self.whole_account else {TEAM_KEY: self.team_id}


class Scopes:
    """Decides, per request, whether a workspace shares its pinning account."""

    def __init__(self, accounts: Accounts, *, multi_workspace: bool) -> None:
        self.accounts = accounts
        #: OAuth distribution: several workspaces may share the environment's account.
        self.multi_workspace = multi_workspace

    async def scope(self, team_id: str) -> Scope:
        """Raises `W3IPFSError` when the workspace's stored keys cannot be decrypted, and
        `LedgerUnavailable` when they cannot be read."""
        if not self.multi_workspace:
            return Scope(team_id, whole_account=True)
        return Scope(team_id, whole_account=await self.accounts.uses_own_keys(team_id))


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

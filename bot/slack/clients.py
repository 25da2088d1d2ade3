"""Slack Web API clients: one per workspace, for work that runs outside a request (jobs).

Requests get their client from Bolt; a job may run in another process, minutes later, after a
restart — so it asks here for the workspace's client: `SLACK_BOT_TOKEN` in single-workspace
mode, the installation's (rotated ahead of expiry) in OAuth mode.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from ..settings import Settings

log = logging.getLogger(__name__)


def create_slack_client(settings: Settings, token: str | None = None) -> AsyncWebClient:
    """The Web API client: honours SLACK_API_URL and waits out 429s (Retry-After).

    Single-workspace mode uses SLACK_BOT_TOKEN; in OAuth mode Bolt makes one per request with
    the installing workspace's token (same base URL and retry handlers).
    """
    if token is None and settings.slack_bot_token is not None:
        token = settings.slack_bot_token.get_secret_value()
    client = AsyncWebClient(token=token, base_url=settings.slack_api_url)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    return client


#: Bolt refreshes a rotating token two hours ahead of expiry; a job does the same, but never
#: refreshes a token in the first half of its life (one Bolt may have just refreshed).
REFRESH_AHEAD = 7200.0
FORCE = 10**6  # minutes: "refresh now" for slack_sdk's rotator, once we decided to


def _expiring(expires_at: float | None, issued_at: float | None) -> bool:
    if not expires_at:
        return False
    lifetime = expires_at - (issued_at or expires_at - 2 * REFRESH_AHEAD)
    return expires_at - time.time() < min(REFRESH_AHEAD, max(0.0, lifetime) / 2)


@dataclass(frozen=True, slots=True)
class Workspace:
    """A workspace as a job acts in it: its client, and the bot's own user id there."""

    team_id: str
    client: AsyncWebClient
    bot_user_id: str | None


class SlackClients:
    def __init__(
        self, settings: Settings, installations: AsyncSQLAlchemyInstallationStore | None
    ) -> None:
        self.settings = settings
        self.installations = installations
        self._default = create_slack_client(settings)
        self._bot_user_id: str | None = None
        self._team_id: str | None = None

    @property
    def default(self) -> AsyncWebClient:
        return self._default

    async def home_team(self) -> str | None:
        """Single-workspace mode: the workspace SLACK_BOT_TOKEN belongs to (auth.test)."""
        if self.installations is not None:
            return None
        await self._identify()
        return self._team_id

    async def _identify(self) -> None:
        if self._team_id is not None:
            return
        try:
            who = await self._default.auth_test()
        except SlackApiError as exc:
            log.warning("auth.test failed: %s", exc.response.get("error"))
            return
        self._bot_user_id = who.get("user_id")
        self._team_id = who.get("team_id")

    async def teams(self) -> list[str]:
        """Every workspace pinbot serves (for catch-up)."""
        if self.installations is None:
            team = await self.home_team()
            return [team] if team else []
        return await installed_teams(self.installations)

    async def workspace(self, team_id: str) -> Workspace | None:
        """The client to act in `team_id` with; None when pinbot is not installed there."""
        if self.installations is None:
            await self._identify()
            return Workspace(team_id, self._default, self._bot_user_id)
        bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            return None
        if (bot.bot_refresh_token and self.settings.slack_client_secret is not None
                and _expiring(bot.bot_token_expires_at, bot.installed_at)):
            # Rotating tokens: refresh ahead of expiry, as Bolt does for requests.
            assert self.settings.slack_client_id is not None
            rotator = AsyncTokenRotator(
                client_id=self.settings.slack_client_id,
                client_secret=self.settings.slack_client_secret.get_secret_value(),
                client=create_slack_client(self.settings),
            )
            refreshed = await rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=FORCE)
            if refreshed is not None:
                await self.installations.async_save_bot(refreshed)
                bot = refreshed
        return Workspace(team_id, create_slack_client(self.settings, bot.bot_token),
                         bot.bot_user_id)


async def installed_teams(installations: AsyncSQLAlchemyInstallationStore) -> list[str]:
    """Team ids with a bot installation (slack_sdk's table, read directly: it has no lister)."""
    table = installations.bots
    async with installations.engine.connect() as conn:
        rows = (await conn.execute(
            select(table.c.team_id).where(table.c.client_id == installations.client_id)
            .distinct())).all()
    return [str(r[0]) for r in rows if r[0]]
